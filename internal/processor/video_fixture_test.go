package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/technique"
)

// The video tests make their media with ffmpeg's own generators (testsrc2
// draws a moving pattern and a frame counter, sine a tone), so they need
// nothing but ffmpeg, and skip without it.

func requireFFmpeg(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install ffmpeg); the video models need it", bin)
		}
	}
}

// videoSpec describes a generated test video.
type videoSpec struct {
	width, height int
	seconds       float64
	fps           int
	audio         bool
	// codec is the video encoder, libx264 unless set.
	codec string
	// ext is the container, by file extension; mp4 unless set.
	ext string
}

// makeVideo generates the video into a test folder and returns its path.
func makeVideo(t *testing.T, s videoSpec) string {
	t.Helper()
	requireFFmpeg(t)
	s.codec = cmpOr(s.codec, "libx264")
	s.ext = cmpOr(s.ext, "mp4")
	path := filepath.Join(t.TempDir(), "in."+s.ext)
	dur := strconv.FormatFloat(s.seconds, 'f', 3, 64)
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=%s", s.width, s.height, s.fps, dur)}
	if s.audio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration="+dur, "-c:a", "aac")
	}
	args = append(args, "-c:v", s.codec, "-pix_fmt", "yuv420p")
	if s.codec == "libx264" {
		args = append(args, "-preset", "ultrafast")
	}
	ffmpegCmd(t, append(args, path)...)
	return path
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func ffmpegCmd(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, "ffmpeg %v: %s", args, out)
}

// probed is what the tests check about an output, read by ffprobe itself
// rather than by the code under test.
type probed struct {
	Codec    string
	PixFmt   string
	Width    int
	Height   int
	Duration float64
	HasAudio bool
	Frames   int
}

// probeData writes data to a file and asks ffprobe about it.
func probeData(t *testing.T, data []byte, ext string) probed {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out."+ext)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	out, err := exec.CommandContext(t.Context(), "ffprobe", "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_type,codec_name,pix_fmt,width,height,nb_read_frames:format=duration",
		"-of", "json", path).Output()
	require.NoError(t, err)
	var r struct {
		Streams []struct {
			CodecType    string `json:"codec_type"`
			CodecName    string `json:"codec_name"`
			PixFmt       string `json:"pix_fmt"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	require.NoError(t, json.Unmarshal(out, &r))
	var p probed
	for _, s := range r.Streams {
		switch s.CodecType {
		case "video":
			p.Codec, p.PixFmt, p.Width, p.Height = s.CodecName, s.PixFmt, s.Width, s.Height
			p.Frames, _ = strconv.Atoi(s.NbReadFrames)
		case "audio":
			p.HasAudio = true
		}
	}
	p.Duration, _ = strconv.ParseFloat(r.Format.Duration, 64)
	return p
}

// newFFmpeg returns a runner whose scratch folders go to a test folder,
// so a test can check that none is left behind.
func newFFmpeg(t *testing.T) (*processor.FFmpeg, string) {
	t.Helper()
	dir := t.TempDir()
	return processor.NewFFmpeg(processor.FFmpegConfig{TempDir: dir}), dir
}

func requireNoScratchLeft(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "scratch folders must be removed when a call returns")
}

// videoAt is a video input the way the engine hands it over: on disk.
func videoAt(path string) map[string]processor.Value {
	return map[string]processor.Value{"video": {Type: technique.TypeVideoURL, Path: path, ContentType: "video/mp4"}}
}

// videoBytes is a video input held in memory, as a step output would be.
func videoBytes(t *testing.T, path string) map[string]processor.Value {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return map[string]processor.Value{"video": {Type: technique.TypeVideoURL, Data: data, ContentType: "video/mp4"}}
}

// progressLog records a call's progress reports.
type progressLog struct {
	mu sync.Mutex
	v  []float64
}

func (p *progressLog) add(f float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.v = append(p.v, f)
}

func (p *progressLog) values() []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]float64(nil), p.v...)
}

// requireGrowsToOne checks the reports rise and end at 1; minSteps asks
// for reports from inside the work, not only the final one.
func (p *progressLog) requireGrowsToOne(t *testing.T, minSteps int) {
	t.Helper()
	v := p.values()
	require.GreaterOrEqual(t, len(v), minSteps, "progress reports: %v", v)
	require.IsNonDecreasing(t, v)
	require.InDelta(t, 1.0, v[len(v)-1], 0)
	for _, f := range v {
		require.True(t, f >= 0 && f <= 1, "progress %v out of 0..1", f)
	}
}

// run calls a model with a deadline.
func run(t *testing.T, p processor.Processor, inputs map[string]processor.Value, params map[string]any, progress func(float64)) (map[string]processor.Value, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, p.CheckParams(params), "the parameters must pass the load-time check")
	return p.Run(ctx, &processor.Call{Inputs: inputs, Params: params, Progress: progress})
}
