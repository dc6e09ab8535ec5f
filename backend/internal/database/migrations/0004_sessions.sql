-- Staff sign-in: server-side sessions, sign-in throttling, TOTP second
-- factor and recovery codes (package signin).
--
-- Sessions: the browser holds a 256-bit random token; only its SHA-256 is
-- stored, so a database dump cannot be replayed as a cookie. A session at
-- level 'password' has passed the first factor only and may be used for
-- nothing but completing or enrolling the second factor; 'full' is signed
-- in. Revoked rows are kept (revoked_at, revoke_reason) until the purge so
-- that a revoked token is refused as such rather than as unknown.
CREATE TABLE sessions (
    id_hash       bytea       PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level         text        NOT NULL CHECK (level IN ('password', 'full')),
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    -- absolute expiry; the idle timeout is applied to last_seen_at by the
    -- application, whose clock is the reference.
    expires_at    timestamptz NOT NULL,
    client_ip     inet,
    user_agent    text        CHECK (length(user_agent) <= 256),
    revoked_at    timestamptz,
    revoke_reason text        CHECK (revoke_reason ~ '^[a-z_]{1,64}$'),
    CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);

CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Failed sign-in attempts per key: "account:<hex SHA-256 of the normalised
-- e-mail>" (hashed so that mistyped or made-up addresses are not kept in
-- clear), "ip:<address>" and "factor:<user id>". See package signin for the
-- thresholds and the back-off.
CREATE TABLE signin_throttle (
    key             text        PRIMARY KEY CHECK (length(key) <= 128),
    failures        integer     NOT NULL CHECK (failures >= 0),
    last_failure_at timestamptz NOT NULL,
    next_allowed_at timestamptz NOT NULL
);

CREATE INDEX signin_throttle_last_failure ON signin_throttle (last_failure_at);

-- TOTP (RFC 6238) secrets, sealed with the data key (AAD
-- "totp.secret:<user id>"). confirmed_at is NULL while the enrolment is
-- pending: the factor counts only once the user has proven one code.
-- last_used_step is the highest time step accepted so far; a code of that
-- step or an earlier one is a replay and is refused.
--
-- Passkeys (WebAuthn) will get their own table keyed by credential ID; a
-- user "has a second factor" when either holds a confirmed row (one query
-- in package signin, hasSecondFactor).
CREATE TABLE totp_factors (
    user_id        uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed  bytea       NOT NULL,
    created_at     timestamptz NOT NULL,
    confirmed_at   timestamptz,
    last_used_step bigint      NOT NULL DEFAULT 0
);

-- Single-use recovery codes: SHA-256 of the normalised code (80 random
-- bits each, so a fast hash is enough: no dictionary to try).
CREATE TABLE recovery_codes (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea       NOT NULL CHECK (octet_length(code_hash) = 32),
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
