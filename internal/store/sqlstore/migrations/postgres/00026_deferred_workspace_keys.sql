-- +goose Up
-- A create inserts its run, then takes the workspace's balance. Checked at
-- once, the run's foreign key share-locks the workspace row first, and with
-- every concurrent create doing the same, each balance update has to fold
-- all those lockers into a multixact: the hottest row of the database costs
-- the most to update. Checked at commit, the key finds the row already
-- locked by the transaction's own update, and takes nothing more.
ALTER TABLE runs ALTER CONSTRAINT runs_workspace_id_fkey DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE credit_ledger ALTER CONSTRAINT credit_ledger_workspace_id_fkey DEFERRABLE INITIALLY DEFERRED;

-- +goose Down
ALTER TABLE runs ALTER CONSTRAINT runs_workspace_id_fkey NOT DEFERRABLE;
ALTER TABLE credit_ledger ALTER CONSTRAINT credit_ledger_workspace_id_fkey NOT DEFERRABLE;
