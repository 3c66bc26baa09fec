package loadbench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/store/sqlstore"
)

// Baseline is the yardstick florad's API is measured against: bare net/http
// handlers that do only the database work a request cannot avoid, on the
// same SQLite settings. POST /runs runs the raw insert-run-and-debit
// transaction; GET /runs/{id} reads one row by primary key.
//
// The database is opened by sqlstore.OpenSQLite itself, the function florad
// opens its own with, so both get the same pragmas (WAL, busy_timeout,
// synchronous), one writer connection with BEGIN IMMEDIATE and the same read
// pool, now and after any later change there. The handlers use tables of
// their own and plain database/sql.
type Baseline struct {
	store       *sqlstore.Store
	listener    net.Listener
	server      *http.Server
	served      chan error
	workspaceID string
}

const baselineSchema = `
CREATE TABLE IF NOT EXISTS bench_balances (
    workspace_id TEXT PRIMARY KEY,
    balance      INTEGER NOT NULL CHECK (balance >= 0)
);
CREATE TABLE IF NOT EXISTS bench_runs (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    status       TEXT NOT NULL,
    inputs       TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);`

// StartBaseline opens a database in dir and serves the baseline handlers
// on a free loopback port.
func StartBaseline(ctx context.Context, dir, synchronous string) (*Baseline, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("error creating baseline data folder: %w", err)
	}
	s, err := sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: filepath.Join(dir, "baseline.db"), Synchronous: synchronous})
	if err != nil {
		return nil, err
	}
	b := &Baseline{store: s, served: make(chan error, 1), workspaceID: ident.New("ws_", time.Now())}
	if _, err := s.WriterDB().ExecContext(ctx, baselineSchema); err != nil {
		s.Close()
		return nil, fmt.Errorf("error creating baseline schema: %w", err)
	}
	if _, err := s.WriterDB().ExecContext(ctx,
		`INSERT INTO bench_balances (workspace_id, balance) VALUES (?, ?)`, b.workspaceID, grantCredits); err != nil {
		s.Close()
		return nil, fmt.Errorf("error granting baseline credits: %w", err)
	}
	b.listener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("error listening: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /runs", b.create)
	mux.HandleFunc("GET /runs/{id}", b.get)
	// The same server timeouts as florad's, which do not cost per request.
	b.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		IdleTimeout: 120 * time.Second}
	go func() { b.served <- b.server.Serve(b.listener) }()
	return b, nil
}

// URL is the server's base URL.
func (b *Baseline) URL() string { return "http://" + b.listener.Addr().String() }

// Close stops the server and closes the database.
func (b *Baseline) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.server.Shutdown(ctx)
	if serr := <-b.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, b.store.Close())
}

type baselineRun struct {
	RunID     string `json:"run_id"`
	Status    string `json:"status"`
	CreatedAt int64  `json:"created_at"`
	PollURL   string `json:"poll_url"`
}

func (b *Baseline) create(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	run := baselineRun{RunID: ident.New("run_", now), Status: "pending", CreatedAt: now.UnixMilli()}
	if err := b.insertAndDebit(r.Context(), &run, body); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	run.PollURL = "http://" + r.Host + "/runs/" + run.RunID
	writeJSON(w, run)
}

// insertAndDebit is the transaction every run creation must commit: the run
// row and the debit of its credits, together.
func (b *Baseline) insertAndDebit(ctx context.Context, run *baselineRun, inputs []byte) error {
	tx, err := b.store.WriterDB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO bench_runs (id, workspace_id, status, inputs, created_at) VALUES (?, ?, ?, ?, ?)`,
		run.RunID, b.workspaceID, run.Status, string(inputs), run.CreatedAt); err != nil {
		return err
	}
	var balance int64
	if err := tx.QueryRowContext(ctx,
		`UPDATE bench_balances SET balance = balance - 1 WHERE workspace_id = ? AND balance >= 1 RETURNING balance`,
		b.workspaceID).Scan(&balance); err != nil {
		return err
	}
	return tx.Commit()
}

func (b *Baseline) get(w http.ResponseWriter, r *http.Request) {
	var (
		run    baselineRun
		inputs string
		ws     string
	)
	err := b.store.ReaderDB().QueryRowContext(r.Context(),
		`SELECT id, workspace_id, status, inputs, created_at FROM bench_runs WHERE id = ?`, r.PathValue("id")).
		Scan(&run.RunID, &ws, &run.Status, &inputs, &run.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	run.PollURL = "http://" + r.Host + "/runs/" + run.RunID
	writeJSON(w, run)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
