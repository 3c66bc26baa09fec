-- +goose Up
-- Technique definitions by version. Runs name the version they started with,
-- so a definition is never changed or deleted, only superseded. An empty
-- workspace_id is a public technique, visible to every workspace.
CREATE TABLE techniques (
    workspace_id TEXT NOT NULL DEFAULT '',
    slug         TEXT NOT NULL,
    version      TEXT NOT NULL,
    source       BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, slug, version)
);
CREATE INDEX techniques_latest ON techniques (workspace_id, slug, created_at);

-- +goose Down
DROP TABLE techniques;
