package processor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/technique"
)

// TestCancelKillsFFmpeg cancels a long transcode once ffmpeg reports
// progress, and checks the call returns promptly and the child (and its
// process group) is gone, with no scratch files left.
func TestCancelKillsFFmpeg(t *testing.T) {
	t.Parallel()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install ffmpeg); the video models need it", bin)
		}
	}

	// 750 frames: quick to make in MPEG-4 Part 2, seconds of work for
	// x264's medium preset, which reports progress within half a second.
	in := filepath.Join(t.TempDir(), "long.mkv")
	out, err := exec.CommandContext(t.Context(), "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=30",
		"-c:v", "mpeg4", "-q:v", "5", in).CombinedOutput()
	require.NoError(t, err, "%s", out)

	scratch := t.TempDir()
	ff := NewFFmpeg(FFmpegConfig{TempDir: scratch})
	var (
		mu   sync.Mutex
		pids []int
	)
	ff.started = func(pid int) {
		mu.Lock()
		defer mu.Unlock()
		pids = append(pids, pid)
	}
	started := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), pids...)
	}

	// A probe first: the transcode's own probe of the same file is then
	// answered from memory, as for the second step of a run.
	info, err := ff.Probe(t.Context(), in)
	require.NoError(t, err)
	require.InDelta(t, 30.0, info.DurationSeconds, 0.1)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var canceledAt time.Time
	call := &Call{
		Inputs: map[string]Value{"video": {Type: technique.TypeVideoURL, Path: in}},
		Params: map[string]any{"preset": "medium"},
		Progress: func(f float64) {
			// Progress comes from ffmpeg's own reports: it is mid-encode.
			if f > 0 && f < 1 && canceledAt.IsZero() {
				canceledAt = time.Now()
				cancel()
			}
		},
	}
	_, err = VideoTranscode{FF: ff}.Run(ctx, call)
	returned := time.Now()
	require.False(t, canceledAt.IsZero(), "the transcode finished before reporting progress; make the input longer")
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, returned.Sub(canceledAt), 2*time.Second, "Run must return promptly after cancellation")

	require.Len(t, started(), 2, "one ffprobe (remembered), then ffmpeg")
	ffmpegPID := started()[1]
	// Wait reaped it, so the pid no longer names a process; and nothing
	// is left in its process group either.
	require.ErrorIs(t, syscall.Kill(ffmpegPID, 0), syscall.ESRCH, "ffmpeg still runs")
	require.ErrorIs(t, syscall.Kill(-ffmpegPID, 0), syscall.ESRCH, "ffmpeg's process group still has members")

	entries, err := os.ReadDir(scratch)
	require.NoError(t, err)
	require.Empty(t, entries, "a canceled call removes its scratch folder")
	_, err = os.Stat(in)
	require.False(t, errors.Is(err, os.ErrNotExist), "the input is not the model's to remove")

	// A changed file is probed again.
	require.NoError(t, os.Chtimes(in, time.Time{}, time.Now().Add(time.Hour)))
	_, err = ff.Probe(t.Context(), in)
	require.NoError(t, err)
	require.Len(t, started(), 3, "a file with a new modification time is probed anew")
}
