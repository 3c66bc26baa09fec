-- +goose Up
-- Every change of a run, in the transaction that made it, so that any API
-- process can stream a run's history and a reconnecting client resumes after
-- the last event it saw (ids only grow).
CREATE TABLE run_events (
    -- A plain rowid: ids still only grow, since events are never deleted.
    id         INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL REFERENCES runs (id),
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX run_events_run ON run_events (run_id, id);

-- +goose Down
DROP TABLE run_events;
