-- Instance settings, the audit listing and the purge of closed
-- consultations (packages settings, audit, consultation).

-- The logo shown in every app. The other settings are small JSON values
-- in settings (0001); the image is kept apart, as bytea, because the
-- settings are read every few seconds by every replica (its cache) and
-- the image, up to 256 KiB, would then travel with every read and grow by
-- a third as base64 inside JSON. One row at most (id is always true).
-- content_type is what the backend detected from the bytes, never what
-- the uploader claimed; sha256 is the image's digest, its ETag.
CREATE TABLE branding_logo (
    id           boolean     PRIMARY KEY DEFAULT true CHECK (id),
    content_type text        NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp')),
    image        bytea       NOT NULL CHECK (octet_length(image) BETWEEN 1 AND 262144),
    sha256       bytea       NOT NULL CHECK (octet_length(sha256) = 32),
    updated_at   timestamptz NOT NULL
);

-- The purge finds closed consultations by age.
CREATE INDEX consultations_closed_at ON consultations (closed_at, id) WHERE status = 'closed';

-- Deleting a consultation cascades to its children (participants, invites,
-- participant sessions, messages, reads, calls, feedback, interpreter
-- requests). Each cascade looks the children up by the referencing
-- column, so every such column needs an index usable for all rows, not
-- only a partial one; without it each deleted parent scans the whole
-- child table.
DROP INDEX participant_sessions_participant;
DROP INDEX participant_sessions_consultation;
CREATE INDEX participant_sessions_participant ON participant_sessions (participant_id);
CREATE INDEX participant_sessions_consultation ON participant_sessions (consultation_id);
CREATE INDEX messages_sender_participant ON messages (sender_participant_id) WHERE sender_participant_id IS NOT NULL;
CREATE INDEX interpreter_requests_invite ON interpreter_requests (invite_id) WHERE invite_id IS NOT NULL;

-- The audit listing filters by action, actor and object and pages by seq,
-- newest first.
CREATE INDEX audit_events_action_seq ON audit_events (action, seq);
CREATE INDEX audit_events_actor_id_seq ON audit_events (actor_id, seq) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_object_id_seq ON audit_events (object_id, seq) WHERE object_id IS NOT NULL;
