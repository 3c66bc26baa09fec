package app_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/auth/clerktest"
	"github.com/florad/florad/internal/workspace"
)

// clerkSetup starts florad with Clerk verification against a fake Clerk on
// loopback, a cache of ttl, and Clerk calls bounded by 500 ms.
func clerkSetup(t *testing.T, ttl time.Duration, configure func(*app.Config)) (*testBundle, *clerktest.Server) {
	t.Helper()
	fake := clerktest.Start(t)
	b := setupWith(t, setupOpts{configure: func(c *app.Config) {
		c.ClerkSecretKey, c.ClerkAPIURL, c.ClerkCacheTTL, c.ClerkTimeout = fake.SecretKey, fake.URL, ttl, 500*time.Millisecond
		if configure != nil {
			configure(c)
		}
	}})
	return b, fake
}

// rawGet sends one GET with a bearer token and returns the response.
func (b *testBundle) rawGet(t *testing.T, path, key string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, b.baseURL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := b.http.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// TestClerkKeys drives the API over HTTP with Clerk keys of every kind.
func TestClerkKeys(t *testing.T) {
	t.Parallel()
	b, fake := clerkSetup(t, 400*time.Millisecond, nil)
	ctx := context.Background()
	require.NoError(t, b.app.Workspaces.LinkClerkSubject(ctx, b.wsID, "org_acme"))
	past := time.Now().Add(-time.Minute).UnixMilli()
	fake.Add("ak_live_valid_0123456789", clerktest.Key{ID: "ak_valid", Subject: "org_acme"})
	fake.Add("ak_live_reader_0123456789", clerktest.Key{ID: "ak_reader", Subject: "org_acme", Scopes: []string{"runs:read", "techniques:read"}})
	fake.Add("ak_live_revoked_0123456789", clerktest.Key{ID: "ak_revoked", Subject: "org_acme", Revoked: true})
	fake.Add("ak_live_expired_0123456789", clerktest.Key{ID: "ak_expired", Subject: "org_acme", Expiration: &past})
	fake.Add("ak_live_stranger_0123456789", clerktest.Key{ID: "ak_stranger", Subject: "org_nobody"})
	// A Clerk key may look like a local one: nothing is decided from the
	// spelling.
	fake.Add("sk_live_lookslocal0123456789", clerktest.Key{ID: "ak_looks", Subject: "org_acme"})

	t.Run("Valid", func(t *testing.T) {
		for _, secret := range []string{"ak_live_valid_0123456789", "sk_live_lookslocal0123456789"} {
			c := b.newClient(secret)
			r, err := c.Runs.Create(ctx, "prompt-expander", promptRun("a cat"))
			require.NoError(t, err)
			require.Equal(t, "completed", b.wait(t, c, "prompt-expander", r.RunID).Status)
			w, err := c.Workspace(ctx)
			require.NoError(t, err)
			require.Equal(t, b.wsID, w.WorkspaceID)
			require.Equal(t, "clerk", w.Key.Source)
			require.Equal(t, auth.AllScopes(), w.Key.Scopes)
			require.Nil(t, w.Key.MaxCreditsPerDay)
			require.EqualValues(t, 1, w.Key.SpentToday)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		for _, secret := range []string{"ak_live_unknown_0123456789", "ak_live_revoked_0123456789", "ak_live_expired_0123456789"} {
			_, err := b.newClient(secret).Techniques.List(ctx, nil)
			apiError(t, err, http.StatusUnauthorized, "invalid_api_key")
		}
		_, err := b.newClient("ak_live_stranger_0123456789").Techniques.List(ctx, nil)
		e := apiError(t, err, http.StatusForbidden, "forbidden")
		require.Contains(t, e.Message, "linked to no workspace")
	})

	t.Run("Scopes", func(t *testing.T) {
		c := b.newClient("ak_live_reader_0123456789")
		_, err := c.Techniques.List(ctx, nil)
		require.NoError(t, err)
		_, err = c.Runs.Create(ctx, "prompt-expander", promptRun("a cat"))
		e := apiError(t, err, http.StatusForbidden, "forbidden")
		require.Equal(t, "This API key lacks the runs:write scope.", e.Message)
	})

	t.Run("RevokedInClerkStopsWithinTTL", func(t *testing.T) {
		fake.Add("ak_live_torevoke_0123456789", clerktest.Key{ID: "ak_torevoke", Subject: "org_acme"})
		c := b.newClient("ak_live_torevoke_0123456789")
		_, err := c.Techniques.List(ctx, nil)
		require.NoError(t, err)
		fake.Revoke("ak_live_torevoke_0123456789")
		deadline := time.Now().Add(patience)
		for {
			_, err = c.Techniques.List(ctx, nil)
			if err != nil {
				break
			}
			require.True(t, time.Now().Before(deadline))
			time.Sleep(50 * time.Millisecond)
		}
		apiError(t, err, http.StatusUnauthorized, "invalid_api_key")
	})
}

// TestClerkOutage: Clerk answering 5xx, too slowly, or not at all gets 503
// with retry-after for Clerk keys, never 401 and never a pass; local keys
// keep working; the outage is logged once, not per request.
func TestClerkOutage(t *testing.T) {
	t.Parallel()
	b, fake := clerkSetup(t, -1, nil) // no cache: every request asks Clerk
	ctx := context.Background()
	require.NoError(t, b.app.Workspaces.LinkClerkSubject(ctx, b.wsID, "org_acme"))
	const secret = "ak_live_valid_0123456789"
	fake.Add(secret, clerktest.Key{ID: "ak_valid", Subject: "org_acme"})
	require.Equal(t, http.StatusOK, b.rawGet(t, "/api/v1/techniques", secret).StatusCode)

	fake.Fail(http.StatusInternalServerError)
	for range 5 {
		resp := b.rawGet(t, "/api/v1/techniques", secret)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
	}
	fake.Fail(0)
	fake.Delay(2 * time.Second)
	resp := b.rawGet(t, "/api/v1/techniques", secret)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "slower than the Clerk timeout")
	fake.Delay(0)
	_, err := b.newClient("ak_live_unknown_0123456789").Techniques.List(ctx, nil, client.WithHeader("X-Test", "1"))
	apiError(t, err, http.StatusUnauthorized, "invalid_api_key")

	// Local keys do not depend on Clerk.
	fake.Fail(http.StatusBadGateway)
	_, err = b.client.Techniques.List(ctx, nil)
	require.NoError(t, err)
	resp = b.rawGet(t, "/api/v1/techniques", secret)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	fake.Fail(0)
	require.Equal(t, http.StatusOK, b.rawGet(t, "/api/v1/techniques", secret).StatusCode)

	logs := b.logs.String()
	require.Equal(t, 2, strings.Count(logs, "Clerk key verification unavailable"), "one line per outage (two outages): %s", logs)
	require.Equal(t, 2, strings.Count(logs, "Clerk key verification available again"))
	require.NotContains(t, logs, `"msg":"request failed"`, "no error line per refused request")

	// Nothing listening at all.
	fake.Close()
	resp = b.rawGet(t, "/api/v1/techniques", secret)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// TestClerkAutoWorkspace: with auto workspaces on, a subject's first
// requests (all at once) make exactly one workspace with the starting
// balance.
func TestClerkAutoWorkspace(t *testing.T) {
	t.Parallel()
	b, fake := clerkSetup(t, 0, func(c *app.Config) { c.ClerkAutoWorkspace, c.ClerkStartingCredits = true, 50 })
	ctx := context.Background()
	fake.Add("ak_live_a_0123456789abc", clerktest.Key{ID: "ak_a", Subject: "org_fresh"})
	fake.Add("ak_live_b_0123456789abc", clerktest.Key{ID: "ak_b", Subject: "org_fresh"})
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[string]int{}
	)
	for i := range 10 {
		secret := []string{"ak_live_a_0123456789abc", "ak_live_b_0123456789abc"}[i%2]
		wg.Go(func() {
			w, err := b.newClient(secret).Workspace(ctx)
			if !assertNoError(t, err) {
				return
			}
			mu.Lock()
			ids[w.WorkspaceID]++
			mu.Unlock()
			if w.CreditBalance != 50 {
				t.Errorf("balance %d, want 50", w.CreditBalance)
			}
		})
	}
	wg.Wait()
	require.Len(t, ids, 1, "one workspace for the subject: %v", ids)
	for id := range ids {
		b.requireLedgerExplainsBalance(t, id)
	}
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

// TestKeyDailyCap: many creates at once with a capped key never spend past
// the cap; the refused ones get 402 with the key's figures and leave the
// workspace's balance alone. Raising the cap later lets more through.
func TestKeyDailyCap(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{}.on(pg))
		ctx := context.Background()
		capped := int64(6)
		k, err := b.app.Workspaces.CreateKeyWith(ctx, b.wsID, workspace.KeyOptions{MaxCreditsPerDay: &capped})
		require.NoError(t, err)
		c := b.newClient(k.Key)

		const n = 20
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			errs    = make([]error, n)
			created = make([]*client.Run, n)
		)
		for i := range n {
			wg.Go(func() {
				<-start
				created[i], errs[i] = c.Runs.Create(ctx, "prompt-expander", promptRun("a cat"))
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
				continue
			}
			e := apiError(t, err, http.StatusPaymentRequired, "insufficient_credits")
			require.EqualValues(t, 1, *e.Required, "create %d", i)
			require.EqualValues(t, 0, *e.Available, "create %d: the key has nothing left today", i)
			require.Contains(t, e.Message, "API key may spend 6 credits a day")
		}
		require.Equal(t, 6, ok, "exactly the cap's worth of 1-credit runs")
		for _, r := range created {
			if r != nil {
				b.wait(t, c, "prompt-expander", r.RunID)
			}
		}
		require.EqualValues(t, startCredits-6, b.balance(t, b.wsID), "refused creates leave the balance alone")
		require.Equal(t, 6, b.countRuns(t, b.wsID))
		b.requireLedgerExplainsBalance(t, b.wsID)
		w, err := c.Workspace(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 6, w.Key.SpentToday)
		require.EqualValues(t, 6, *w.Key.MaxCreditsPerDay)

		// The workspace's other keys are not capped by this one's.
		_, err = b.client.Runs.Create(ctx, "prompt-expander", promptRun("a dog"))
		require.NoError(t, err)

		// Raised later, the cap takes effect on the next request.
		more := int64(7)
		_, err = b.app.Workspaces.UpdateKey(ctx, k.KeyID, nil, &more, false)
		require.NoError(t, err)
		_, err = c.Runs.Create(ctx, "prompt-expander", promptRun("one more"))
		require.NoError(t, err)
		_, err = c.Runs.Create(ctx, "prompt-expander", promptRun("and another"))
		apiError(t, err, http.StatusPaymentRequired, "insufficient_credits")
	})
}

// TestKeyDailyCapRefund: a refunded run gives its credits back to the key's
// day as well as to the workspace, so the key may spend them again.
func TestKeyDailyCapRefund(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, noWorkers(0).on(pg))
		ctx := context.Background()
		capped := int64(5)
		k, err := b.app.Workspaces.CreateKeyWith(ctx, b.wsID, workspace.KeyOptions{MaxCreditsPerDay: &capped})
		require.NoError(t, err)
		c := b.newClient(k.Key)

		first, err := c.Runs.Create(ctx, "portrait-enhancer", portraitRun(b.imageURL("portrait.png")))
		require.NoError(t, err)
		_, err = c.Runs.Create(ctx, "portrait-enhancer", portraitRun(b.imageURL("portrait.png")))
		apiError(t, err, http.StatusPaymentRequired, "insufficient_credits")

		canceled, err := c.Runs.Cancel(ctx, "portrait-enhancer", first.RunID)
		require.NoError(t, err)
		require.Equal(t, "run_canceled", canceled.ErrorCode)
		w, err := c.Workspace(ctx)
		require.NoError(t, err)
		require.Zero(t, w.Key.SpentToday, "the refund is the key's too")

		_, err = c.Runs.Create(ctx, "portrait-enhancer", portraitRun(b.imageURL("portrait.png")))
		require.NoError(t, err, "the refunded credits fit under the cap again")
		w, err = c.Workspace(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 5, w.Key.SpentToday)
		require.EqualValues(t, startCredits-5, b.balance(t, b.wsID))
		b.requireLedgerExplainsBalance(t, b.wsID)
	})
}
