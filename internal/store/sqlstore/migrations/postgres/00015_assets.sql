-- +goose Up
-- Assets are files a workspace uploaded (or had fetched) to use as run
-- inputs. The bytes live in the blob store under blob_key; the row is what
-- the API shows and what the storage quota counts.
CREATE TABLE assets (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
    type            TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size_bytes      BIGINT NOT NULL CHECK (size_bytes >= 0),
    blob_key        TEXT NOT NULL,
    source          TEXT,
    idempotency_key TEXT,
    fingerprint     TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX assets_workspace_idempotency_key ON assets (workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX assets_workspace_created ON assets (workspace_id, created_at DESC, id DESC);
CREATE INDEX assets_created ON assets (created_at);

-- The bytes of a workspace's assets, kept beside the rows so that the quota
-- is one guarded update (like the balance), safe under concurrent uploads.
ALTER TABLE workspaces ADD COLUMN storage_bytes BIGINT NOT NULL DEFAULT 0 CHECK (storage_bytes >= 0);

-- When retention removed a finished run's output files; NULL while they exist.
ALTER TABLE runs ADD COLUMN outputs_purged_at BIGINT;
CREATE INDEX runs_unpurged_completed ON runs (completed_at) WHERE outputs_purged_at IS NULL AND completed_at IS NOT NULL;

-- +goose Down
DROP INDEX runs_unpurged_completed;
ALTER TABLE runs DROP COLUMN outputs_purged_at;
ALTER TABLE workspaces DROP COLUMN storage_bytes;
DROP TABLE assets;
