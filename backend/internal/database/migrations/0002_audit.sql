-- Audit trail: an append-only, hash-chained log of security-relevant events.
--
-- What goes in: who (actor), did what (action), to what (object), in which
-- consultation, from where (client address), with which outcome. There is
-- deliberately no free-text column, so message bodies and health data have
-- nowhere to go.
--
-- Chain: each row's hash is SHA-256 over a canonical encoding of its own
-- columns, its seq and prev_hash (the hash of the row before it; 32 zero
-- bytes for seq 1). The application computes it (package audit) and appends
-- under pg_advisory_xact_lock so replicas build one linear chain with seq
-- numbers without gaps. Verification recomputes every hash, checks each
-- prev_hash against the previous row and checks that seq increases by one.
--
-- Immutability: triggers refuse UPDATE and TRUNCATE always, and DELETE
-- unless it is a retention purge. Triggers bind the table owner too, which
-- is the role the service runs with; only ALTER TABLE ... DISABLE TRIGGER or
-- DROP (owner or superuser DDL, never issued by the service) gets past them.
-- That is why the hash chain exists: whatever slips past the triggers is
-- detected by verification, except removing rows from the very end of the
-- chain or rewriting the whole chain, which an unkeyed hash cannot reveal.
--
-- Retention purge: the audit trail is kept for HCW_AUDIT_RETENTION_DAYS
-- (minimum 30), independently of consultations. A DELETE passes only when
--   1. the transaction set hcw.audit_purge = 'on' (set_config(..., true), so
--      it ends with the transaction and cannot leak to a pooled session);
--   2. every deleted row is older than 30 days (the lowest retention the
--      configuration accepts; the configured, longer horizon is applied by
--      the caller, the database only knows the floor);
--   3. the deleted rows are a prefix of the chain: no row remains with a seq
--      below the highest deleted seq, so the rest stays one unbroken chain;
--   4. audit_anchor already holds the last deleted row's seq and hash.
-- Verification then starts from the newest anchor instead of the zero hash:
-- the first remaining row must have seq = anchor.seq + 1 and
-- prev_hash = anchor.hash. Checks 2-4 run in a statement-level AFTER trigger
-- over the transition table, so they see the whole statement at once and a
-- failing check rolls the whole DELETE back.
--
-- The setting is not a secret: the service role can set it. It marks intent
-- and prevents accidents; checks 2-4 are what make a purge unable to hide
-- anything recent or to cut a hole in the middle of the chain.

CREATE TABLE audit_events (
    seq             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL,
    actor_type      text        NOT NULL CHECK (actor_type IN ('user', 'api_key', 'participant', 'system')),
    actor_id        text,
    action          text        NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)*$'),
    object_type     text,
    object_id       text,
    consultation_id text,
    client_ip       inet,
    outcome         text        NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    prev_hash       bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash            bytea       NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_actor ON audit_events (actor_type, actor_id);
CREATE INDEX audit_events_consultation ON audit_events (consultation_id);

-- One row per purge; the newest (highest seq) is where verification starts.
CREATE TABLE audit_anchor (
    seq       bigint      NOT NULL PRIMARY KEY CHECK (seq > 0),
    hash      bytea       NOT NULL CHECK (octet_length(hash) = 32),
    purged_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE FUNCTION audit_events_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('hcw.audit_purge', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit_events is append-only: DELETE refused outside a retention purge'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION audit_events_purge_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq  bigint;
    last_hash bytea;
BEGIN
    SELECT p.seq, p.hash INTO last_seq, last_hash FROM purged p ORDER BY p.seq DESC LIMIT 1;
    IF last_seq IS NULL THEN
        RETURN NULL; -- nothing deleted
    END IF;
    IF EXISTS (SELECT 1 FROM purged p WHERE p.at >= now() - interval '30 days') THEN
        RAISE EXCEPTION 'audit purge refused: rows younger than 30 days'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT 1 FROM audit_events e WHERE e.seq < last_seq) THEN
        RAISE EXCEPTION 'audit purge refused: not a prefix of the chain'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM audit_anchor a WHERE a.seq = last_seq AND a.hash = last_hash) THEN
        RAISE EXCEPTION 'audit purge refused: no anchor for seq %', last_seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_events_delete_guard BEFORE DELETE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_delete_guard();
CREATE TRIGGER audit_events_purge_check AFTER DELETE ON audit_events
    REFERENCING OLD TABLE AS purged
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_purge_check();

-- Anchors are as permanent as the rows they stand for.
CREATE TRIGGER audit_anchor_no_update BEFORE UPDATE OR DELETE ON audit_anchor
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_anchor_no_truncate BEFORE TRUNCATE ON audit_anchor
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
