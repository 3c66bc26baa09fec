-- +goose Up
-- Event ids are numbered per run (seq), so the ids a stream shows say nothing
-- about other workspaces' activity. runs.event_seq is the last one given.
ALTER TABLE runs ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
CREATE TABLE run_events_seq (
    run_id     TEXT NOT NULL REFERENCES runs (id),
    seq        INTEGER NOT NULL,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
INSERT INTO run_events_seq (run_id, seq, type, data, created_at)
    SELECT run_id, ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY id), type, data, created_at FROM run_events;
DROP TABLE run_events;
ALTER TABLE run_events_seq RENAME TO run_events;
UPDATE runs SET event_seq = (SELECT COUNT(*) FROM run_events WHERE run_events.run_id = runs.id);

-- Ledger entries are numbered per workspace for the same reason.
ALTER TABLE workspaces ADD COLUMN ledger_seq INTEGER NOT NULL DEFAULT 0;
CREATE TABLE credit_ledger_seq (
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    seq           INTEGER NOT NULL,
    run_id        TEXT,
    kind          TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'charge', 'refund')),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    memo          TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, seq)
) WITHOUT ROWID;
INSERT INTO credit_ledger_seq (workspace_id, seq, run_id, kind, amount, balance_after, memo, created_at)
    SELECT workspace_id, ROW_NUMBER() OVER (PARTITION BY workspace_id ORDER BY id), run_id, kind, amount,
           balance_after, memo, created_at FROM credit_ledger;
DROP TABLE credit_ledger;
ALTER TABLE credit_ledger_seq RENAME TO credit_ledger;
-- A run is reserved, charged and refunded at most once each.
CREATE UNIQUE INDEX credit_ledger_run_kind ON credit_ledger (run_id, kind) WHERE run_id IS NOT NULL;
UPDATE workspaces SET ledger_seq = (SELECT COUNT(*) FROM credit_ledger WHERE credit_ledger.workspace_id = workspaces.id);

-- A run's owner is the River job recorded in job_id; lease_until is when
-- the reconciler next looks at an open run (a heartbeat or a snooze pushes
-- it forward), replacing heartbeat_at.
DROP INDEX runs_running_heartbeat;
ALTER TABLE runs DROP COLUMN heartbeat_at;
ALTER TABLE runs ADD COLUMN lease_until INTEGER;
CREATE INDEX runs_open_lease ON runs (lease_until) WHERE status IN ('pending', 'running');

-- Pending deliveries the reconciler checks when their attempt is overdue.
CREATE INDEX webhook_deliveries_pending_next ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

-- +goose Down
DROP INDEX webhook_deliveries_pending_next;
DROP INDEX runs_open_lease;
ALTER TABLE runs DROP COLUMN lease_until;
ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER;
CREATE INDEX runs_running_heartbeat ON runs (heartbeat_at) WHERE status = 'running';
CREATE TABLE credit_ledger_id (
    id            INTEGER PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    run_id        TEXT,
    kind          TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'charge', 'refund')),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    memo          TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
);
INSERT INTO credit_ledger_id (workspace_id, run_id, kind, amount, balance_after, memo, created_at)
    SELECT workspace_id, run_id, kind, amount, balance_after, memo, created_at FROM credit_ledger ORDER BY created_at, seq;
DROP TABLE credit_ledger;
ALTER TABLE credit_ledger_id RENAME TO credit_ledger;
CREATE UNIQUE INDEX credit_ledger_run_kind ON credit_ledger (run_id, kind) WHERE run_id IS NOT NULL;
CREATE INDEX credit_ledger_workspace ON credit_ledger (workspace_id, id);
ALTER TABLE workspaces DROP COLUMN ledger_seq;
CREATE TABLE run_events_id (
    id         INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL REFERENCES runs (id),
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO run_events_id (run_id, type, data, created_at)
    SELECT run_id, type, data, created_at FROM run_events ORDER BY created_at, seq;
DROP TABLE run_events;
ALTER TABLE run_events_id RENAME TO run_events;
CREATE INDEX run_events_run ON run_events (run_id, id);
ALTER TABLE runs DROP COLUMN event_seq;
