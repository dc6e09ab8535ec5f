-- Media: the pool of media nodes, the calls of consultations and who is in
-- them, and the control commands the backend owes the nodes (packages
-- medianode, consultation, mediaapi).
--
-- A node registers and refreshes itself with a heartbeat every 2 s
-- (contract/nodeapi); it is healthy while its last heartbeat is younger
-- than nodeapi.NodeTimeout. A clean shutdown deletes its row; a crashed
-- node's row stays (unhealthy) until housekeeping removes it a day later.
-- The load columns are the node's own figures from its last heartbeat.
CREATE TABLE media_nodes (
    id                text        PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    upstream          text        NOT NULL CHECK (length(upstream) BETWEEN 3 AND 261),
    signal_url        text        NOT NULL,
    capacity          integer     NOT NULL CHECK (capacity BETWEEN 1 AND 100000),
    load_rooms        integer     NOT NULL DEFAULT 0 CHECK (load_rooms >= 0),
    load_participants integer     NOT NULL DEFAULT 0 CHECK (load_participants >= 0),
    load_tracks       integer     NOT NULL DEFAULT 0 CHECK (load_tracks >= 0),
    load_bitrate      bigint      NOT NULL DEFAULT 0 CHECK (load_bitrate >= 0),
    draining          boolean     NOT NULL DEFAULT false,
    version           text        NOT NULL DEFAULT '' CHECK (length(version) <= 64),
    last_seen         timestamptz NOT NULL,
    registered_at     timestamptz NOT NULL
);

-- A consultation's call: ringing from its start until someone accepts
-- (active) or it ends. At most one call per consultation is not ended
-- (calls_open). node_id is where the call is placed (on the first join,
-- under the call's row lock); it names no foreign key because a node's
-- row goes when the node does, and the call is then placed again.
CREATE TABLE calls (
    id              uuid        PRIMARY KEY,
    consultation_id uuid        NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    started_by      uuid        NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    kind            text        NOT NULL CHECK (kind IN ('audio', 'video')),
    state           text        NOT NULL CHECK (state IN ('ringing', 'active', 'ended')),
    node_id         text,
    started_at      timestamptz NOT NULL,
    answered_at     timestamptz,
    ended_at        timestamptz,
    end_reason      text        CHECK (end_reason IN ('hung_up', 'declined', 'no_answer', 'max_duration',
                                                      'consultation_closed', 'consultation_transferred')),
    CHECK ((state = 'ended') = (ended_at IS NOT NULL)),
    CHECK ((state = 'ended') = (end_reason IS NOT NULL)),
    CHECK (state = 'ringing' OR state = 'ended' OR answered_at IS NOT NULL)
);

CREATE UNIQUE INDEX calls_open ON calls (consultation_id) WHERE state <> 'ended';
-- The timeout sweep reads the open calls by age.
CREATE INDEX calls_open_started ON calls (state, started_at) WHERE state <> 'ended';
CREATE INDEX calls_consultation ON calls (consultation_id, started_at);

-- Who was asked into a call and what they did. identity is the media
-- identity of the grant's subject: "u-<user id>" for staff, "p-<participant
-- id>" for participants. joined_at is the last grant issued; left_at when
-- the backend removed them from the node (revoked, disabled).
CREATE TABLE call_participants (
    call_id        uuid        NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    identity       text        NOT NULL CHECK (identity ~ '^[up]-[0-9a-f-]{36}$'),
    role           text        NOT NULL CHECK (role IN ('doctor', 'nurse', 'patient', 'guest', 'interpreter', 'expert')),
    accepted_at    timestamptz,
    declined_at    timestamptz,
    joined_at      timestamptz,
    left_at        timestamptz,
    PRIMARY KEY (call_id, identity)
);

-- Finds the open calls a person joined (removal on disable).
CREATE INDEX call_participants_identity ON call_participants (identity) WHERE joined_at IS NOT NULL;

-- Control commands owed to media nodes (end a room, remove a participant),
-- written in the transaction of the change that needs them (consultation
-- closed, participant revoked, user disabled, call ended) and sent by every
-- replica's worker: a command claimed by one worker is leased for a while
-- (next_attempt_at), so replicas never send it twice at once, and a crash
-- between commit and send only delays it. done_at is set once the node
-- answered, or after the last attempt (outcome failed).
CREATE TABLE media_commands (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id         text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('end_room', 'remove_participant')),
    room            text        NOT NULL,
    participant     text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    done_at         timestamptz,
    outcome         text        CHECK (outcome IN ('sent', 'failed', 'node_gone')),
    CHECK (kind <> 'remove_participant' OR participant <> '')
);

CREATE INDEX media_commands_due ON media_commands (next_attempt_at) WHERE done_at IS NULL;
