package auth_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/auth/clerktest"
)

// clock is a settable time for cache tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type clerkBundle struct {
	fake  *clerktest.Server
	clock *clock
	logs  *syncBuffer
	links map[string]string
	v     *auth.ClerkVerifier
}

func clerkSetup(t *testing.T, mutate ...func(*auth.ClerkConfig)) *clerkBundle {
	t.Helper()
	b := &clerkBundle{fake: clerktest.Start(t), clock: &clock{now: time.Now()}, logs: &syncBuffer{},
		links: map[string]string{"org_acme": "ws_acme", "user_ann": "ws_ann"}}
	cfg := auth.ClerkConfig{
		SecretKey: b.fake.SecretKey, APIURL: b.fake.URL, CacheTTL: 30 * time.Second, Timeout: 2 * time.Second,
		Now: b.clock.Now, Logger: slog.New(slog.NewTextHandler(b.logs, nil)),
		Resolve: func(_ context.Context, subject string) (string, error) {
			if ws, ok := b.links[subject]; ok {
				return ws, nil
			}
			return "", auth.ErrNoWorkspace
		},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	v, err := auth.NewClerkVerifier(cfg)
	require.NoError(t, err)
	b.v = v
	return b
}

const (
	validSecret   = "ak_valid_0123456789abcdef"
	revokedSecret = "ak_revoked_0123456789abcdef"
	expiredSecret = "ak_expired_0123456789abcdef"
)

func (b *clerkBundle) keys() {
	past := time.Now().Add(-time.Hour).UnixMilli()
	b.fake.Add(validSecret, clerktest.Key{ID: "ak_1", Subject: "org_acme", Scopes: []string{"runs:read", "billing:admin"}})
	b.fake.Add(revokedSecret, clerktest.Key{ID: "ak_2", Subject: "org_acme", Revoked: true})
	b.fake.Add(expiredSecret, clerktest.Key{ID: "ak_3", Subject: "org_acme", Expiration: &past})
}

func TestClerkVerifierValidKey(t *testing.T) {
	t.Parallel()
	b := clerkSetup(t)
	b.keys()
	b.fake.Add("ak_noscopes_0123456789ab", clerktest.Key{ID: "ak_4", Subject: "user_ann"})

	p, err := b.v.Verify(t.Context(), validSecret)
	require.NoError(t, err)
	require.Equal(t, &auth.Principal{KeyID: "ak_1", WorkspaceID: "ws_acme", Source: auth.SourceClerk,
		Scopes: []string{"runs:read"}}, p, "Clerk scopes that are not ours are ignored")

	p, err = b.v.Verify(t.Context(), "ak_noscopes_0123456789ab")
	require.NoError(t, err)
	require.Equal(t, "ws_ann", p.WorkspaceID)
	require.Equal(t, auth.AllScopes(), p.Scopes, "a Clerk key without scopes holds all of ours")
}

func TestClerkVerifierRefusals(t *testing.T) {
	t.Parallel()
	for _, asObject := range []bool{false, true} {
		b := clerkSetup(t)
		b.keys()
		b.fake.InvalidAsObject(asObject)
		for name, secret := range map[string]string{
			"unknown": "ak_unknown_0123456789abcdef", "revoked": revokedSecret, "expired": expiredSecret,
			"too short": "ak_x", "whitespace": "ak_valid 0123456789abcdef",
		} {
			_, err := b.v.Verify(t.Context(), secret)
			require.ErrorIs(t, err, auth.ErrInvalidKey, "%s (as object: %v)", name, asObject)
		}
	}

	// A good key of a subject no workspace is linked to.
	b := clerkSetup(t)
	b.fake.Add(validSecret, clerktest.Key{ID: "ak_9", Subject: "org_stranger"})
	_, err := b.v.Verify(t.Context(), validSecret)
	require.ErrorIs(t, err, auth.ErrNoWorkspace)
	require.NotErrorIs(t, err, auth.ErrInvalidKey)
}

// TestClerkVerifierCacheAndRevocation: answers are reused for the TTL, by
// the key's hash; a key revoked in Clerk stops working when its entry
// ends; refusals are reused for less.
func TestClerkVerifierCacheAndRevocation(t *testing.T) {
	t.Parallel()
	b := clerkSetup(t)
	b.keys()

	for range 5 {
		_, err := b.v.Verify(t.Context(), validSecret)
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, b.fake.Calls(), "one call to Clerk for five verifications")

	b.fake.Revoke(validSecret)
	b.clock.Add(29 * time.Second)
	_, err := b.v.Verify(t.Context(), validSecret)
	require.NoError(t, err, "within the TTL the cached answer stands")
	b.clock.Add(2 * time.Second)
	_, err = b.v.Verify(t.Context(), validSecret)
	require.ErrorIs(t, err, auth.ErrInvalidKey, "past the TTL the revocation shows")
	require.EqualValues(t, 2, b.fake.Calls())

	// A refusal is cached for CacheTTL/6 = 5 s.
	const later = "ak_later_0123456789abcdef"
	_, err = b.v.Verify(t.Context(), later)
	require.ErrorIs(t, err, auth.ErrInvalidKey)
	b.fake.Add(later, clerktest.Key{ID: "ak_5", Subject: "org_acme"})
	b.clock.Add(4 * time.Second)
	_, err = b.v.Verify(t.Context(), later)
	require.ErrorIs(t, err, auth.ErrInvalidKey)
	b.clock.Add(2 * time.Second)
	_, err = b.v.Verify(t.Context(), later)
	require.NoError(t, err, "the refusal expired after 5 s, sooner than an answer would")
}

func TestClerkVerifierNoCache(t *testing.T) {
	t.Parallel()
	b := clerkSetup(t, func(c *auth.ClerkConfig) { c.CacheTTL = 0 })
	b.keys()
	_, err := b.v.Verify(t.Context(), validSecret)
	require.NoError(t, err)
	b.fake.Revoke(validSecret)
	_, err = b.v.Verify(t.Context(), validSecret)
	require.ErrorIs(t, err, auth.ErrInvalidKey, "with TTL 0 a revocation shows at once")
	require.EqualValues(t, 2, b.fake.Calls())
}

// TestClerkVerifierOutage: 5xx, a slow Clerk, a refused secret key and a
// closed port are all ErrUnavailable (never ErrInvalidKey, never a pass),
// nothing about them is cached, and the outage is logged once when it
// begins and once when it ends.
func TestClerkVerifierOutage(t *testing.T) {
	t.Parallel()
	b := clerkSetup(t, func(c *auth.ClerkConfig) { c.Timeout = 200 * time.Millisecond })
	b.keys()

	for _, status := range []int{500, 502, 503, 429} {
		b.fake.Fail(status)
		for range 3 {
			p, err := b.v.Verify(t.Context(), validSecret)
			require.ErrorIs(t, err, auth.ErrUnavailable, "status %d", status)
			require.NotErrorIs(t, err, auth.ErrInvalidKey)
			require.Nil(t, p)
		}
	}
	b.fake.Fail(0)
	b.fake.Delay(time.Second)
	_, err := b.v.Verify(t.Context(), validSecret)
	require.ErrorIs(t, err, auth.ErrUnavailable, "slower than the timeout")
	require.EqualValues(t, 13, b.fake.Calls(), "no outage answer was cached")
	require.Equal(t, 1, strings.Count(b.logs.String(), "level=ERROR"), b.logs.String())

	b.fake.Delay(0)
	_, err = b.v.Verify(t.Context(), validSecret)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(b.logs.String(), "level=INFO"), b.logs.String())

	// Clerk refusing florad's own secret key is not the caller's fault.
	wrong := clerkSetup(t, func(c *auth.ClerkConfig) { c.SecretKey = "sk_test_wrong" })
	wrong.keys()
	_, err = wrong.v.Verify(t.Context(), validSecret)
	require.ErrorIs(t, err, auth.ErrUnavailable)

	// Nothing listening.
	gone := clerkSetup(t)
	gone.keys()
	gone.fake.Close()
	_, err = gone.v.Verify(t.Context(), validSecret)
	require.ErrorIs(t, err, auth.ErrUnavailable)
}

// TestClerkVerifierSharesCalls: requests presenting the same token while
// it is being verified wait for the one call.
func TestClerkVerifierSharesCalls(t *testing.T) {
	t.Parallel()
	b := clerkSetup(t)
	b.keys()
	b.fake.Delay(200 * time.Millisecond)
	var (
		wg sync.WaitGroup
		ok atomic.Int64
	)
	for range 20 {
		wg.Go(func() {
			if _, err := b.v.Verify(t.Context(), validSecret); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 20, ok.Load())
	require.LessOrEqual(t, b.fake.Calls(), int64(2), "one call (two if a request came after the first finished)")
}

// TestChainLocalFirst: local keys never reach Clerk, revoked ones
// included; other tokens go to Clerk.
func TestChainLocalFirst(t *testing.T) {
	t.Parallel()
	lb := setup(t)
	k := lb.key(t)
	cb := clerkSetup(t)
	cb.keys()
	chain := &auth.Chain{Local: lb.verifier, Clerk: cb.v}

	p, err := chain.Verify(t.Context(), k.Key)
	require.NoError(t, err)
	require.Equal(t, auth.SourceLocal, p.Source)
	require.NoError(t, lb.workspaces.RevokeKey(t.Context(), k.KeyID))
	_, err = chain.Verify(t.Context(), k.Key)
	require.ErrorIs(t, err, auth.ErrInvalidKey)
	require.EqualValues(t, 0, cb.fake.Calls(), "a key our table knows is never sent to Clerk")

	p, err = chain.Verify(t.Context(), validSecret)
	require.NoError(t, err)
	require.Equal(t, auth.SourceClerk, p.Source)
	p, run, err := chain.VerifyWithRun(t.Context(), validSecret, "run_x")
	require.NoError(t, err)
	require.Nil(t, run)
	require.Equal(t, "ws_acme", p.WorkspaceID)
	_, err = chain.Verify(t.Context(), "ak_unknown_0123456789abcdef")
	require.ErrorIs(t, err, auth.ErrInvalidKey)
}

func TestNewClerkVerifierChecksConfig(t *testing.T) {
	t.Parallel()
	resolve := func(context.Context, string) (string, error) { return "", nil }
	for name, cfg := range map[string]auth.ClerkConfig{
		"no secret":    {Resolve: resolve},
		"no resolver":  {SecretKey: "sk"},
		"negative TTL": {SecretKey: "sk", Resolve: resolve, CacheTTL: -time.Second},
		"bad URL":      {SecretKey: "sk", Resolve: resolve, APIURL: "ftp://x"},
	} {
		_, err := auth.NewClerkVerifier(cfg)
		require.Error(t, err, name)
	}
	_ = http.StatusOK
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	got, err := auth.ParseScopes("techniques:read, runs:read runs:read")
	require.NoError(t, err)
	require.Equal(t, []string{"runs:read", "techniques:read"}, got)
	for _, bad := range []string{"", " , ", "runs:admin", "runs:read,runs:writ"} {
		_, err := auth.ParseScopes(bad)
		require.Error(t, err, bad)
	}
}
