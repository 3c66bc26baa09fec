package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/store"
)

func TestRunPromptExpanderCompletes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tech, err := b.client.Techniques.Get(ctx, "prompt-expander")
	require.NoError(t, err)

	created, err := b.client.Runs.Create(ctx, "prompt-expander", &client.RunCreateParams{Mode: "async",
		Inputs: []client.Input{{ID: "prompt", Type: "text", Value: "a lighthouse at dawn"}, {ID: "style", Type: "text", Value: "film noir"}}})
	require.NoError(t, err)
	require.Equal(t, client.StatusPending, created.Status)
	require.Equal(t, tech.TechniqueID, created.TechniqueID)
	require.NotZero(t, created.CreatedAt)
	require.Nil(t, created.ChargedCredits, "nothing is charged before the run ends")
	require.Equal(t, int64(startCredits)-tech.RunCredits, b.balance(t, b.wsID), "the cost is reserved at creation")

	r := b.wait(t, b.client, "prompt-expander", created.RunID)
	require.Equal(t, client.StatusCompleted, r.Status, "error %s: %s", r.ErrorCode, r.ErrorMessage)
	require.Equal(t, 100, r.Progress)
	require.Equal(t, created.RunID, r.RunID)
	require.Equal(t, created.CreatedAt, r.CreatedAt)
	require.NotNil(t, r.StartedAt)
	require.NotNil(t, r.CompletedAt)
	require.LessOrEqual(t, r.CreatedAt, *r.StartedAt)
	require.LessOrEqual(t, *r.StartedAt, *r.CompletedAt)
	require.Empty(t, r.ErrorCode)
	require.Len(t, r.Outputs, 1)
	require.Equal(t, "expanded_prompt", r.Outputs[0].OutputID)
	require.Equal(t, "text", r.Outputs[0].Type)
	require.True(t, strings.HasPrefix(r.Outputs[0].URL, "a lighthouse at dawn, film noir style"), "text output: %q", r.Outputs[0].URL)

	require.NotNil(t, r.ChargedCredits)
	require.Equal(t, tech.RunCredits, *r.ChargedCredits)
	require.NotNil(t, r.ChargedCost)
	require.InDelta(t, tech.RunCost, *r.ChargedCost, 1e-9)
	require.Equal(t, int64(startCredits)-tech.RunCredits, b.balance(t, b.wsID), "a completed run keeps its reservation")
	require.Equal(t, 1, b.countLedger(t, b.wsID, store.LedgerReserve))
	require.Equal(t, 1, b.countLedger(t, b.wsID, store.LedgerCharge))
	require.Zero(t, b.countLedger(t, b.wsID, store.LedgerRefund))
	b.requireLedgerExplainsBalance(t, b.wsID)
}

// TestRunPortraitEnhancer follows a media run from creation to its output
// file, checking progress and status only move forward on the way.
func TestRunPortraitEnhancer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tech, err := b.client.Techniques.Get(ctx, "portrait-enhancer")
	require.NoError(t, err)

	created, err := b.client.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{Mode: "async",
		Inputs: []client.Input{{ID: "input_image", Type: "IMAGE_URL", Value: b.imageURL("portrait.png")}}})
	require.NoError(t, err)

	statusRank := map[string]int{client.StatusPending: 0, client.StatusRunning: 1, client.StatusCompleted: 2, client.StatusFailed: 2}
	var (
		r        = created
		polls    int
		seen     []int
		deadline = time.Now().Add(patience)
	)
	for !r.Finished() {
		require.True(t, time.Now().Before(deadline), "run still %s after %s", r.Status, patience)
		time.Sleep(5 * time.Millisecond) // a poll interval, not a wait for a condition
		next, err := b.client.Runs.Get(ctx, "portrait-enhancer", created.RunID)
		require.NoError(t, err)
		polls++
		require.GreaterOrEqual(t, next.Progress, r.Progress, "progress must only grow")
		require.GreaterOrEqual(t, statusRank[next.Status], statusRank[r.Status], "status went back from %s to %s", r.Status, next.Status)
		require.GreaterOrEqual(t, next.Progress, 0)
		require.LessOrEqual(t, next.Progress, 100)
		if !next.Finished() {
			require.Empty(t, next.Outputs, "outputs are shown only once the run completes")
			require.Less(t, next.Progress, 100)
		}
		seen = append(seen, next.Progress)
		r = next
	}
	t.Logf("%d polls, progress %v", polls, seen)
	require.Equal(t, client.StatusCompleted, r.Status, "error %s: %s", r.ErrorCode, r.ErrorMessage)
	require.Equal(t, 100, r.Progress)
	require.Equal(t, tech.RunCredits, *r.ChargedCredits)
	require.InDelta(t, tech.RunCost, *r.ChargedCost, 1e-9)
	require.Equal(t, int64(startCredits)-tech.RunCredits, b.balance(t, b.wsID))

	require.Len(t, r.Outputs, 1)
	out := r.Outputs[0]
	require.Equal(t, "output_image", out.OutputID)
	require.Equal(t, "imageUrl", out.Type)
	require.True(t, strings.HasPrefix(out.URL, b.baseURL+"/files/"), "output URL %q must be absolute under the server", out.URL)

	// The file needs no API key: its signed URL is the credential. It can
	// be fetched more than once while the URL is valid.
	for range 2 {
		resp, err := b.http.Get(out.URL)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "body %s", body)
		require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(body))
		require.NoError(t, err, "the output is a JPEG")
		require.Equal(t, 2*testImageW, cfg.Width)
		require.Equal(t, 2*testImageH, cfg.Height)
	}

	t.Run("TamperedSignature", func(t *testing.T) {
		t.Parallel()
		u, err := url.Parse(out.URL)
		require.NoError(t, err)
		q := u.Query()
		sig := q.Get("signature")
		require.NotEmpty(t, sig)
		flipped := "0"
		if sig[0] == '0' {
			flipped = "1"
		}
		for name, mutate := range map[string]func(url.Values){
			"Signature":    func(v url.Values) { v.Set("signature", flipped+sig[1:]) },
			"NoSignature":  func(v url.Values) { v.Del("signature") },
			"LaterExpiry":  func(v url.Values) { v.Set("expires", "99999999999") },
			"PastExpiry":   func(v url.Values) { v.Set("expires", "1") },
			"OtherFile":    func(v url.Values) {},
			"NoQueryAtAll": func(v url.Values) { clear(v) },
		} {
			q := u.Query()
			mutate(q)
			bad := *u
			bad.RawQuery = q.Encode()
			if name == "OtherFile" {
				bad.Path = strings.Replace(bad.Path, "/files/", "/files/x", 1)
			}
			_, err := b.newClient("").Do(ctx, http.MethodGet, strings.TrimPrefix(bad.String(), b.baseURL), nil)
			e := apiError(t, err, http.StatusForbidden, "forbidden")
			require.Contains(t, e.Header.Get("Content-Type"), "application/json", name)
		}
	})
}

// TestRunCamelCase reads runs in the older camelCase form that FLORA
// clients pinned to Flora-Version 2026-05-11 expect.
func TestRunCamelCase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	camel := client.WithFloraVersion(client.FloraVersionCamelCase)

	created, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("a fox"), camel)
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(created.Response.Body, &raw))
	for _, k := range []string{"runId", "techniqueId", "status", "progress", "createdAt", "outputs", "pollUrl"} {
		require.Contains(t, raw, k)
	}
	for _, k := range []string{"run_id", "technique_id", "created_at", "poll_url"} {
		require.NotContains(t, raw, k)
	}

	done := b.wait(t, b.client, "prompt-expander", created.RunID)
	require.Equal(t, client.StatusCompleted, done.Status)
	r, err := b.client.Runs.Get(ctx, "prompt-expander", created.RunID, camel)
	require.NoError(t, err)
	raw = nil
	require.NoError(t, json.Unmarshal(r.Response.Body, &raw))
	for _, k := range []string{"runId", "techniqueId", "createdAt", "startedAt", "completedAt", "chargedCost", "chargedCredits", "pollUrl"} {
		require.Contains(t, raw, k)
	}
	for _, k := range []string{"run_id", "started_at", "completed_at", "charged_cost", "charged_credits", "poll_url"} {
		require.NotContains(t, raw, k)
	}
	outs := raw["outputs"].([]any)
	require.Len(t, outs, 1)
	require.Equal(t, map[string]any{"outputId": "expanded_prompt", "type": "text", "url": done.Outputs[0].URL}, outs[0])

	// Any other version, or none, gets today's snake_case.
	r, err = b.client.Runs.Get(ctx, "prompt-expander", created.RunID, client.WithFloraVersion("2026-06-11"))
	require.NoError(t, err)
	require.Contains(t, string(r.Response.Body), `"run_id"`)
	require.Contains(t, string(r.Response.Body), `"output_id"`)
}

func TestRunGetNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	mine, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("a cat"))
	require.NoError(t, err)
	_, err = b.client.Runs.Get(ctx, "prompt-expander", mine.RunID)
	require.NoError(t, err)

	_, _, otherKey := b.newWorkspace(t, 10)
	other := b.newClient(otherKey)

	for _, tc := range []struct {
		name      string
		c         *client.Client
		technique string
		runID     string
	}{
		{"OtherWorkspacesRun", other, "prompt-expander", mine.RunID},
		{"WrongTechnique", b.client, "portrait-enhancer", mine.RunID},
		{"UnknownTechnique", b.client, "no-such-technique", mine.RunID},
		{"UnknownRun", b.client, "prompt-expander", "run_doesnotexist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.c.Runs.Get(ctx, tc.technique, tc.runID)
			e := apiError(t, err, http.StatusNotFound, "not_found")
			require.NotContains(t, string(e.Body), mine.RunID, "a 404 never echoes whose run it is")
		})
	}

	t.Run("ByTechniqueID", func(t *testing.T) {
		t.Parallel()
		r, err := b.client.Runs.Get(ctx, "tech_prompt-expander", mine.RunID)
		require.NoError(t, err)
		require.Equal(t, mine.RunID, r.RunID)
	})
}
