-- Staff accounts. Patients, guests, interpreters and experts are not
-- accounts: they are invite-based participants (their own migration).
--
-- Personal fields (names, phone) are sealed with the data key (package
-- sealed; AAD "users.<column>:<id>"), so they are unreadable in a dump.
-- The email stays in clear, lower-cased: it is the sign-in identifier and
-- must be unique; it is personal data, so it never goes into logs or the
-- audit trail (the audit trail names users by id).
CREATE TABLE users (
	id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	email              text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
	first_name_sealed  bytea NOT NULL,
	last_name_sealed   bytea NOT NULL,
	phone_sealed       bytea,
	language           text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$'),
	role               text NOT NULL CHECK (role IN ('admin', 'doctor', 'nurse', 'scheduler')),
	status             text NOT NULL CHECK (status IN ('active', 'pending_approval', 'disabled')),
	all_queues         boolean NOT NULL DEFAULT false,
	-- argon2id in PHC string form; NULL until the user sets a password
	-- through their setup link.
	password_hash      text,
	terms_version      text,
	created_at         timestamptz NOT NULL DEFAULT now(),
	updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_role_status ON users (role, status);

-- API keys for machine clients (scheduler accounts, integrations). The key
-- is hcw_<prefix>_<43 base64url characters>: 256 random bits, so a single
-- SHA-256 is enough (no slow hash needed against guessing). Only the hash
-- is kept; the prefix finds the row and is shown in lists. role is the
-- key's scope.
CREATE TABLE api_keys (
	id           uuid PRIMARY KEY,
	user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	prefix       text NOT NULL CHECK (prefix ~ '^[a-z0-9]{8}$'),
	key_hash     bytea NOT NULL CHECK (octet_length(key_hash) = 32),
	role         text NOT NULL CHECK (role IN ('admin', 'doctor', 'nurse', 'scheduler')),
	created_at   timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz,
	revoked_at   timestamptz
);

CREATE UNIQUE INDEX api_keys_prefix_key ON api_keys (prefix);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- One-time tokens behind setup and password-reset links. The token is 256
-- random bits handed out once; only its SHA-256 is kept. Issuing a new
-- token deletes the user's unused ones of the same purpose; used ones stay
-- so that a second use is told apart from a wrong link.
CREATE TABLE user_tokens (
	token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
	user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	purpose    text NOT NULL CHECK (purpose IN ('setup', 'reset')),
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
	used_at    timestamptz
);

CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);
