package app_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/openapitest"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/pgtest"
)

// These are florad's integration tests: each test starts the real app (the
// SQLite store in a temp folder, River workers, the HTTP server on a
// loopback port) and drives it over HTTP through the public Go client, as a
// customer would. Dev mode is on so that input images can be served from a
// loopback httptest server.

func TestMain(m *testing.M) {
	dir, err := migratedTemplate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error preparing the template database:", err)
		os.Exit(1)
	}
	templateDir = dir
	if oursSpec, err = openapitest.Ours(); err == nil {
		floraSpec, err = openapitest.Flora()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error loading the OpenAPI documents:", err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// templateDir holds a data folder whose database is fully migrated. Every
// setup starts from a copy of it: migrating a fresh SQLite database is
// most of an app's start (seconds under the race detector), and the tests
// here are about the API, not migrations, which cmd/florad's first-start
// test and the store's own tests exercise on empty folders.
var templateDir string //nolint:gochecknoglobals // set once by TestMain, read-only after

func migratedTemplate() (string, error) {
	dir, err := os.MkdirTemp("", "florad-app-template-")
	if err != nil {
		return "", err
	}
	s, err := app.OpenStore(context.Background(), app.Config{DataDir: dir})
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	if err := s.Close(); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// oursSpec and floraSpec are florad's OpenAPI document and FLORA's, loaded
// once by TestMain and only read after: every bundle's HTTP client checks
// each request it sends and each response it gets against them
// (openapitest), and a test whose traffic does not match fails.
var oursSpec, floraSpec *openapitest.Spec //nolint:gochecknoglobals // set once by TestMain, read-only after

// copyTemplate copies the template's files (not its folders) into dir.
func copyTemplate(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(templateDir)
	require.NoError(t, err)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(templateDir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600))
	}
}

// startCredits is the balance of the workspace setup creates.
const startCredits = 100

// patience bounds every wait of these tests. It is only reached when
// something is broken, so it is generous: under the race detector on a
// busy two-core machine a run that takes milliseconds can take seconds.
const patience = 2 * time.Minute

// testBundle is one running florad and a workspace with a key on it.
type testBundle struct {
	app     *app.App
	baseURL string
	// client uses the workspace's key.
	client *client.Client
	// http is the bundle's own HTTP client, closed at cleanup.
	http  *http.Client
	wsID  string
	keyID string
	key   string
	// images serves test inputs on 127.0.0.1.
	images *httptest.Server
	logs   *syncBuffer
	cfg    app.Config
	// openapi checks the traffic of http against the OpenAPI documents.
	openapi *openapitest.Checker
	// stop shuts the app down (as SIGTERM does) and returns what Run
	// returned; cleanup calls it too.
	stop func() error
}

// setupOpts changes what setupWith starts.
type setupOpts struct {
	// configure edits the app's Config before the app is built.
	configure func(*app.Config)
	// credits is the workspace's starting balance; 0 means startCredits.
	credits int64
	// postgres puts the app on a database of its own on
	// FLORA_TEST_DATABASE_URL (the test skips without it) instead of SQLite.
	postgres bool
}

// on returns o on PostgreSQL when pg is set.
func (o setupOpts) on(pg bool) setupOpts {
	o.postgres = pg
	return o
}

// onBackends runs fn as two parallel subtests, on SQLite and on PostgreSQL:
// the suites about money, idempotency, cancel and streams hold on both.
func onBackends(t *testing.T, fn func(t *testing.T, pg bool)) {
	t.Helper()
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, pg)
		})
	}
}

// setup starts an app with Dev on and a workspace holding startCredits.
func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupWith(t, setupOpts{})
}

func setupWith(t testing.TB, o setupOpts) *testBundle {
	t.Helper()
	logs := &syncBuffer{}
	dataDir := t.TempDir()
	copyTemplate(t, dataDir)
	cfg := app.Config{
		Addr: "127.0.0.1:0", DataDir: dataDir, Dev: true, Workers: true,
		SQLiteSynchronous: "NORMAL", ShutdownTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if o.postgres {
		cfg.DatabaseURL = pgtest.NewDatabase(t)
	}
	if o.configure != nil {
		o.configure(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	checker := openapitest.NewChecker(oursSpec, floraSpec)
	hc := &http.Client{Transport: checker.Transport(t, transport), Timeout: patience}
	images := httptest.NewServer(imageHandler(t))

	var (
		stopOnce sync.Once
		runErr   error
	)
	stop := func() error {
		stopOnce.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(patience):
				runErr = fmt.Errorf("app.Run did not return within %s of its context ending", patience)
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		images.Close()
		transport.CloseIdleConnections()
		require.NoError(t, stop())
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})

	credits := o.credits
	if credits == 0 {
		credits = startCredits
	}
	b := &testBundle{app: a, baseURL: "http://" + a.Addr(), http: hc, images: images, logs: logs, cfg: cfg, stop: stop,
		openapi: checker}
	b.wsID, b.keyID, b.key = b.newWorkspace(t, credits)
	b.client = b.newClient(b.key)
	return b
}

// newWorkspace creates a workspace with credits (zero or negative: none)
// and a key.
func (b *testBundle) newWorkspace(t testing.TB, credits int64) (wsID, keyID, key string) {
	t.Helper()
	ctx := context.Background()
	w, err := b.app.Workspaces.Create(ctx, "Test "+t.Name(), max(credits, 0))
	require.NoError(t, err)
	k, err := b.app.Workspaces.CreateKey(ctx, w.ID)
	require.NoError(t, err)
	return w.ID, k.KeyID, k.Key
}

func (b *testBundle) newClient(key string) *client.Client {
	c := client.New(b.baseURL, key, b.http)
	c.PollInterval = 20 * time.Millisecond
	return c
}

func (b *testBundle) balance(t *testing.T, wsID string) int64 {
	t.Helper()
	n, err := b.app.Workspaces.Balance(context.Background(), wsID)
	require.NoError(t, err)
	return n
}

func (b *testBundle) ledger(t *testing.T, wsID string) []*store.LedgerEntry {
	t.Helper()
	l, err := b.app.Store.LedgerList(context.Background(), wsID)
	require.NoError(t, err)
	return l
}

// requireLedgerExplainsBalance checks that the ledger sums to the balance
// and that no entry ever left the balance below zero.
func (b *testBundle) requireLedgerExplainsBalance(t *testing.T, wsID string) {
	t.Helper()
	var sum int64
	for _, e := range b.ledger(t, wsID) {
		sum += e.Amount
		require.GreaterOrEqual(t, e.BalanceAfter, int64(0), "ledger entry %d overdrew the balance", e.Seq)
		require.Equal(t, sum, e.BalanceAfter, "ledger entry %d: running sum and balance_after disagree", e.Seq)
	}
	require.Equal(t, sum, b.balance(t, wsID), "the ledger must sum to the balance")
}

// countLedger counts entries of a kind.
func (b *testBundle) countLedger(t *testing.T, wsID, kind string) int {
	t.Helper()
	n := 0
	for _, e := range b.ledger(t, wsID) {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// countRuns counts the workspace's runs straight from the store: "nothing
// created" must be checked where things would be created.
func (b *testBundle) countRuns(t *testing.T, wsID string) int {
	t.Helper()
	runs, err := b.app.Store.RunList(context.Background(), &store.RunListParams{WorkspaceID: wsID, Limit: 100_000})
	require.NoError(t, err)
	return len(runs)
}

// waitSettled waits until no run of the bundle's database is pending or
// running, so that the ledger stops moving.
func (b *testBundle) waitSettled(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pending, running, err := b.app.Store.RunCountOpen(context.Background())
		require.NoError(t, err)
		if pending+running == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d runs pending and %d running after 60 s", pending, running)
		time.Sleep(20 * time.Millisecond)
	}
}

// imageURL is the URL of one of the images imageHandler serves.
func (b *testBundle) imageURL(name string) string { return b.images.URL + "/" + name }

// wait polls the run to its end with a deadline.
func (b *testBundle) wait(t *testing.T, c *client.Client, slug, runID string) *client.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	r, err := c.WaitForRun(ctx, slug, runID)
	require.NoError(t, err)
	return r
}

// Test images: a gradient portrait stand-in, in PNG and JPEG.
const (
	testImageW = 64
	testImageH = 48
)

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, testImageW, testImageH))
	for y := range testImageH {
		for x := range testImageW {
			img.Set(x, y, color.RGBA{R: uint8(40 + x*2), G: uint8(60 + y*3), B: uint8(90 + (x+y)%50), A: 255})
		}
	}
	return img
}

func encodePNG(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, testImage()))
	return buf.Bytes()
}

func encodeJPEG(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, testImage(), &jpeg.Options{Quality: 90}))
	return buf.Bytes()
}

// imageHandler serves /portrait.png, /portrait.jpg, and /notes.txt, a text
// file named like nothing in particular.
func imageHandler(t testing.TB) http.Handler {
	pngData, jpegData := encodePNG(t), encodeJPEG(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/portrait.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pngData)
	})
	mux.HandleFunc("/portrait.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(jpegData)
	})
	mux.HandleFunc("/notes.txt", func(w http.ResponseWriter, r *http.Request) {
		// Claims to be an image; the content says otherwise.
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("These are plain notes, not a picture.\n"))
	})
	return mux
}

// closedPortURL is an http URL on loopback where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr + "/portrait.png"
}

// apiError asserts err is an API error with the status and code.
func apiError(t *testing.T, err error, status int, code string) *client.APIError {
	t.Helper()
	require.Error(t, err)
	e := client.AsAPIError(err)
	require.NotNil(t, e, "not an API error: %v", err)
	require.Equal(t, status, e.Status, "status of %v (body %s)", err, e.Body)
	require.Equal(t, code, e.Code, "code of %v", err)
	require.Regexp(t, `^req_\S+$`, e.RequestID, "errors carry a request id too")
	return e
}

func promptRun(prompt string) *client.RunCreateParams {
	return &client.RunCreateParams{Inputs: []client.Input{{ID: "prompt", Type: "text", Value: prompt}}, Mode: "async"}
}

// syncBuffer collects logs from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
