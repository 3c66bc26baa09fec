-- +goose Up
-- One row per event to POST to a run's callback_url. body holds the exact
-- bytes sent on every attempt, so retries and redeliveries are identical.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
    run_id          TEXT NOT NULL REFERENCES runs (id),
    event_type      TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            BYTEA NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempt_count   BIGINT NOT NULL DEFAULT 0,
    job_id          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    created_at      BIGINT NOT NULL,
    completed_at    BIGINT
);
-- Exactly one event per run ending: the constraint decides, even if two
-- processes raced to end the run.
CREATE UNIQUE INDEX webhook_deliveries_run_event ON webhook_deliveries (run_id, event_type);
CREATE INDEX webhook_deliveries_workspace_created ON webhook_deliveries (workspace_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempted_at BIGINT NOT NULL,
    status_code  BIGINT NOT NULL DEFAULT 0,
    latency_ms   BIGINT NOT NULL,
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- Secret rotation: the replaced secret keeps signing until it expires.
ALTER TABLE workspaces ADD COLUMN webhook_secret_previous TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN webhook_secret_previous_expires_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE workspaces DROP COLUMN webhook_secret_previous_expires_at;
ALTER TABLE workspaces DROP COLUMN webhook_secret_previous;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
