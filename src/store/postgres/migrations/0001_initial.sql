-- The tables of the redb store, in PostgreSQL. Values are the same versioned binary
-- encoding (`store/codec.rs`); the columns beside them are what a query selects on.

-- The change log: one row per committed revision, gap-free.
CREATE TABLE authzd_changes (
    revision     BIGINT PRIMARY KEY CHECK (revision > 0),
    committed_at BIGINT NOT NULL,            -- milliseconds since the Unix epoch
    record       BYTEA  NOT NULL             -- an encoded engine::ChangeRecord
);

-- Checkpoints: the whole state at a revision, the newest used at start.
CREATE TABLE authzd_checkpoints (
    revision BIGINT PRIMARY KEY CHECK (revision >= 0),
    snapshot BYTEA  NOT NULL                 -- an encoded engine::Snapshot
);

-- Request ids of committed changes, so a retry answers with the first change.
CREATE TABLE authzd_request_ids (
    request_id TEXT   PRIMARY KEY,
    revision   BIGINT NOT NULL REFERENCES authzd_changes (revision) ON DELETE CASCADE
);

-- The audit trail: every management call, allowed or refused.
CREATE TABLE authzd_audit (
    id     BIGINT PRIMARY KEY CHECK (id > 0),
    at     BIGINT NOT NULL,
    tenant TEXT,
    record BYTEA  NOT NULL                   -- an encoded store::AuditRecord
);
CREATE INDEX authzd_audit_by_tenant ON authzd_audit (tenant, id);
CREATE INDEX authzd_audit_by_time ON authzd_audit (at);

-- Counters and markers (the format version, the oldest retained revision).
CREATE TABLE authzd_meta (
    key   TEXT   PRIMARY KEY,
    value BIGINT NOT NULL
);
