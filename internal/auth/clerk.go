package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/florad/florad/internal/store"
)

// Errors of Clerk verification besides ErrInvalidKey.
var (
	// ErrUnavailable means the key could not be checked now (Clerk is
	// unreachable, slow, or answered 5xx): the API answers 503 with
	// retry-after, never 401 and never a pass.
	ErrUnavailable = errors.New("key verification unavailable")
	// ErrNoWorkspace means Clerk vouches for the key but its subject is
	// linked to no workspace (and workspaces are not made on first use).
	ErrNoWorkspace = errors.New("the key's Clerk subject is linked to no workspace")
)

// Defaults of ClerkConfig.
const (
	ClerkAPIURLDefault   = "https://api.clerk.com"
	ClerkCacheTTLDefault = 30 * time.Second
	ClerkTimeoutDefault  = 5 * time.Second
	// clerkCacheMax bounds the cache, so a flood of random tokens cannot
	// grow it without end.
	clerkCacheMax = 10_000
)

// SubjectResolver names the workspace a Clerk subject (org_... or
// user_...) speaks for; ErrNoWorkspace when it has none.
type SubjectResolver func(ctx context.Context, subject string) (workspaceID string, err error)

// ClerkConfig configures ClerkVerifier.
type ClerkConfig struct {
	// SecretKey is the Clerk instance's secret key (sk_...), sent as the
	// bearer token of Backend API calls.
	SecretKey string
	// APIURL is the Backend API's base. Defaults to ClerkAPIURLDefault.
	APIURL string
	// CacheTTL is how long a verification is reused; 0 verifies every
	// request with Clerk. A key revoked in Clerk stops working within it.
	CacheTTL time.Duration
	// NegativeTTL is how long a refusal is reused; it is shorter, so a
	// key that just became valid (or a subject just linked) works soon.
	// Defaults to CacheTTL/6.
	NegativeTTL time.Duration
	// Timeout bounds one call to Clerk; past it Clerk counts as down.
	// Defaults to ClerkTimeoutDefault.
	Timeout time.Duration
	// Resolve maps the key's subject to a workspace.
	Resolve SubjectResolver
	// Client defaults to a plain http.Client.
	Client *http.Client
	Logger *slog.Logger
	Now    func() time.Time
}

// ClerkVerifier verifies tokens with Clerk's Backend API,
// POST /v1/api_keys/verify, and caches the answers by the token's SHA-256
// (never the token itself) for a short time.
type ClerkVerifier struct {
	cfg ClerkConfig

	mu       sync.Mutex
	cache    map[[32]byte]clerkEntry
	inflight map[[32]byte]*clerkCall
	// downSince is when the current outage began; zero when Clerk
	// answers. The outage is logged when it begins and when it ends,
	// not per request.
	downSince time.Time
}

type clerkEntry struct {
	p       *Principal
	err     error // ErrInvalidKey or ErrNoWorkspace
	expires time.Time
}

// clerkCall is one verification in flight, shared by every request that
// presents the same token meanwhile.
type clerkCall struct {
	done chan struct{}
	p    *Principal
	err  error
}

// NewClerkVerifier checks the configuration and fills the defaults.
func NewClerkVerifier(cfg ClerkConfig) (*ClerkVerifier, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("clerk: a secret key is required")
	}
	if cfg.Resolve == nil {
		return nil, errors.New("clerk: a subject resolver is required")
	}
	if cfg.CacheTTL < 0 || cfg.NegativeTTL < 0 {
		return nil, errors.New("clerk: cache times must not be negative")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = ClerkAPIURLDefault
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if !strings.HasPrefix(cfg.APIURL, "https://") && !strings.HasPrefix(cfg.APIURL, "http://") {
		return nil, fmt.Errorf("clerk: API URL %q is not an http(s) URL", cfg.APIURL)
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = cfg.CacheTTL / 6
	}
	cfg.NegativeTTL = min(cfg.NegativeTTL, cfg.CacheTTL)
	if cfg.Timeout <= 0 {
		cfg.Timeout = ClerkTimeoutDefault
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &ClerkVerifier{cfg: cfg, cache: map[[32]byte]clerkEntry{}, inflight: map[[32]byte]*clerkCall{}}, nil
}

// Verify answers from the cache when it can, and otherwise asks Clerk,
// once for all the requests presenting the same token at the same time.
func (v *ClerkVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if !plausibleKey(token) {
		return nil, ErrInvalidKey
	}
	h := sha256.Sum256([]byte(token))
	now := v.cfg.Now()

	v.mu.Lock()
	if e, ok := v.cache[h]; ok {
		if now.Before(e.expires) {
			v.mu.Unlock()
			return e.p, e.err
		}
		delete(v.cache, h)
	}
	c, joined := v.inflight[h]
	if !joined {
		c = &clerkCall{done: make(chan struct{})}
		v.inflight[h] = c
	}
	v.mu.Unlock()

	if joined {
		select {
		case <-c.done:
			return c.p, c.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}

	// The call is shared, so one caller's cancellation must not fail the
	// others: it runs on its own deadline.
	c.p, c.err = v.verify(context.WithoutCancel(ctx), token)

	v.mu.Lock()
	delete(v.inflight, h)
	if ttl := v.ttlFor(c.err); ttl > 0 {
		if len(v.cache) >= clerkCacheMax {
			v.sweep(now)
		}
		v.cache[h] = clerkEntry{p: c.p, err: c.err, expires: now.Add(ttl)}
	}
	v.mu.Unlock()
	close(c.done)
	return c.p, c.err
}

// ttlFor is how long an outcome is reused: answers for their time,
// outages never (the next request asks again).
func (v *ClerkVerifier) ttlFor(err error) time.Duration {
	switch {
	case err == nil:
		return v.cfg.CacheTTL
	case errors.Is(err, ErrInvalidKey), errors.Is(err, ErrNoWorkspace):
		return v.cfg.NegativeTTL
	}
	return 0
}

// sweep drops expired entries, and everything if that is not enough.
func (v *ClerkVerifier) sweep(now time.Time) {
	for h, e := range v.cache {
		if !now.Before(e.expires) {
			delete(v.cache, h)
		}
	}
	if len(v.cache) >= clerkCacheMax {
		clear(v.cache)
	}
}

// clerkAPIKey is the API key object Clerk's verify endpoint answers with
// (the fields florad reads).
type clerkAPIKey struct {
	Object     string          `json:"object"`
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Subject    string          `json:"subject"`
	Scopes     []string        `json:"scopes"`
	Claims     json.RawMessage `json:"claims"`
	Revoked    bool            `json:"revoked"`
	Expired    bool            `json:"expired"`
	Expiration *int64          `json:"expiration"`
}

// clerkErrors is Clerk's error body.
type clerkErrors struct {
	Errors []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (v *ClerkVerifier) verify(ctx context.Context, token string) (*Principal, error) {
	k, err := v.call(ctx, token)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			v.noteDown(err)
		} else {
			v.noteUp()
		}
		return nil, err
	}
	v.noteUp()
	now := v.cfg.Now()
	if k.Revoked || k.Expired || (k.Expiration != nil && expired(*k.Expiration, now)) {
		return nil, ErrInvalidKey
	}
	ws, err := v.cfg.Resolve(ctx, k.Subject)
	if err != nil {
		if errors.Is(err, ErrNoWorkspace) {
			return nil, err
		}
		// Our own database failing is not Clerk's outage.
		return nil, fmt.Errorf("error finding the workspace of Clerk subject %s: %w", k.Subject, err)
	}
	return &Principal{KeyID: k.ID, WorkspaceID: ws, Source: SourceClerk, Scopes: clerkScopes(k.Scopes)}, nil
}

// expired reads Clerk's expiration, a unix time in milliseconds (seconds
// are accepted too, should a value be that small).
func expired(at int64, now time.Time) bool {
	if at < 1e11 {
		at *= 1000
	}
	return at <= now.UnixMilli()
}

// call makes the Backend API request and sorts its answer: the key, an
// ErrInvalidKey (Clerk refused the key), or an ErrUnavailable.
func (v *ClerkVerifier) call(ctx context.Context, token string) (*clerkAPIKey, error) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"secret": token})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.cfg.APIURL+"/v1/api_keys/verify", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Authorization", "Bearer "+v.cfg.SecretKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: Clerk unreachable: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading Clerk's answer: %w", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		var k clerkAPIKey
		if err := json.Unmarshal(raw, &k); err != nil || k.ID == "" || k.Subject == "" {
			return nil, fmt.Errorf("%w: Clerk answered 200 with no API key object", ErrUnavailable)
		}
		return &k, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		// Clerk refusing our secret key is our configuration, not the
		// caller's key: telling them their key is bad would be a lie.
		return nil, fmt.Errorf("%w: Clerk refused florad's secret key (%d %s)", ErrUnavailable, resp.StatusCode, clerkMessage(raw))
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, fmt.Errorf("%w: Clerk answered %d %s", ErrUnavailable, resp.StatusCode, clerkMessage(raw))
	case resp.StatusCode >= 400:
		// 400, 404, 410, 422: Clerk does not vouch for this secret
		// (unknown, malformed, revoked or expired).
		return nil, ErrInvalidKey
	}
	return nil, fmt.Errorf("%w: Clerk answered %d", ErrUnavailable, resp.StatusCode)
}

func clerkMessage(raw []byte) string {
	var e clerkErrors
	if json.Unmarshal(raw, &e) == nil && len(e.Errors) > 0 {
		return e.Errors[0].Code + ": " + e.Errors[0].Message
	}
	return ""
}

func (v *ClerkVerifier) noteDown(err error) {
	v.mu.Lock()
	first := v.downSince.IsZero()
	if first {
		v.downSince = v.cfg.Now()
	}
	v.mu.Unlock()
	if first {
		v.cfg.Logger.Error("Clerk key verification unavailable; Clerk keys get 503 until it answers again",
			"error", err.Error())
	}
}

func (v *ClerkVerifier) noteUp() {
	v.mu.Lock()
	since := v.downSince
	v.downSince = time.Time{}
	v.mu.Unlock()
	if !since.IsZero() {
		v.cfg.Logger.Info("Clerk key verification available again", "outage_seconds",
			v.cfg.Now().Sub(since).Seconds())
	}
}

// Chain verifies a token as a local key first and, when our table does not
// know it, with Clerk. Nothing about the token's spelling decides.
type Chain struct {
	Local *LocalVerifier
	Clerk *ClerkVerifier
}

// Verify implements Verifier.
func (c *Chain) Verify(ctx context.Context, token string) (*Principal, error) {
	p, err := c.Local.Verify(ctx, token)
	if errors.Is(err, errNotLocal) && c.Clerk != nil {
		return c.Clerk.Verify(ctx, token)
	}
	return p, err
}

// VerifyWithRun is LocalVerifier.VerifyWithRun, falling back to Clerk
// (without a prefetched run) for tokens that are not local keys.
func (c *Chain) VerifyWithRun(ctx context.Context, token, runID string) (*Principal, *store.Run, error) {
	p, run, err := c.Local.VerifyWithRun(ctx, token, runID)
	if errors.Is(err, errNotLocal) && c.Clerk != nil {
		p, err := c.Clerk.Verify(ctx, token)
		return p, nil, err
	}
	return p, run, err
}
