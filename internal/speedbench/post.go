package speedbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/loadbench"
	"github.com/florad/florad/internal/store/sqlstore"
)

// PostRow is POST on PostgreSQL at one concurrency, florad beside the bare
// handler.
type PostRow struct {
	Conns         int           `json:"conns"`
	FloradRPS     float64       `json:"florad_rps"`
	BaselineRPS   float64       `json:"baseline_rps"`
	Ratio         float64       `json:"ratio"`
	FloradP99     time.Duration `json:"florad_p99"`
	BaselineP99   time.Duration `json:"baseline_p99"`
	FloradErrors  int           `json:"florad_errors"`
	FloradOther   float64       `json:"florad_other_cpu"`
	BaselineOther float64       `json:"baseline_other_cpu"`
	Target        float64       `json:"target,omitempty"`
	Pass          bool          `json:"pass"`
}

// post measures POST .../prompt-expander/runs on PostgreSQL (florad
// without workers, as the baseline executes nothing) beside a bare
// net/http handler whose transaction inserts a run row and debits a
// balance with a guarded UPDATE, through the same driver and pool (pgx
// under database/sql, 20 connections), each on a database of its own on
// the same server; back to back at each level, alternating with rounds.
func (b *bench) post(ctx context.Context) ([]*PostRow, error) {
	fdb, err := b.newDatabase(ctx, DBPostgres)
	if err != nil {
		return nil, err
	}
	defer fdb.drop()
	f, err := newFlorad(ctx, fdb, floradOpts{}, true)
	if err != nil {
		return nil, err
	}
	f.start()
	defer f.close()
	if err := loadbench.WaitHealthy(ctx, f.url()); err != nil {
		return nil, err
	}
	bdb, err := b.newDatabase(ctx, DBPostgres)
	if err != nil {
		return nil, err
	}
	defer bdb.drop()
	base, err := startPGBaseline(ctx, bdb.url)
	if err != nil {
		return nil, err
	}
	defer base.close()

	header := http.Header{"Authorization": {"Bearer " + f.key}, "Content-Type": {"application/json"}}
	window := 0
	target := func(url string) loadbench.Target {
		window++
		w := strconv.Itoa(window)
		return loadbench.Target{Method: http.MethodPost, Header: header, WantStatus: http.StatusOK,
			URL: func(int, int) string { return url },
			Body: func(c, n int) []byte {
				return []byte(`{"inputs":[{"id":"prompt","type":"text","value":"a lighthouse at dawn, take ` +
					w + "." + strconv.Itoa(c) + "." + strconv.Itoa(n) + `"}],"mode":"async"}`)
			}}
	}
	var rows []*PostRow
	for _, conns := range b.cfg.Conns {
		var fl, bl []*loadbench.Sample
		var ratios []float64
		for round := range b.cfg.Rounds {
			order := []bool{false, true} // baseline first
			if round%2 == 1 {
				order = []bool{true, false}
			}
			var fs, bs *loadbench.Sample
			for _, isFlorad := range order {
				u := base.url() + "/runs"
				if isFlorad {
					u = f.url() + pickupPath
				}
				s, err := loadbench.Measure(ctx, target(u), conns, time.Second, b.cfg.Duration)
				if err != nil {
					return nil, err
				}
				if isFlorad {
					fs = s
				} else {
					bs = s
				}
			}
			if bs.Errors > 0 {
				return nil, fmt.Errorf("baseline errors at c=%d: %s", conns, bs.FirstError)
			}
			fl, bl = append(fl, fs), append(bl, bs)
			ratios = append(ratios, fs.RPS()/bs.RPS())
		}
		fm, bm := medianSample(fl), medianSample(bl)
		slices.Sort(ratios)
		row := &PostRow{Conns: conns, FloradRPS: fm.RPS(), BaselineRPS: bm.RPS(), Ratio: ratios[len(ratios)/2],
			FloradP99: fm.Quantile(0.99), BaselineP99: bm.Quantile(0.99), FloradErrors: fm.Errors,
			FloradOther: fm.CPU.Other, BaselineOther: bm.CPU.Other, Pass: true}
		if conns >= 8 {
			row.Target = TargetPostRatio
			row.Pass = row.Ratio >= TargetPostRatio && fm.Errors == 0
		}
		b.logf("post postgres c=%d: florad %.0f/s p99 %v (errors %d: %s), baseline %.0f/s p99 %v, ratio %.2f; other CPU %.2f / %.2f",
			conns, row.FloradRPS, row.FloradP99, fm.Errors, fm.FirstError, row.BaselineRPS, row.BaselineP99, row.Ratio, row.FloradOther, row.BaselineOther)
		rows = append(rows, row)
	}
	return rows, nil
}

func medianSample(s []*loadbench.Sample) *loadbench.Sample {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b *loadbench.Sample) int {
		switch {
		case a.RPS() < b.RPS():
			return -1
		case a.RPS() > b.RPS():
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

// pgBaseline is the bare handler on PostgreSQL.
type pgBaseline struct {
	store    *sqlstore.Store
	listener net.Listener
	server   *http.Server
	served   chan error
	wsID     string
}

const pgBaselineSchema = `
CREATE TABLE IF NOT EXISTS bench_balances (workspace_id TEXT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0));
CREATE TABLE IF NOT EXISTS bench_runs (id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, status TEXT NOT NULL,
    inputs TEXT NOT NULL, created_at BIGINT NOT NULL)`

func startPGBaseline(ctx context.Context, url string) (*pgBaseline, error) {
	// florad's own opening: the same pool size and driver (its migrations
	// create tables the handler never touches).
	s, err := sqlstore.OpenPostgres(ctx, sqlstore.PostgresConfig{URL: url})
	if err != nil {
		return nil, err
	}
	b := &pgBaseline{store: s, served: make(chan error, 1), wsID: ident.New("ws_", time.Now())}
	if _, err := s.WriterDB().ExecContext(ctx, pgBaselineSchema); err != nil {
		s.Close()
		return nil, err
	}
	if _, err := s.WriterDB().ExecContext(ctx, `INSERT INTO bench_balances VALUES ($1, $2)`, b.wsID, grantCredits); err != nil {
		s.Close()
		return nil, err
	}
	if b.listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		s.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /runs", b.create)
	b.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	go func() { b.served <- b.server.Serve(b.listener) }()
	return b, nil
}

func (b *pgBaseline) url() string { return "http://" + b.listener.Addr().String() }

func (b *pgBaseline) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.server.Shutdown(ctx)
	<-b.served //nolint:errcheck // http.ErrServerClosed after Shutdown
	b.store.Close()
}

// create: BEGIN; INSERT run; UPDATE balance guarded; COMMIT, and a JSON answer.
func (b *pgBaseline) create(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	id := ident.New("run_", now)
	err = func() error {
		tx, err := b.store.WriterDB().BeginTx(r.Context(), nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // a no-op after Commit
		if _, err := tx.ExecContext(r.Context(), `INSERT INTO bench_runs VALUES ($1, $2, 'pending', $3, $4)`,
			id, b.wsID, string(body), now.UnixMilli()); err != nil {
			return err
		}
		var balance int64
		if err := tx.QueryRowContext(r.Context(),
			`UPDATE bench_balances SET balance = balance - 1 WHERE workspace_id = $1 AND balance >= 1 RETURNING balance`,
			b.wsID).Scan(&balance); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"run_id":%q,"status":"pending","created_at":%d,"poll_url":"http://%s/runs/%s"}`, id, now.UnixMilli(), r.Host, id)
}
