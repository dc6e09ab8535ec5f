-- Queues, consultations, invite-based participants, invites, participant
-- sessions and the redemption throttle (packages consultation and
-- consultationapi).
--
-- Nothing here holds health data or names in clear: participant names and
-- every contact detail, note and integrator metadata of an invite are
-- sealed with the data key (package sealed; AAD "<table>.<column>:<id>",
-- the column named without _sealed) and listed in keyrotation.Columns.

CREATE TABLE queues (
    id                  uuid        PRIMARY KEY,
    name                text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    show_estimated_time boolean     NOT NULL DEFAULT false,
    ask_feedback        boolean     NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE UNIQUE INDEX queues_name_key ON queues (lower(name));

-- Staff (doctors and nurses) who see a queue; users.all_queues sees every
-- queue without rows here.
CREATE TABLE queue_members (
    queue_id uuid NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (queue_id, user_id)
);

CREATE INDEX queue_members_user ON queue_members (user_id);

-- A consultation is created with its first invite, in status 'invited'
-- (in no queue view); redeeming the patient's invite moves it to
-- 'pending' (waiting in its queue or for its named doctor), a doctor
-- accepting to 'active', closing to 'closed'. Exactly one of queue_id and
-- doctor_id is set at creation (a transfer, later, may set both).
CREATE TABLE consultations (
    id              uuid        PRIMARY KEY,
    queue_id        uuid        REFERENCES queues (id) ON DELETE RESTRICT,
    doctor_id       uuid        REFERENCES users (id) ON DELETE RESTRICT,
    status          text        NOT NULL CHECK (status IN ('invited', 'pending', 'active', 'closed')),
    created_by_type text        NOT NULL CHECK (created_by_type IN ('user', 'api_key')),
    created_by_id   uuid        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    pending_at      timestamptz,
    closed_at       timestamptz,
    CHECK (queue_id IS NOT NULL OR doctor_id IS NOT NULL),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);

CREATE INDEX consultations_queue_status ON consultations (queue_id, status) WHERE queue_id IS NOT NULL;
CREATE INDEX consultations_doctor_status ON consultations (doctor_id, status) WHERE doctor_id IS NOT NULL;

-- People without an account, in one consultation only.
CREATE TABLE participants (
    id                uuid        PRIMARY KEY,
    consultation_id   uuid        NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    role              text        NOT NULL CHECK (role IN ('patient', 'guest', 'interpreter', 'expert')),
    first_name_sealed bytea       NOT NULL,
    last_name_sealed  bytea       NOT NULL,
    language          text        NOT NULL CHECK (language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$'),
    created_at        timestamptz NOT NULL
);

CREATE INDEX participants_consultation ON participants (consultation_id);

-- One link handed to one participant. The token (256 random bits) is shown
-- once; only its SHA-256 is kept. A resend makes a new row (new token) and
-- revokes the old one. delivery_error is a short code, never an address or
-- a relay's text. metadata_sealed is the integrator's JSON object (at most
-- 4 KiB), sealed because nobody can promise it holds no health data.
CREATE TABLE invites (
    id              uuid        PRIMARY KEY,
    consultation_id uuid        NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    participant_id  uuid        NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    token_hash      bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    role            text        NOT NULL CHECK (role IN ('patient', 'guest', 'interpreter', 'expert')),
    status          text        NOT NULL CHECK (status IN ('created', 'sent', 'delivery_failed', 'opened', 'redeemed', 'expired', 'revoked')),
    delivery        text        NOT NULL CHECK (delivery IN ('link', 'email')),
    delivery_error  text        CHECK (delivery_error ~ '^[a-z_]{1,64}$'),
    email_sealed    bytea,
    phone_sealed    bytea,
    scheduled_at    timestamptz,
    time_zone       text        CHECK (length(time_zone) <= 64),
    expires_at      timestamptz NOT NULL,
    note_sealed     bytea,
    metadata_sealed bytea,
    created_by_type text        NOT NULL CHECK (created_by_type IN ('user', 'api_key')),
    created_by_id   uuid        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    redeemed_at     timestamptz,
    revoked_at      timestamptz,
    CHECK ((scheduled_at IS NULL) = (time_zone IS NULL)),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);

CREATE UNIQUE INDEX invites_token_hash_key ON invites (token_hash);
CREATE INDEX invites_creator ON invites (created_by_type, created_by_id, created_at, id);
CREATE INDEX invites_consultation ON invites (consultation_id);

-- Participant sessions share the staff session cookie (__Host-hcw_session)
-- but not its table: the authenticator tries staff sessions first, then
-- these. A session is scoped to one consultation and refused once that
-- consultation is closed, whatever expires_at says.
CREATE TABLE participant_sessions (
    id_hash         bytea       PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    participant_id  uuid        NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    consultation_id uuid        NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL CHECK (expires_at > created_at),
    revoked_at      timestamptz
);

CREATE INDEX participant_sessions_participant ON participant_sessions (participant_id) WHERE revoked_at IS NULL;
CREATE INDEX participant_sessions_consultation ON participant_sessions (consultation_id) WHERE revoked_at IS NULL;

-- Failed redemptions (unknown tokens) per client address ("ip:<address>"),
-- the same shape as signin_throttle.
CREATE TABLE invite_redeem_throttle (
    key             text        PRIMARY KEY CHECK (length(key) <= 128),
    failures        integer     NOT NULL CHECK (failures >= 0),
    last_failure_at timestamptz NOT NULL,
    next_allowed_at timestamptz NOT NULL
);
