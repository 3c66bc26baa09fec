package app_test

import (
	"context"
	"encoding/json"
	"image"
	_ "image/png" // decodes the provider's outputs
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/provider/providerfake"
)

const falKey = "fal-test-key"

// setupFal starts a fake fal queue and florad configured to use it, with
// polls at most 200 ms apart.
func setupFal(t *testing.T, pg bool, concurrency int, edit func(*app.Config)) (*testBundle, *providerfake.Fal) {
	t.Helper()
	fal := providerfake.NewFal(falKey)
	t.Cleanup(fal.Close)
	b := setupWith(t, setupOpts{postgres: pg, credits: 100, configure: func(c *app.Config) {
		c.Providers.Fal = provider.FalConfig{QueueURL: fal.URL(), Key: falKey, Concurrency: concurrency}
		c.ProviderPollMax = 200 * time.Millisecond
		if edit != nil {
			edit(c)
		}
	}})
	return b, fal
}

// TestFalRunsWithoutHoldingAWorker runs fal techniques on one worker slot:
// both runs are submitted and wait at the provider at once (neither holds
// the slot while its model runs), each is submitted once, the queue
// position reaches the run's progress events, and the outputs are
// florad's own copies.
func TestFalRunsWithoutHoldingAWorker(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b, fal := setupFal(t, pg, 0, func(c *app.Config) { c.Concurrency = 1 })
		fal.QueueTime, fal.RunTime = 1500*time.Millisecond, 500*time.Millisecond
		fal.HoldQueued = true // a late first poll still sees the queue
		ctx := context.Background()
		var ids []string
		for _, p := range []string{"a red bicycle", "a blue kite"} {
			r, err := b.client.Runs.Create(ctx, "social-post-image", promptRun(p))
			require.NoError(t, err)
			ids = append(ids, r.RunID)
		}
		require.Eventually(t, func() bool { return fal.Submits.Load() == 2 }, patience, 10*time.Millisecond,
			"with one worker slot, the second run is submitted while the first waits on the provider")
		s, err := b.client.Runs.Events(ctx, "social-post-image", ids[0], "")
		require.NoError(t, err)
		events, err := s.ReadAll()
		require.NoError(t, err)
		var positions []int
		for _, e := range events {
			if e.Type != client.EventProgress {
				continue
			}
			var d struct {
				StepID         string `json:"step_id"`
				ProviderStatus string `json:"provider_status"`
				QueuePosition  *int   `json:"queue_position"`
			}
			require.NoError(t, json.Unmarshal(e.Data, &d))
			if d.QueuePosition != nil {
				require.Equal(t, "generate", d.StepID)
				require.Equal(t, "IN_QUEUE", d.ProviderStatus)
				positions = append(positions, *d.QueuePosition)
			}
		}
		require.NotEmpty(t, positions, "the queue position reached the run's events")
		for _, id := range ids {
			r := b.wait(t, b.client, "social-post-image", id)
			require.Equal(t, client.StatusCompleted, r.Status, "%s: %s", r.ErrorCode, r.ErrorMessage)
			require.Equal(t, int64(8), *r.ChargedCredits)
			byID := map[string]client.Output{}
			for _, o := range r.Outputs {
				byID[o.OutputID] = o
			}
			require.Contains(t, byID["full_prompt"].URL, "editorial photograph", "the local step's text")
			require.True(t, strings.HasPrefix(byID["post_image"].URL, b.baseURL+"/files/"), "florad's copy, not the provider's URL")
			cfg, format, err := image.DecodeConfig(strings.NewReader(string(b.fetchOutput(t, byID["post_image"].URL))))
			require.NoError(t, err)
			require.Equal(t, "jpeg", format, "the local step after the provider's ran")
			require.Positive(t, cfg.Width)
		}
		require.Equal(t, int64(2), fal.Submits.Load(), "each run submitted exactly once")
		require.Equal(t, int64(100-16), b.balance(t, b.wsID))
		b.requireLedgerExplainsBalance(t, b.wsID)
		n, err := b.app.Store.ProviderInFlight(ctx, "fal")
		require.NoError(t, err)
		require.Zero(t, n, "every slot freed")
	})
}

func TestFalFailuresRefund(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b, fal := setupFal(t, pg, 0, nil)
		fal.RunTime = 200 * time.Millisecond
		ctx := context.Background()
		for prompt, code := range map[string]string{
			"a cat " + providerfake.PromptFail:   "provider_error",
			"a cat " + providerfake.PromptUnsafe: "safety_blocked",
		} {
			created, err := b.client.Runs.Create(ctx, "social-post-image", promptRun(prompt))
			require.NoError(t, err)
			r := b.wait(t, b.client, "social-post-image", created.RunID)
			require.Equal(t, client.StatusFailed, r.Status)
			require.Equal(t, code, r.ErrorCode, r.ErrorMessage)
			require.Contains(t, r.ErrorMessage, "fal")
		}
		require.Equal(t, int64(100), b.balance(t, b.wsID), "both refunded")
		b.requireLedgerExplainsBalance(t, b.wsID)
		require.Contains(t, b.logs.String(), "The model could not process this prompt",
			"the provider's own message is kept for operators")
	})
}

// TestFalRateLimitedSubmit: 429s with Retry-After are waited out and the
// request sent again; only the accepted one counts.
func TestFalRateLimitedSubmit(t *testing.T) {
	t.Parallel()
	b, fal := setupFal(t, false, 0, nil)
	fal.RateLimit429.Store(2)
	start := time.Now()
	created, err := b.client.Runs.Create(context.Background(), "social-post-image", promptRun("a boat"))
	require.NoError(t, err)
	r := b.wait(t, b.client, "social-post-image", created.RunID)
	require.Equal(t, client.StatusCompleted, r.Status, "%s: %s", r.ErrorCode, r.ErrorMessage)
	require.Equal(t, int64(1), fal.Submits.Load())
	require.Less(t, fal.RateLimit429.Load(), int64(0), "both 429s were answered")
	require.GreaterOrEqual(t, time.Since(start), 2*time.Second, "Retry-After: 1 honoured twice")
}

// TestFalConcurrencyCap: with a cap of 1, three runs reach the provider one
// at a time and all complete.
func TestFalConcurrencyCap(t *testing.T) {
	t.Parallel()
	b, fal := setupFal(t, false, 1, nil)
	fal.RunTime = 300 * time.Millisecond
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		r, err := b.client.Runs.Create(ctx, "social-post-image", promptRun("a lamp "+string(rune('a'+i))))
		require.NoError(t, err)
		ids = append(ids, r.RunID)
	}
	maxSeen := 0
	done := 0
	deadline := time.Now().Add(patience)
	for done < 3 && time.Now().Before(deadline) {
		n, err := b.app.Store.ProviderInFlight(ctx, "fal")
		require.NoError(t, err)
		maxSeen = max(maxSeen, n)
		done = 0
		for _, id := range ids {
			r, err := b.client.Runs.Get(ctx, "social-post-image", id)
			require.NoError(t, err)
			if r.Status == client.StatusCompleted {
				done++
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, 3, done)
	require.Equal(t, 1, maxSeen, "never more than the cap in flight")
	require.Equal(t, int64(3), fal.Submits.Load())
}

// TestFalCancel: canceling a run waiting at fal cancels the request there
// and refunds the run.
func TestFalCancel(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b, fal := setupFal(t, pg, 0, nil)
		fal.QueueTime = time.Hour
		ctx := context.Background()
		created, err := b.client.Runs.Create(ctx, "social-post-image", promptRun("a slow one"))
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			calls, err := b.app.Store.StepCallList(ctx, created.RunID)
			return err == nil && len(calls) == 1 && calls[0].State == "submitted"
		}, patience, 10*time.Millisecond)
		r, err := b.client.Runs.Cancel(ctx, "social-post-image", created.RunID)
		require.NoError(t, err)
		require.Equal(t, "run_canceled", r.ErrorCode)
		require.Eventually(t, func() bool { return fal.Cancels.Load() == 1 }, patience, 10*time.Millisecond,
			"the cancel reached fal")
		_, canceled, ok := fal.Request("req-000001")
		require.True(t, ok)
		require.True(t, canceled)
		require.Eventually(t, func() bool {
			calls, err := b.app.Store.StepCallList(ctx, created.RunID)
			return err == nil && len(calls) == 0
		}, patience, 10*time.Millisecond, "the request is forgotten once canceled")
		require.Equal(t, int64(100), b.balance(t, b.wsID))
		b.requireLedgerExplainsBalance(t, b.wsID)
	})
}

// TestOpenAITechniques runs the OpenAI-compatible techniques against the
// fake: generation (b64_json), an edit of an input image (multipart) and
// chat.
func TestOpenAITechniques(t *testing.T) {
	t.Parallel()
	oa := providerfake.NewOpenAI("sk-test")
	t.Cleanup(oa.Close)
	b := setupWith(t, setupOpts{credits: 100, configure: func(c *app.Config) {
		c.Providers.OpenAI = provider.OpenAIConfig{BaseURL: oa.URL(), APIKey: "sk-test", Concurrency: 2}
	}})
	ctx := context.Background()

	created, err := b.client.Runs.Create(ctx, "text-to-image", promptRun("a lighthouse"))
	require.NoError(t, err)
	r := b.wait(t, b.client, "text-to-image", created.RunID)
	require.Equal(t, client.StatusCompleted, r.Status, "%s: %s", r.ErrorCode, r.ErrorMessage)
	require.Equal(t, providerfake.PNG("a lighthouse"), b.fetchOutput(t, r.Outputs[0].URL), "the model's image, copied")
	require.Equal(t, "gpt-image-1", oa.Last()["model"])
	require.Equal(t, "1024x1024", oa.Last()["size"])

	created, err = b.client.Runs.Create(ctx, "image-relight", &client.RunCreateParams{Mode: "async", Inputs: []client.Input{
		{ID: "input_image", Type: "imageUrl", Value: b.imageURL("portrait.png")},
		{ID: "lighting", Type: "text", Value: "golden hour from the left"}}})
	require.NoError(t, err)
	r = b.wait(t, b.client, "image-relight", created.RunID)
	require.Equal(t, client.StatusCompleted, r.Status, "%s: %s", r.ErrorCode, r.ErrorMessage)
	last := oa.Last()
	require.Contains(t, last["prompt"], "Relight this photo: golden hour from the left.")
	require.Equal(t, "image/png", last["image_type"], "the input image went to /images/edits")
	require.Positive(t, last["image_bytes"])

	created, err = b.client.Runs.Create(ctx, "llm-prompt-expander", promptRun("a fox"))
	require.NoError(t, err)
	r = b.wait(t, b.client, "llm-prompt-expander", created.RunID)
	require.Equal(t, client.StatusCompleted, r.Status, "%s: %s", r.ErrorCode, r.ErrorMessage)
	require.Contains(t, r.Outputs[0].URL, "a fox, cinematic lighting")

	created, err = b.client.Runs.Create(ctx, "text-to-image", promptRun("x "+providerfake.PromptUnsafe))
	require.NoError(t, err)
	r = b.wait(t, b.client, "text-to-image", created.RunID)
	require.Equal(t, "safety_blocked", r.ErrorCode)

	oa.RateLimit429.Store(1)
	created, err = b.client.Runs.Create(ctx, "llm-prompt-expander", promptRun("an owl"))
	require.NoError(t, err)
	r = b.wait(t, b.client, "llm-prompt-expander", created.RunID)
	require.Equal(t, client.StatusCompleted, r.Status, "a 429 is waited out: %s", r.ErrorMessage)
	require.Equal(t, int64(100-10-12-2-2), b.balance(t, b.wsID), "the blocked run refunded")
	b.requireLedgerExplainsBalance(t, b.wsID)
}

// TestProviderTechniquesUnavailable: without providers configured, their
// techniques are listed unavailable with the reason and refuse runs.
func TestProviderTechniquesUnavailable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req, err := http.NewRequest(http.MethodGet, b.baseURL+"/api/v1/techniques?limit=100", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.key)
	resp, err := b.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var list struct {
		Techniques []struct {
			Slug              string `json:"slug"`
			Available         bool   `json:"available"`
			UnavailableReason string `json:"unavailable_reason"`
		} `json:"techniques"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	reasons := map[string]string{}
	for _, tq := range list.Techniques {
		if !tq.Available {
			reasons[tq.Slug] = tq.UnavailableReason
		}
	}
	for _, slug := range []string{"text-to-image", "image-relight", "llm-prompt-expander"} {
		require.Contains(t, reasons[slug], "FLORA_OPENAI_API_KEY", slug)
	}
	require.Contains(t, reasons["social-post-image"], "FLORA_FAL_KEY")

	_, err = b.client.Runs.Create(context.Background(), "text-to-image", promptRun("a lighthouse"))
	var apiErr *client.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusBadRequest, apiErr.Status)
	require.Contains(t, apiErr.Message, "not configured")
	require.Equal(t, int64(startCredits), b.balance(t, b.wsID))
}
