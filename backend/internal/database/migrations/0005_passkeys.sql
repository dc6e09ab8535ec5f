-- Passkeys (WebAuthn credentials) as a second factor for staff, next to
-- TOTP (package signin, passkey.go). A user "has a second factor" when
-- totp_factors holds a confirmed row or this table holds any row.
--
-- A passkey is bound to the relying party ID it was created under, which is
-- the host name of the app it was registered on (doctor or admin host): one
-- registered on the doctor app works on the doctor app only.
--
-- Public keys are stored plain: they are public by nature, and the sign-in
-- proof is the private key that never leaves the authenticator. sign_count
-- is the authenticator's signature counter (0 for authenticators without
-- one); a non-zero counter that does not grow refuses the sign-in.
CREATE TABLE webauthn_credentials (
    id               bytea       PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 1023),
    user_id          uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    public_key       bytea       NOT NULL CHECK (octet_length(public_key) <= 4096),
    attestation_type text        NOT NULL CHECK (length(attestation_type) <= 32),
    aaguid           bytea       CHECK (octet_length(aaguid) = 16),
    sign_count       bigint      NOT NULL DEFAULT 0 CHECK (sign_count BETWEEN 0 AND 4294967295),
    transports       text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(transports) <= 16),
    backup_eligible  boolean     NOT NULL,
    backup_state     boolean     NOT NULL,
    -- the user's label, e.g. "work laptop"
    name             text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    created_at       timestamptz NOT NULL,
    last_used_at     timestamptz
);

CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

-- In-flight ceremonies: go-webauthn's SessionData (the challenge, the RP
-- ID, the allowed credentials) between the options and the response. One
-- per session and purpose; a new one replaces the old; taking it deletes
-- it, so a challenge answers once. They expire after 5 minutes and go with
-- their session.
CREATE TABLE webauthn_sessions (
    session_id_hash bytea       NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
    purpose         text        NOT NULL CHECK (purpose IN ('register', 'login')),
    data            jsonb       NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (session_id_hash, purpose)
);

CREATE INDEX webauthn_sessions_expires ON webauthn_sessions (expires_at);
