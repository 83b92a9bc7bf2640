-- Checkpoints stored out of line without compression. A checkpoint is the whole encoded
-- state (some 160 MB at 1 M grants+memberships) and is read whole by every new replica:
-- PostgreSQL's default compression (pglz) spent about a second of the database's CPU
-- on each such read and two on each write, while the encoding shrank to a third.
-- Applies to checkpoints written from now on; the next checkpoint replaces older ones.
ALTER TABLE authzd_checkpoints ALTER COLUMN snapshot SET STORAGE EXTERNAL;
