package webhook_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/netguard"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/pgtest"
	"github.com/florad/florad/internal/store/sqlstore"
	"github.com/florad/florad/internal/webhook"
)

// testBundle is a real delivery pipeline: a SQLite store, a River client
// working the webhooks queue with a Deliverer, and one workspace.
type testBundle struct {
	ctx   context.Context
	store *sqlstore.Store
	river *river.Client[*sql.Tx]
	svc   *webhook.Service
	ws    *store.Workspace
}

type setupOpts struct {
	// schedule is the Deliverer's; nil means no retries at all.
	schedule []time.Duration
	// timeout is the attempt timeout. Defaults to 5 s.
	timeout time.Duration
	// policy is the client's. Defaults to http on 127.0.0.1 only: the real
	// guard, opened exactly as far as the test receivers need.
	policy *netguard.Policy
	// checkURL is the Deliverer's CheckURL.
	checkURL func(string) error
	// postgres runs the pipeline on a database of its own on
	// FLORA_TEST_DATABASE_URL (the test skips without it) instead of SQLite.
	postgres bool
	// wrapStore, when set, wraps the store the Deliverer writes through,
	// so a test can make its writes fail.
	wrapStore func(store.Store) store.Store
}

// loopbackPolicy allows plain http to 127.0.0.1 and nothing else private.
func loopbackPolicy() netguard.Policy {
	return netguard.Policy{AllowHTTP: true, AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
}

func setup(t *testing.T, o setupOpts) *testBundle {
	t.Helper()
	ctx := context.Background()
	var (
		s      *sqlstore.Store
		err    error
		driver riverdriver.Driver[*sql.Tx]
	)
	if o.postgres {
		s, err = sqlstore.OpenPostgres(ctx, sqlstore.PostgresConfig{URL: pgtest.NewDatabase(t)})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		driver = riverdatabasesql.New(s.WriterDB())
		require.NoError(t, sqlstore.MigrateRiver(ctx, driver))
	} else {
		s, err = sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: migratedDB(t, t.TempDir()), Synchronous: "NORMAL"})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		driver = riversqlite.New(s.WriterDB())
	}

	policy := loopbackPolicy()
	if o.policy != nil {
		policy = *o.policy
	}
	schedule := o.schedule
	if schedule == nil {
		schedule = []time.Duration{}
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	hc := netguard.NewClient(policy, netguard.ClientOptions{Timeout: timeout, FollowRedirects: false})
	var ds store.Store = s
	if o.wrapStore != nil {
		ds = o.wrapStore(s)
	}
	d := &webhook.Deliverer{Store: ds, Client: hc, CheckURL: o.checkURL, AttemptTimeout: timeout, Schedule: schedule}
	workers := river.NewWorkers()
	river.AddWorker(workers, d)
	rc, err := river.NewClient(driver, &river.Config{
		Logger:            slog.New(slog.DiscardHandler),
		Workers:           workers,
		Queues:            map[string]river.QueueConfig{webhook.QueueWebhooks: {MaxWorkers: 4}},
		JobTimeout:        -1,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 10 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, rc.Start(ctx))
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, rc.Stop(stop))
		hc.CloseIdleConnections()
	})

	b := &testBundle{ctx: ctx, store: s, river: rc, svc: &webhook.Service{Store: s, Jobs: rc}}
	b.ws = b.workspace(t)
	return b
}

func (b *testBundle) workspace(t *testing.T) *store.Workspace {
	t.Helper()
	var w *store.Workspace
	require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
		w, err = tx.WorkspaceInsert(b.ctx, &store.WorkspaceInsertParams{ID: ident.New("ws_", time.Now()), Name: "test",
			WebhookSecret: ident.Random("whsec_", 24), CreatedAt: time.Now().UnixMilli()})
		return err
	}))
	return w
}

// endRun creates a run of ws with callbackURL, ends it with status and
// enqueues its webhook in the same transaction, as run.FinishTx does.
func (b *testBundle) endRun(t *testing.T, ws *store.Workspace, callbackURL, status string) *store.WebhookDelivery {
	t.Helper()
	return b.endRunWith(t, ws, callbackURL, status, b.river)
}

// endRunWith is endRun with the webhook's job inserted through jobs.
func (b *testBundle) endRunWith(t *testing.T, ws *store.Workspace, callbackURL, status string,
	jobs webhook.JobInserter) *store.WebhookDelivery {
	t.Helper()
	now := time.Now()
	var d *store.WebhookDelivery
	require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) error {
		r, err := tx.RunInsert(b.ctx, &store.RunInsertParams{ID: ident.New("run_", now), WorkspaceID: ws.ID,
			TechniqueID: "tech_test", TechniqueSlug: "test", TechniqueVersion: "1",
			Inputs: []store.RunInput{{ID: "prompt", Type: "text", Value: "x"}}, Mode: "async",
			CallbackURL: callbackURL, Fingerprint: "fp", CreatedAt: now.UnixMilli()})
		if err != nil {
			return err
		}
		p := &store.RunFinishParams{RunID: r.ID, Status: status, At: now.UnixMilli()}
		if status == store.RunFailed {
			p.ErrorCode, p.ErrorMessage = "input_unreachable", "The input could not be fetched."
		}
		if r, err = tx.RunFinish(b.ctx, p); err != nil {
			return err
		}
		d, err = webhook.EnqueueTx(b.ctx, tx, jobs, r, now.UnixMilli())
		return err
	}))
	return d
}

// waitDelivery polls the delivery until cond holds, with a deadline.
func (b *testBundle) waitDelivery(t *testing.T, id string, cond func(d *store.WebhookDelivery) bool) *store.WebhookDelivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d, err := b.store.WebhookDeliveryGetByID(b.ctx, id)
		require.NoError(t, err)
		if cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "delivery never reached the expected state", "last: %+v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits for the delivery to reach state.
func (b *testBundle) waitState(t *testing.T, id, state string) *store.WebhookDelivery {
	t.Helper()
	return b.waitDelivery(t, id, func(d *store.WebhookDelivery) bool { return d.State == state })
}

// waitJobState waits for River to finalize the job in state.
func (b *testBundle) waitJobState(t *testing.T, jobID int64, state rivertype.JobState) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		j, err := b.river.JobGet(b.ctx, jobID)
		require.NoError(t, err)
		if j.State == state {
			return
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "job never reached the expected state", "want %s, last %s", state, j.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *testBundle) attempts(t *testing.T, deliveryID string) []*store.WebhookAttempt {
	t.Helper()
	as, err := b.store.WebhookAttemptList(b.ctx, []string{deliveryID})
	require.NoError(t, err)
	return as
}

// received is one request a receiver got.
type received struct {
	at     time.Time
	path   string
	method string
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint on 127.0.0.1 that records every request
// and counts connections, so tests can prove that none was ever opened.
type receiver struct {
	*httptest.Server
	accepted atomic.Int64
	mu       sync.Mutex
	reqs     []received
	arrived  chan struct{}
}

type countingListener struct {
	net.Listener
	r *receiver
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.r.accepted.Add(1)
	}
	return c, err
}

// newReceiver answers the nth request with handle(n, w, r), n from 0.
func newReceiver(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan struct{}, 100)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, received{at: time.Now(), path: r.URL.Path, method: r.Method, header: r.Header.Clone(), body: body})
		rc.mu.Unlock()
		rc.arrived <- struct{}{}
		handle(n, w, r)
	}))
	srv.Listener = &countingListener{Listener: srv.Listener, r: rc}
	srv.Start()
	t.Cleanup(srv.Close)
	rc.Server = srv
	return rc
}

// statusReceiver answers with statuses in turn, repeating the last one.
func statusReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	return newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(statuses[min(n, len(statuses)-1)])
	})
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// hookURL is the receiver's endpoint.
func (rc *receiver) hookURL() string { return rc.URL + "/hook" }
