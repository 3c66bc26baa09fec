package app_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/provider/providerfake"
)

const replicateTechnique = `slug: replicate-image
name: Replicate Image
credits: 4
inputs:
  - {id: prompt, name: Prompt, type: text}
outputs:
  - {id: image, name: Image, type: imageUrl, from: steps.generate.image}
steps:
  - id: generate
    model: replicate.predict
    inputs: {prompt: inputs.prompt}
    params: {model: black-forest-labs/flux-schnell, arguments: {aspect_ratio: "1:1"}}
`

// setupReplicate starts a fake Replicate and florad with polls a minute
// apart: a run that ends within seconds was woken by the webhook.
func setupReplicate(t *testing.T, pg bool) (*testBundle, *providerfake.Replicate) {
	t.Helper()
	rep := providerfake.NewReplicate("r8_test")
	t.Cleanup(rep.Close)
	b := setupWith(t, setupOpts{postgres: pg, credits: 100, configure: func(c *app.Config) {
		c.Providers.Replicate = provider.ReplicateConfig{BaseURL: rep.URL(), Token: "r8_test", WebhookSecret: rep.WebhookSecret}
		c.ProviderPollMin, c.ProviderPollMax = time.Minute, time.Minute
	}})
	_, _, err := b.app.Techniques.Apply(context.Background(), b.app.Store, b.wsID, "replicate-image.yaml", []byte(replicateTechnique))
	require.NoError(t, err)
	return b, rep
}

func TestReplicateWebhookWakesTheRun(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b, rep := setupReplicate(t, pg)
		rep.RunTime = 300 * time.Millisecond
		ctx := context.Background()
		start := time.Now()
		created, err := b.client.Runs.Create(ctx, "replicate-image", promptRun("a red door"))
		require.NoError(t, err)
		r := b.wait(t, b.client, "replicate-image", created.RunID)
		require.Equal(t, client.StatusCompleted, r.Status, "%s: %s", r.ErrorCode, r.ErrorMessage)
		require.Less(t, time.Since(start), 30*time.Second, "woken by the webhook, not by the minute-long poll")
		require.Equal(t, int64(1), rep.Webhooks.Load())
		require.Equal(t, int64(1), rep.Submits.Load())
		require.Equal(t, providerfake.PNG("a red door"), b.fetchOutput(t, r.Outputs[0].URL))

		created, err = b.client.Runs.Create(ctx, "replicate-image", promptRun("x "+providerfake.PromptUnsafe))
		require.NoError(t, err)
		r = b.wait(t, b.client, "replicate-image", created.RunID)
		require.Equal(t, "safety_blocked", r.ErrorCode, r.ErrorMessage)
		require.Equal(t, int64(100-4), b.balance(t, b.wsID))
		b.requireLedgerExplainsBalance(t, b.wsID)
	})
}

func TestReplicateCancel(t *testing.T) {
	t.Parallel()
	b, rep := setupReplicate(t, false)
	rep.RunTime = time.Hour
	ctx := context.Background()
	created, err := b.client.Runs.Create(ctx, "replicate-image", promptRun("a slow one"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		calls, err := b.app.Store.StepCallList(ctx, created.RunID)
		return err == nil && len(calls) == 1 && calls[0].RequestID == "pred000001"
	}, patience, 10*time.Millisecond)
	_, err = b.client.Runs.Cancel(ctx, "replicate-image", created.RunID)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return rep.Cancels.Load() == 1 }, patience, 10*time.Millisecond,
		"POST /v1/predictions/{id}/cancel reached Replicate")
	require.Equal(t, int64(100), b.balance(t, b.wsID))
}

func TestReplicateWebhookSignature(t *testing.T) {
	t.Parallel()
	b, _ := setupReplicate(t, false)
	post := func(h http.Header) int {
		req, err := http.NewRequest(http.MethodPost, b.baseURL+"/provider-webhooks/replicate",
			bytes.NewReader([]byte(`{"id":"pred000001","status":"succeeded"}`)))
		require.NoError(t, err)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := b.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, post(http.Header{}))
	require.Equal(t, http.StatusUnauthorized, post(http.Header{"Webhook-Id": {"msg_1"},
		"Webhook-Timestamp": {"1700000000"}, "Webhook-Signature": {"v1,AAAA"}}))
}
