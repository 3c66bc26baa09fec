-- +goose Up
-- Event ids are numbered per run (seq), so the ids a stream shows say nothing
-- about other workspaces' activity. runs.event_seq is the last one given; the
-- UPDATE that takes the next one also locks the run's row, so a run's events
-- commit in seq order.
ALTER TABLE runs ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE run_events ADD COLUMN seq BIGINT;
UPDATE run_events e SET seq = n.seq
    FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY id) AS seq FROM run_events) n WHERE n.id = e.id;
ALTER TABLE run_events ALTER COLUMN seq SET NOT NULL;
DROP INDEX run_events_run;
ALTER TABLE run_events DROP CONSTRAINT run_events_pkey;
ALTER TABLE run_events DROP COLUMN id;
ALTER TABLE run_events ADD PRIMARY KEY (run_id, seq);
UPDATE runs SET event_seq = (SELECT COUNT(*) FROM run_events WHERE run_events.run_id = runs.id);

-- Ledger entries are numbered per workspace for the same reason.
ALTER TABLE workspaces ADD COLUMN ledger_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE credit_ledger ADD COLUMN seq BIGINT;
UPDATE credit_ledger l SET seq = n.seq
    FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY workspace_id ORDER BY id) AS seq FROM credit_ledger) n WHERE n.id = l.id;
ALTER TABLE credit_ledger ALTER COLUMN seq SET NOT NULL;
DROP INDEX credit_ledger_workspace;
ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_pkey;
ALTER TABLE credit_ledger DROP COLUMN id;
ALTER TABLE credit_ledger ADD PRIMARY KEY (workspace_id, seq);
UPDATE workspaces SET ledger_seq = (SELECT COUNT(*) FROM credit_ledger WHERE credit_ledger.workspace_id = workspaces.id);

-- A run's owner is the River job recorded in job_id; lease_until is when
-- the reconciler next looks at an open run (a heartbeat or a snooze pushes
-- it forward), replacing heartbeat_at.
DROP INDEX runs_running_heartbeat;
ALTER TABLE runs DROP COLUMN heartbeat_at;
ALTER TABLE runs ADD COLUMN lease_until BIGINT;
CREATE INDEX runs_open_lease ON runs (lease_until) WHERE status IN ('pending', 'running');

-- Pending deliveries the reconciler checks when their attempt is overdue.
CREATE INDEX webhook_deliveries_pending_next ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

-- +goose Down
DROP INDEX webhook_deliveries_pending_next;
DROP INDEX runs_open_lease;
ALTER TABLE runs DROP COLUMN lease_until;
ALTER TABLE runs ADD COLUMN heartbeat_at BIGINT;
CREATE INDEX runs_running_heartbeat ON runs (heartbeat_at) WHERE status = 'running';
ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_pkey;
ALTER TABLE credit_ledger ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
ALTER TABLE credit_ledger DROP COLUMN seq;
CREATE INDEX credit_ledger_workspace ON credit_ledger (workspace_id, id);
ALTER TABLE workspaces DROP COLUMN ledger_seq;
ALTER TABLE run_events DROP CONSTRAINT run_events_pkey;
ALTER TABLE run_events ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
ALTER TABLE run_events DROP COLUMN seq;
CREATE INDEX run_events_run ON run_events (run_id, id);
ALTER TABLE runs DROP COLUMN event_seq;
