-- +goose Up
-- A key's scopes, space-separated (the four of the API when it was made
-- without --scopes), and its optional daily spend cap in credits.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'runs:write runs:read techniques:read webhooks:manage';
ALTER TABLE api_keys ADD COLUMN max_credits_per_day INTEGER CHECK (max_credits_per_day >= 0);

-- Credits each key (local key_... or Clerk ak_... id, hence no foreign key)
-- reserved on each UTC day (days since the epoch). The guarded upsert that
-- adds to it is the cap.
CREATE TABLE key_spend (
    key_id  TEXT NOT NULL,
    day     INTEGER NOT NULL,
    credits INTEGER NOT NULL CHECK (credits >= 0),
    PRIMARY KEY (key_id, day)
);

-- Which workspace a Clerk key's subject (org_... or user_...) speaks for.
CREATE TABLE clerk_subjects (
    subject      TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    created_at   INTEGER NOT NULL
);

-- +goose Down
DROP TABLE clerk_subjects;
DROP TABLE key_spend;
ALTER TABLE api_keys DROP COLUMN max_credits_per_day;
ALTER TABLE api_keys DROP COLUMN scopes;
