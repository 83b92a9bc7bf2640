-- Checkpoints in parts, as in redb: a checkpoint's `snapshot` becomes the marker
-- `AZPARTS1`, the number of parts and the encoding's length (see storage-format.md), and
-- the encoding is stored in rows of at most 4 MiB here. One value held the whole state,
-- and PostgreSQL takes no value of 1 GB or more (some 6 M grants+memberships).
-- A checkpoint stored whole still loads; the next checkpoint replaces it.
CREATE TABLE authzd_checkpoint_parts (
    revision BIGINT  NOT NULL REFERENCES authzd_checkpoints (revision) ON DELETE CASCADE,
    part     INTEGER NOT NULL CHECK (part >= 0),
    bytes    BYTEA   NOT NULL,
    PRIMARY KEY (revision, part)
);

-- Out of line without compression: every new replica reads the whole checkpoint, and
-- pglz cost the database about a second of CPU per read of 160 MB and two per write,
-- for an encoding it shrank to a third.
ALTER TABLE authzd_checkpoint_parts ALTER COLUMN bytes SET STORAGE EXTERNAL;
ALTER TABLE authzd_checkpoints ALTER COLUMN snapshot SET STORAGE EXTERNAL;
