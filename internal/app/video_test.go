package app_test

import (
	"bytes"
	"context"
	"image/gif"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
)

// TestVideoTechniques runs the built-in video techniques end to end: the
// engine downloads the video (to a file), the steps run ffmpeg, and the
// outputs come back as signed URLs.
func TestVideoTechniques(t *testing.T) {
	t.Parallel()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install ffmpeg); the video techniques need it", bin)
		}
	}
	video := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.CommandContext(t.Context(), "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=4",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", video).CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err := os.ReadFile(video)
	require.NoError(t, err)
	videos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(data)
	}))
	t.Cleanup(videos.Close)

	b := setup(t)
	ctx := context.Background()
	run := func(t *testing.T, slug string) map[string][]byte {
		t.Helper()
		created, err := b.client.Runs.Create(ctx, slug, &client.RunCreateParams{
			Inputs: []client.Input{{ID: "input_video", Type: "videoUrl", Value: videos.URL + "/clip.mp4"}}})
		require.NoError(t, err)
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		r, err := b.client.WaitForRun(wctx, slug, created.RunID)
		require.NoError(t, err)
		require.Equal(t, client.StatusCompleted, r.Status, "error %s: %s", r.ErrorCode, r.ErrorMessage)
		files := map[string][]byte{}
		for _, o := range r.Outputs {
			resp, err := b.http.Get(o.URL)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			files[o.OutputID+" "+resp.Header.Get("Content-Type")] = body
		}
		return files
	}

	t.Run("Poster", func(t *testing.T) {
		t.Parallel()
		files := run(t, "video-poster")
		require.Len(t, files, 2)
		poster, err := jpeg.DecodeConfig(bytes.NewReader(files["poster_image image/jpeg"]))
		require.NoError(t, err)
		require.Equal(t, [2]int{320, 240}, [2]int{poster.Width, poster.Height})
		strip, err := jpeg.DecodeConfig(bytes.NewReader(files["thumbnail_strip image/jpeg"]))
		require.NoError(t, err)
		require.Equal(t, [2]int{6 * 240, 180}, [2]int{strip.Width, strip.Height})
	})

	// An uploaded video feeds a run straight from the blob store, to a
	// temporary file like a download.
	t.Run("PosterFromAsset", func(t *testing.T) {
		t.Parallel()
		a, err := b.client.Assets.Upload(ctx, "clip.bin", bytes.NewReader(data))
		require.NoError(t, err)
		require.Equal(t, "videoUrl", a.Type)
		require.Equal(t, "video/mp4", a.ContentType)
		created, err := b.client.Runs.Create(ctx, "video-poster", &client.RunCreateParams{
			Inputs: []client.Input{{ID: "input_video", Type: "videoUrl", Value: a.AssetID}}})
		require.NoError(t, err)
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		r, err := b.client.WaitForRun(wctx, "video-poster", created.RunID)
		require.NoError(t, err)
		require.Equal(t, client.StatusCompleted, r.Status, "error %s: %s", r.ErrorCode, r.ErrorMessage)
		require.Len(t, r.Outputs, 2)
	})

	t.Run("Preview", func(t *testing.T) {
		t.Parallel()
		files := run(t, "video-preview")
		require.Len(t, files, 2)
		g, err := gif.DecodeAll(bytes.NewReader(files["preview_animation image/gif"]))
		require.NoError(t, err)
		require.Greater(t, len(g.Image), 1, "an animation")
		require.Equal(t, [2]int{320, 240}, [2]int{g.Config.Width, g.Config.Height})
		clip := files["preview_clip video/mp4"]
		require.Greater(t, len(clip), 1000)
		require.Equal(t, "ftyp", string(clip[4:8]), "an MP4")
	})
}
