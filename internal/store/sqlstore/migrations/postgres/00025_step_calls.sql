-- +goose Up
-- A step's request to a remote model provider, written before the request is
-- sent (state 'submitting') and given the provider's request id in the
-- transaction that records the submission's outcome ('submitted'), so that a
-- run resumed after a crash polls that request and never sends another. The
-- row goes in the transaction that records the finished step.
CREATE TABLE run_step_calls (
    run_id     TEXT NOT NULL REFERENCES runs (id),
    step_id    TEXT NOT NULL,
    provider   TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('submitting', 'submitted')),
    request_id TEXT NOT NULL DEFAULT '',
    handle     TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, step_id)
);
-- A provider's webhook names its request: it finds the run to wake.
CREATE INDEX run_step_calls_request ON run_step_calls (provider, request_id) WHERE request_id <> '';

-- Requests in flight per provider across the deployment, for the
-- per-provider concurrency cap: a guarded increment takes a slot, so two
-- processes cannot both take the last one.
CREATE TABLE provider_slots (
    provider  TEXT PRIMARY KEY,
    in_flight BIGINT NOT NULL DEFAULT 0 CHECK (in_flight >= 0)
);

-- +goose Down
DROP TABLE provider_slots;
DROP TABLE run_step_calls;
