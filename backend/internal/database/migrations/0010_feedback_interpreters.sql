-- Patient feedback after a consultation, and interpreter organisations
-- with their interpreter requests (packages consultation, consultationapi).
--
-- Sealed columns follow 0006: AAD "<table>.<column>:<id>", listed in
-- keyrotation.Columns.

-- Ratings counted into the anonymous statistics row: no participant or
-- consultation id there. consultations.stats_id links a consultation to
-- its statistics row while the consultation exists, so that a rating
-- given after the close lands in the right row; the link adds nothing the
-- consultation row does not already say, and goes with it.
ALTER TABLE consultation_stats
    ADD COLUMN feedback_good integer NOT NULL DEFAULT 0 CHECK (feedback_good >= 0),
    ADD COLUMN feedback_ok   integer NOT NULL DEFAULT 0 CHECK (feedback_ok >= 0),
    ADD COLUMN feedback_bad  integer NOT NULL DEFAULT 0 CHECK (feedback_bad >= 0);

ALTER TABLE consultations
    ADD COLUMN stats_id uuid REFERENCES consultation_stats (id) ON DELETE SET NULL;

-- One feedback token per participant: the participant session ends when
-- the consultation closes, so the participant app receives this token
-- with its participant reads (each read replaces the token) and posts the
-- feedback with it after the close. Only the SHA-256 of the token is
-- kept; the row goes when it is used or 24 h after the close.
CREATE TABLE feedback_tokens (
    participant_id  uuid        PRIMARY KEY REFERENCES participants (id) ON DELETE CASCADE,
    consultation_id uuid        NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    token_hash      bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at      timestamptz NOT NULL
);

CREATE INDEX feedback_tokens_consultation ON feedback_tokens (consultation_id);

-- One feedback per participant; the comment is sealed and shown to the
-- consultation's staff in its history.
CREATE TABLE consultation_feedback (
    id              uuid        PRIMARY KEY,
    consultation_id uuid        NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    participant_id  uuid        NOT NULL UNIQUE REFERENCES participants (id) ON DELETE CASCADE,
    rating          text        NOT NULL CHECK (rating IN ('good', 'ok', 'bad')),
    comment_sealed  bytea,
    created_at      timestamptz NOT NULL
);

CREATE INDEX consultation_feedback_consultation ON consultation_feedback (consultation_id);

-- Interpreter organisations: interpreters outside the system, reached by
-- e-mail. languages are BCP 47 tags; contact_email_sealed and
-- members_sealed (a JSON array of e-mail addresses) are personal data of
-- the interpreters, so sealed.
CREATE TABLE interpreter_organisations (
    id                   uuid        PRIMARY KEY,
    name                 text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- name lower-cased by the backend (Unicode rules, whatever the
    -- database's locale: lower() under the C locale leaves É alone).
    name_key             text        NOT NULL,
    languages            text[]      NOT NULL CHECK (cardinality(languages) BETWEEN 1 AND 50),
    contact_email_sealed bytea,
    members_sealed       bytea       NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);

CREATE UNIQUE INDEX interpreter_organisations_name_key ON interpreter_organisations (name_key);

-- A doctor's request for an interpreter of an organisation in a language:
-- every member is mailed a one-time accept link (interpreter_request_links,
-- tokens kept hashed); the first to accept gets an interpreter invite
-- (invite_id) and the request is accepted; at expires_at an open request
-- expires.
CREATE TABLE interpreter_requests (
    id              uuid        PRIMARY KEY,
    consultation_id uuid        NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    organisation_id uuid        REFERENCES interpreter_organisations (id) ON DELETE SET NULL,
    language        text        NOT NULL CHECK (language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$'),
    requested_by    uuid        NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    status          text        NOT NULL CHECK (status IN ('open', 'accepted', 'expired')),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL CHECK (expires_at > created_at),
    accepted_at     timestamptz,
    invite_id       uuid        REFERENCES invites (id) ON DELETE SET NULL,
    CHECK ((status = 'accepted') = (accepted_at IS NOT NULL))
);

CREATE INDEX interpreter_requests_open ON interpreter_requests (expires_at) WHERE status = 'open';
CREATE INDEX interpreter_requests_consultation ON interpreter_requests (consultation_id);

CREATE TABLE interpreter_request_links (
    id           uuid  PRIMARY KEY,
    request_id   uuid  NOT NULL REFERENCES interpreter_requests (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    email_sealed bytea NOT NULL
);

CREATE INDEX interpreter_request_links_request ON interpreter_request_links (request_id);
