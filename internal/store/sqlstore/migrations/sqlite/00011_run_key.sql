-- +goose Up
-- The key that created the run (local key_... or Clerk ak_... id; no
-- foreign key, as in key_spend): a refund gives the credits back to that
-- key's daily spend as well as to the workspace.
ALTER TABLE runs ADD COLUMN key_id TEXT;

-- +goose Down
ALTER TABLE runs DROP COLUMN key_id;
