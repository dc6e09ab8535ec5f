-- Consultation lifecycle: acceptance, estimates, closing, the doctor's
-- private note, participant presence and anonymous statistics (packages
-- consultation, consultationapi, realtime).

-- accepted_at is set when a doctor accepts (doctor_id then names that
-- doctor); estimated_start_at when a doctor sends "I will be with you in N
-- minutes"; close_reason with closed_at. note_sealed is the doctor's
-- private note (AAD "consultations.note:<id>"), never shown to
-- participants.
ALTER TABLE consultations
    ADD COLUMN accepted_at        timestamptz,
    ADD COLUMN estimated_start_at timestamptz,
    ADD COLUMN close_reason       text CHECK (close_reason IN ('completed', 'cancelled')),
    ADD COLUMN note_sealed        bytea;

UPDATE consultations SET close_reason = 'completed' WHERE status = 'closed';

ALTER TABLE consultations
    ADD CONSTRAINT consultations_close_reason CHECK ((status = 'closed') = (close_reason IS NOT NULL));

CREATE INDEX consultations_pending ON consultations (queue_id, pending_at, id) WHERE status = 'pending';
CREATE INDEX consultations_doctor_closed ON consultations (doctor_id, closed_at, id) WHERE status = 'closed';

-- Presence across replicas: one row per participant and replica with at
-- least one open socket there. Each replica refreshes updated_at of its
-- rows every 30 s; a participant is online while a row is fresher than
-- 90 s, so the sockets of a replica that died stop counting by themselves.
CREATE TABLE participant_presence (
    participant_id uuid        NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    replica_id     text        NOT NULL CHECK (replica_id ~ '^[a-z0-9-]{1,64}$'),
    sockets        integer     NOT NULL CHECK (sockets > 0),
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (participant_id, replica_id)
);

CREATE INDEX participant_presence_replica ON participant_presence (replica_id);

-- One anonymous row per closed consultation: no consultation, participant
-- or doctor id, no names. The queue is kept for per-queue figures.
CREATE TABLE consultation_stats (
    id                uuid        PRIMARY KEY,
    queue_id          uuid        REFERENCES queues (id) ON DELETE SET NULL,
    close_reason      text        NOT NULL CHECK (close_reason IN ('completed', 'cancelled')),
    created_at        timestamptz NOT NULL,
    accepted_at       timestamptz,
    closed_at         timestamptz NOT NULL,
    waited_seconds    integer     CHECK (waited_seconds >= 0),
    duration_seconds  integer     CHECK (duration_seconds >= 0),
    participant_count integer     NOT NULL CHECK (participant_count >= 0),
    calls_count       integer     NOT NULL DEFAULT 0 CHECK (calls_count >= 0)
);

CREATE INDEX consultation_stats_closed ON consultation_stats (closed_at);
