-- Chat: messages numbered per consultation, idempotent sends and read
-- receipts (packages consultation, consultationapi, realtime).
--
-- A sender locks its consultation's row, looks its idempotency key up,
-- and only then takes the next number from last_seq: senders of one
-- consultation are serialised on that row, so numbers have no gaps and no
-- duplicates, and a resend (same key) finds the first message instead of
-- storing a second one.
ALTER TABLE consultations
    ADD COLUMN last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0);

-- body_sealed is the text (1 to 10000 characters) sealed with the data
-- key, AAD "messages.body:<id>"; id is the single-column key key rotation
-- pages by. Exactly one sender column is set. client_key is the sender's
-- idempotency key, unique per consultation and sender.
CREATE TABLE messages (
    consultation_id       uuid        NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    seq                   bigint      NOT NULL CHECK (seq > 0),
    id                    uuid        NOT NULL,
    sender_participant_id uuid        REFERENCES participants (id) ON DELETE CASCADE,
    sender_user_id        uuid        REFERENCES users (id) ON DELETE RESTRICT,
    client_key            text        NOT NULL CHECK (length(client_key) BETWEEN 1 AND 64),
    body_sealed           bytea       NOT NULL,
    created_at            timestamptz NOT NULL,
    PRIMARY KEY (consultation_id, seq),
    CHECK ((sender_participant_id IS NULL) <> (sender_user_id IS NULL))
);

CREATE UNIQUE INDEX messages_id_key ON messages (id);
CREATE UNIQUE INDEX messages_client_key
    ON messages (consultation_id, (coalesce(sender_participant_id, sender_user_id)), client_key);

-- Read receipts: how far each reader (a participant or a staff account)
-- has read a consultation's messages. last_read_seq only moves forward.
CREATE TABLE message_reads (
    consultation_id uuid        NOT NULL REFERENCES consultations (id) ON DELETE CASCADE,
    reader_type     text        NOT NULL CHECK (reader_type IN ('participant', 'user')),
    reader_id       uuid        NOT NULL,
    last_read_seq   bigint      NOT NULL CHECK (last_read_seq >= 0),
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (consultation_id, reader_type, reader_id)
);
