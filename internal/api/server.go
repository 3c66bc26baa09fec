// Package api is florad's HTTP surface: the route table, thin handlers that
// decode, call one service method and encode, the authentication middleware,
// and the single place public errors are built (errors.go).
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/asset"
	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/blob"
	"github.com/florad/florad/internal/console"
	"github.com/florad/florad/internal/metrics"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/webhook"
	"github.com/florad/florad/internal/workspace"
)

// Config holds the server's dependencies and settings. Handlers reach data
// only through the services: none of them sees the store.
type Config struct {
	Runs       *run.Service
	Workspaces *workspace.Service
	// Assets stores and lists uploads, and dates files for retention.
	Assets     *asset.Service
	Techniques *technique.Library
	Verifier   auth.Verifier
	Blobs      blob.Store
	// Files serves /files/ for local blobs; nil when blobs live elsewhere.
	Files *blob.Local
	// CheckCallbackURL decides whether a callback_url may be called.
	CheckCallbackURL func(string) error
	// Webhooks lists and redelivers the workspace's webhook deliveries.
	Webhooks *webhook.Service
	// ReplicateWebhookSecret, when set, verifies the webhooks Replicate
	// sends to POST /provider-webhooks/replicate; unset, the route
	// answers 404.
	ReplicateWebhookSecret string
	// Ready reports whether the server can do its work (the database
	// answers); /readyz shows it.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// PublicURL is the absolute base URL clients reach the server at, used
	// in poll_url and file URLs.
	PublicURL string
	// MaxBodyBytes bounds request bodies. Defaults to 1 MiB.
	MaxBodyBytes int64
	// MaxInputs bounds a run request's inputs[], checked before any item
	// is decoded. Defaults to technique.MaxInputsDefault, the limit the
	// run service applies.
	MaxInputs int
	// CreditPriceUSD converts credits to the USD figures of the API.
	// Defaults to 0.001.
	CreditPriceUSD float64
	// OutputURLTTL is how long an output URL stays valid. Defaults to 24 h.
	OutputURLTTL time.Duration
	// RateLimit is how many requests a second each workspace may make, on
	// average; 0 means no limit. RateBurst is how many at once, by default
	// twice RateLimit.
	RateLimit float64
	RateBurst int
	// MaxStreamsPerWorkspace bounds a workspace's open event streams on this
	// process. Defaults to MaxStreamsPerWorkspaceDefault.
	MaxStreamsPerWorkspace int
	// StreamAuthInterval is how often an open stream checks its key.
	// Defaults to StreamAuthIntervalDefault.
	StreamAuthInterval time.Duration
	// Metrics counts requests and open streams and is served at
	// /metrics; nil turns both off (/metrics then answers 404).
	Metrics *metrics.Metrics
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
}

// Defaults of Config.
const (
	MaxBodyBytesDefault   = 1 << 20
	CreditPriceUSDDefault = 0.001
	OutputURLTTLDefault   = 24 * time.Hour
)

// Server is the HTTP handler of the API.
type Server struct {
	Config
	logger  *slog.Logger
	router  chi.Router
	limiter *rateLimiter
	streams *streamLimiter
	// streamKeys checks open streams' keys, once per key.
	streamKeys *streamKeys
	console    *console.Console

	// openAPI is the served OpenAPI document, converted from YAML in New.
	openAPI    []byte
	openAPIErr error

	// metrics serves /metrics; nil when metrics are off.
	metrics http.Handler
	// routeNames caches route patterns by chi's pattern pieces (see
	// routeName).
	routeNames routeNames

	closeOnce sync.Once
	closing   chan struct{}
}

// New builds the server and its route table.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = MaxBodyBytesDefault
	}
	if cfg.MaxInputs <= 0 {
		cfg.MaxInputs = technique.MaxInputsDefault
	}
	if cfg.CreditPriceUSD <= 0 {
		cfg.CreditPriceUSD = CreditPriceUSDDefault
	}
	if cfg.OutputURLTTL <= 0 {
		cfg.OutputURLTTL = OutputURLTTLDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxStreamsPerWorkspace <= 0 {
		cfg.MaxStreamsPerWorkspace = MaxStreamsPerWorkspaceDefault
	}
	if cfg.StreamAuthInterval <= 0 {
		cfg.StreamAuthInterval = StreamAuthIntervalDefault
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &Server{Config: cfg, logger: cfg.Logger, limiter: newRateLimiter(cfg.RateLimit, cfg.RateBurst),
		streams: newStreamLimiter(cfg.MaxStreamsPerWorkspace), console: console.New(), closing: make(chan struct{})}
	s.openAPI, s.openAPIErr = servedOpenAPI(cfg.PublicURL)
	if cfg.Metrics != nil {
		s.metrics = cfg.Metrics.Handler(cfg.MetricsToken, s.handle(func(http.ResponseWriter, *http.Request) error {
			return errMetricsUnauthorized()
		}))
	}
	s.streamKeys = newStreamKeys(func(ctx context.Context, token string) error {
		_, err := s.Verifier.Verify(ctx, token)
		return err
	}, cfg.StreamAuthInterval)
	s.router = s.routes()
	return s
}

// CloseStreams ends every open event stream, each with a comment telling
// its client to reconnect (with Last-Event-ID) elsewhere, and refuses none
// of the other requests: an http.Server's shutdown waits for handlers, and
// a stream's would otherwise last as long as its run. Register it with
// http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() { s.closeOnce.Do(func() { close(s.closing) }) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handler that returns an error to http.HandlerFunc; the
// error, if any, is written by writeError.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func itoa(n int) string { return strconv.Itoa(n) }

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxPrincipal
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxRequestID).(string)
	return id
}

// principal is the caller authenticate verified; nil before it ran.
func principal(ctx context.Context) *auth.Principal {
	if h, ok := ctx.Value(ctxPrincipal).(*principalHolder); ok {
		return h.p
	}
	return nil
}
