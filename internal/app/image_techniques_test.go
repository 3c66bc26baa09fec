package app_test

import (
	"context"
	"image"
	_ "image/jpeg" // decodes the outputs
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
)

// outputSizes downloads each output and returns its decoded size by id.
func outputSizes(t *testing.T, b *testBundle, r *client.Run) map[string]image.Point {
	t.Helper()
	sizes := map[string]image.Point{}
	for _, o := range r.Outputs {
		resp, err := b.http.Get(o.URL)
		require.NoError(t, err)
		cfg, format, err := image.DecodeConfig(resp.Body)
		resp.Body.Close()
		require.NoError(t, err, "output %s", o.OutputID)
		require.Equal(t, "jpeg", format)
		sizes[o.OutputID] = image.Pt(cfg.Width, cfg.Height)
	}
	return sizes
}

func runImageTechnique(t *testing.T, b *testBundle, slug, inputID string) *client.Run {
	t.Helper()
	_, _, key := b.newWorkspace(t, 100)
	c := b.newClient(key)
	created, err := c.Runs.Create(context.Background(), slug, &client.RunCreateParams{Mode: "async",
		Inputs: []client.Input{{ID: inputID, Type: "imageUrl", Value: b.imageURL("portrait.png")}}})
	require.NoError(t, err)
	r := b.wait(t, c, slug, created.RunID)
	require.Equal(t, client.StatusCompleted, r.Status, "%s: %s", r.ErrorCode, r.ErrorMessage)
	return r
}

func TestProductShotTechnique(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sizes := outputSizes(t, b, runImageTechnique(t, b, "product-shot", "product_image"))
	large, small := sizes["large_image"], sizes["small_image"]
	require.Equal(t, large.X, large.Y, "square: padded to 1:1, nothing cropped")
	require.Equal(t, small.X, small.Y)
	require.LessOrEqual(t, large.X, 2048)
	require.LessOrEqual(t, small.X, 512)
	require.Less(t, small.X, large.X+1)
}

func TestSocialCropsTechnique(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sizes := outputSizes(t, b, runImageTechnique(t, b, "social-crops", "input_image"))
	require.Len(t, sizes, 3)
	for id, ratio := range map[string]float64{"square": 1, "portrait": 4.0 / 5, "story": 9.0 / 16} {
		s := sizes[id]
		require.Positive(t, s.X, id)
		require.InDelta(t, ratio, float64(s.X)/float64(s.Y), 0.02, "%s is %v", id, s)
	}
}

// A run past its deadline fails with run_timeout and is refunded.
func TestRunTimeout(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOpts{configure: func(c *app.Config) { c.RunTimeout = time.Millisecond }})
	wsID, _, key := b.newWorkspace(t, 100)
	c := b.newClient(key)
	created, err := c.Runs.Create(context.Background(), "prompt-expander", &client.RunCreateParams{Mode: "async",
		Inputs: []client.Input{{ID: "prompt", Type: "text", Value: "too late"}}})
	require.NoError(t, err)
	r := b.wait(t, c, "prompt-expander", created.RunID)
	require.Equal(t, client.StatusFailed, r.Status)
	require.Equal(t, "run_timeout", r.ErrorCode)
	require.Equal(t, int64(100), b.balance(t, wsID), "refunded")
	b.requireLedgerExplainsBalance(t, wsID)
}
