package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/provider/providerfake"
)

// comfyTechnique is an img2img workflow in ComfyUI's API format, its
// prompt and image bound to the technique's inputs.
const comfyTechnique = `slug: comfy-restyle
name: Comfy Restyle
credits: 3
inputs:
  - {id: input_image, name: Image, type: imageUrl}
  - {id: prompt, name: Prompt, type: text}
outputs:
  - {id: image, name: Image, type: imageUrl, from: steps.restyle.image}
steps:
  - id: restyle
    model: comfyui.workflow
    inputs: {image: inputs.input_image, prompt: inputs.prompt}
    params:
      bindings: {prompt: "6.inputs.text", image: "10.inputs.image"}
      output_node: "9"
      workflow:
        "4": {class_type: CheckpointLoaderSimple, inputs: {ckpt_name: sd_xl_base_1.0.safetensors}}
        "10": {class_type: LoadImage, inputs: {image: placeholder.png}}
        "11": {class_type: VAEEncode, inputs: {pixels: ["10", 0], vae: ["4", 2]}}
        "6": {class_type: CLIPTextEncode, inputs: {text: "", clip: ["4", 1]}}
        "7": {class_type: CLIPTextEncode, inputs: {text: "blurry", clip: ["4", 1]}}
        "3": {class_type: KSampler, inputs: {seed: 1, steps: 20, cfg: 7, sampler_name: euler, scheduler: normal,
              denoise: 0.6, model: ["4", 0], positive: ["6", 0], negative: ["7", 0], latent_image: ["11", 0]}}
        "8": {class_type: VAEDecode, inputs: {samples: ["3", 0], vae: ["4", 2]}}
        "9": {class_type: SaveImage, inputs: {filename_prefix: florad, images: ["8", 0]}}
`

func setupComfy(t *testing.T) (*testBundle, *providerfake.ComfyUI) {
	t.Helper()
	comfy := providerfake.NewComfyUI()
	t.Cleanup(comfy.Close)
	b := setupWith(t, setupOpts{credits: 100, configure: func(c *app.Config) {
		c.Providers.ComfyUI = provider.ComfyUIConfig{URL: comfy.URL()}
		c.ProviderPollMax = 300 * time.Millisecond
	}})
	_, _, err := b.app.Techniques.Apply(context.Background(), b.app.Store, b.wsID, "comfy.yaml", []byte(comfyTechnique))
	require.NoError(t, err)
	return b, comfy
}

func comfyRun(b *testBundle, prompt string) *client.RunCreateParams {
	return &client.RunCreateParams{Mode: "async", Inputs: []client.Input{
		{ID: "input_image", Type: "imageUrl", Value: b.imageURL("portrait.png")},
		{ID: "prompt", Type: "text", Value: prompt}}}
}

// TestComfyUIWorkflow: two prompts queue at ComfyUI (one runs at a time);
// the second reports its queue position, the running one its sampler
// progress from /ws; both complete with the image the bound prompt made.
func TestComfyUIWorkflow(t *testing.T) {
	t.Parallel()
	b, comfy := setupComfy(t)
	// Each prompt is shown queued and its progress is sent before it moves
	// on, however late the polls come on a loaded machine.
	comfy.RunTime = 500 * time.Millisecond
	comfy.HoldForPolls = true
	ctx := context.Background()
	first, err := b.client.Runs.Create(ctx, "comfy-restyle", comfyRun(b, "oil painting"))
	require.NoError(t, err)
	second, err := b.client.Runs.Create(ctx, "comfy-restyle", comfyRun(b, "watercolor"))
	require.NoError(t, err)
	// Streams opened while the runs work carry every event from the start.
	var streams []*client.EventStream
	for _, id := range []string{first.RunID, second.RunID} {
		s, err := b.client.Runs.Events(ctx, "comfy-restyle", id, "")
		require.NoError(t, err)
		streams = append(streams, s)
	}
	for _, id := range []string{first.RunID, second.RunID} {
		r := b.wait(t, b.client, "comfy-restyle", id)
		require.Equal(t, client.StatusCompleted, r.Status, "%s: %s", r.ErrorCode, r.ErrorMessage)
	}
	r, err := b.client.Runs.Get(ctx, "comfy-restyle", second.RunID)
	require.NoError(t, err)
	require.Equal(t, providerfake.PNG("watercolor"), b.fetchOutput(t, r.Outputs[0].URL), "the prompt went to node 6")
	require.Equal(t, int64(2), comfy.Prompts.Load())
	require.Equal(t, int64(2), comfy.Uploads.Load(), "the input image went up by /upload/image")

	var sawQueue, sawProgress bool
	for _, s := range streams {
		events, err := s.ReadAll()
		require.NoError(t, err)
		for _, e := range events {
			var d struct {
				ProviderStatus string `json:"provider_status"`
				QueuePosition  *int   `json:"queue_position"`
				Progress       int    `json:"progress"`
			}
			require.NoError(t, json.Unmarshal(e.Data, &d))
			if e.Type != client.EventProgress {
				continue
			}
			if d.ProviderStatus == "IN_QUEUE" && d.QueuePosition != nil {
				sawQueue = true
			}
			if d.ProviderStatus == "IN_PROGRESS" && d.Progress > 0 {
				sawProgress = true
			}
		}
	}
	require.True(t, sawQueue, "a queued prompt's position reached its events")
	require.True(t, sawProgress, "the sampler's progress from /ws reached the events")
	require.Equal(t, int64(100-6), b.balance(t, b.wsID))
}

func TestComfyUIFailureAndCancel(t *testing.T) {
	t.Parallel()
	b, comfy := setupComfy(t)
	comfy.RunTime = 200 * time.Millisecond
	ctx := context.Background()
	created, err := b.client.Runs.Create(ctx, "comfy-restyle", comfyRun(b, "x "+providerfake.PromptFail))
	require.NoError(t, err)
	r := b.wait(t, b.client, "comfy-restyle", created.RunID)
	require.Equal(t, "provider_error", r.ErrorCode)
	require.Contains(t, b.logs.String(), "CUDA out of memory", "ComfyUI's exception kept for operators")

	comfy.RunTime = time.Hour
	created, err = b.client.Runs.Create(ctx, "comfy-restyle", comfyRun(b, "slow"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		calls, err := b.app.Store.StepCallList(ctx, created.RunID)
		return err == nil && len(calls) == 1 && calls[0].State == "submitted"
	}, patience, 10*time.Millisecond)
	_, err = b.client.Runs.Cancel(ctx, "comfy-restyle", created.RunID)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return comfy.Interrupts.Load() == 1 }, patience, 10*time.Millisecond,
		"the running prompt was interrupted")
	require.Equal(t, int64(100), b.balance(t, b.wsID))
}
