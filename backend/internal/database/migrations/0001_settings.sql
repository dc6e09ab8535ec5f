-- Instance-wide settings edited by administrators (branding, retention
-- period, feature switches). One row per key; the value is JSON so a new
-- setting needs no migration. schema_migrations itself is created by the
-- migration runner, which must read it before any numbered file runs.
CREATE TABLE settings (
    key        text        PRIMARY KEY CHECK (key <> ''),
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
