-- +goose Up
CREATE TABLE workspaces (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    balance        INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    webhook_secret TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    hash         BLOB NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

CREATE TABLE runs (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces (id),
    technique_id      TEXT NOT NULL,
    technique_slug    TEXT NOT NULL,
    technique_version TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    progress          INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    inputs            TEXT NOT NULL,
    mode              TEXT NOT NULL,
    callback_url      TEXT NOT NULL DEFAULT '',
    idempotency_key   TEXT,
    fingerprint       TEXT NOT NULL,
    credits           INTEGER NOT NULL CHECK (credits >= 0),
    charged_credits   INTEGER,
    outputs           TEXT NOT NULL DEFAULT '[]',
    error_code        TEXT NOT NULL DEFAULT '',
    error_message     TEXT NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    completed_at      INTEGER,
    -- The River job executing the run, and when its process last said it
    -- was alive: a run whose heartbeat stops is taken over by another worker.
    job_id            INTEGER,
    heartbeat_at      INTEGER
);
-- The idempotency rule is this constraint: a second insert with the same key
-- fails, and the service answers with the run that won.
CREATE UNIQUE INDEX runs_workspace_idempotency_key ON runs (workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_workspace_created ON runs (workspace_id, created_at DESC, id DESC);
CREATE INDEX runs_running_heartbeat ON runs (heartbeat_at) WHERE status = 'running';

CREATE TABLE run_steps (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    step_id     TEXT NOT NULL,
    outputs     TEXT NOT NULL,
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_id)
);

CREATE TABLE credit_ledger (
    -- A plain rowid: ids still only grow (nothing is ever deleted), and no
    -- sqlite_sequence page is written on every credit movement.
    id            INTEGER PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    run_id        TEXT,
    kind          TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'charge', 'refund')),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    memo          TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
);
-- A run is reserved, charged and refunded at most once each.
CREATE UNIQUE INDEX credit_ledger_run_kind ON credit_ledger (run_id, kind) WHERE run_id IS NOT NULL;
CREATE INDEX credit_ledger_workspace ON credit_ledger (workspace_id, id);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE credit_ledger;
DROP TABLE run_steps;
DROP TABLE runs;
DROP TABLE api_keys;
DROP TABLE workspaces;
