package processor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FFmpegConfig configures the runner the video models share.
type FFmpegConfig struct {
	// LookPath finds a program by name, once, when the runner is built.
	// Defaults to exec.LookPath; tests replace it to simulate a server
	// without ffmpeg.
	LookPath func(file string) (string, error)
	// TempDir is where each call makes its scratch folder, removed when
	// the call returns. Defaults to os.TempDir().
	TempDir string
}

// FFmpeg runs the ffmpeg and ffprobe programs for the video models. The
// binaries are looked up once, when it is built: a server without them
// still starts, and only the techniques that need them report themselves
// unavailable.
//
// Each run is tied to its context: when the context ends the child is
// killed (on Linux with its whole process group, and it also dies with
// florad), so a canceled or timed-out run never leaves ffmpeg behind.
type FFmpeg struct {
	ffmpegPath  string
	ffprobePath string
	unavailable string
	tempDir     string
	probes      probeCache
	// started, when set (by tests), is told the pid of every child.
	started func(pid int)
}

// NewFFmpeg looks up ffmpeg and ffprobe.
func NewFFmpeg(cfg FFmpegConfig) *FFmpeg {
	look := cfg.LookPath
	if look == nil {
		look = exec.LookPath
	}
	f := &FFmpeg{tempDir: cfg.TempDir}
	var missing []string
	var err error
	if f.ffmpegPath, err = look("ffmpeg"); err != nil {
		missing = append(missing, "ffmpeg")
	}
	if f.ffprobePath, err = look("ffprobe"); err != nil {
		missing = append(missing, "ffprobe")
	}
	switch len(missing) {
	case 1:
		f.unavailable = missing[0] + " is not installed on this server"
	case 2:
		f.unavailable = "ffmpeg is not installed on this server (neither ffmpeg nor ffprobe was found)"
	}
	return f
}

// Unavailable says why video models cannot run here, or "".
func (f *FFmpeg) Unavailable() string { return f.unavailable }

// inputFormats are the demuxers ffmpeg may use on a client's video. The
// fetcher only accepts what sniffs as video, but a processor does not rely
// on that: demuxers such as HLS, concat or image sequences follow
// references inside the file to other files and URLs, which would let a
// crafted input read this server's files or reach its network.
const inputFormats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpeg,mpegts,flv,ogg,asf,h264,hevc,m4v,yuv4mpegpipe"

// untrustedInput is the ffmpeg/ffprobe input options for a client file.
func untrustedInput(path string) []string {
	return []string{"-format_whitelist", inputFormats, "-protocol_whitelist", "file", "-i", "file:" + path}
}

// scratch makes a folder for one call's files; cleanup removes it.
func (f *FFmpeg) scratch() (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp(f.tempDir, "florad-video-*")
	if err != nil {
		return "", nil, fmt.Errorf("error creating video scratch folder: %w", err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// stderrTailBytes is how much of ffmpeg's error output is kept for the
// error of a failed run; the last lines say what went wrong.
const stderrTailBytes = 4 << 10

// killWait bounds how long a killed child may keep its pipes open before
// Wait gives up on them.
const killWait = 5 * time.Second

// command builds a child process tied to ctx.
func (f *FFmpeg) command(ctx context.Context, bin string, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = killWait
	configureKill(cmd)
	return cmd
}

// runFFmpeg runs ffmpeg with args (after the common options). When
// expected is known and progress is not nil, it reports the share of
// output time written, read from -progress, never reaching 1: the caller
// says 1 when the step's output is ready.
func (f *FFmpeg) runFFmpeg(ctx context.Context, args []string, expected time.Duration, progress func(float64)) error {
	full := append([]string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-progress", "pipe:1", "-y"}, args...)
	cmd := f.command(ctx, f.ffmpegPath, full)
	stderr := &tailBuffer{max: stderrTailBytes}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("error starting ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return Transient(CodeInternalError, "The video tools could not be started.", fmt.Errorf("error starting ffmpeg: %w", err))
	}
	if f.started != nil {
		f.started(cmd.Process.Pid)
	}
	readProgress(stdout, expected, progress)
	// Drain what is left so ffmpeg never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, stdout)
	return f.exitError(ctx, "ffmpeg", cmd.Wait(), stderr)
}

// readProgress parses ffmpeg's -progress key=value blocks and reports
// out_time against expected, rising only.
func readProgress(r io.Reader, expected time.Duration, progress func(float64)) {
	s := bufio.NewScanner(r)
	last := 0.0
	for s.Scan() {
		key, value, ok := strings.Cut(s.Text(), "=")
		if !ok || key != "out_time_us" || progress == nil || expected <= 0 {
			continue
		}
		us, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil { // "N/A" before the first frame
			continue
		}
		// 0.99 at most: writing the trailer (faststart moves the index)
		// and storing the output still follow.
		frac := min(float64(us)/float64(expected.Microseconds()), 0.99)
		if frac > last {
			last = frac
			progress(frac)
		}
	}
}

// runFFprobe runs ffprobe and returns its standard output.
func (f *FFmpeg) runFFprobe(ctx context.Context, args []string) ([]byte, error) {
	cmd := f.command(ctx, f.ffprobePath, append([]string{"-hide_banner", "-v", "error"}, args...))
	var out bytes.Buffer
	stderr := &tailBuffer{max: stderrTailBytes}
	cmd.Stdout = &limitedBuffer{buf: &out, max: 1 << 20}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, Transient(CodeInternalError, "The video tools could not be started.", fmt.Errorf("error starting ffprobe: %w", err))
	}
	if f.started != nil {
		f.started(cmd.Process.Pid)
	}
	if err := f.exitError(ctx, "ffprobe", cmd.Wait(), stderr); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// exitError classifies how a child ended. The context's end wins (the
// engine tells cancellation from timeout); a non-zero exit means ffmpeg
// refused the input or the work, which another try would not change; a
// child killed by a signal we did not send (the OOM killer), or one that
// ran out of disk or memory, is worth a retry. ffmpeg's own words go to
// the log through Err, never to the client: they name scratch files.
func (f *FFmpeg) exitError(ctx context.Context, name string, err error, stderr *tailBuffer) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	tail := stderr.lastLines(5)
	detail := fmt.Errorf("%s: %w: %s", name, err, tail)
	if strings.Contains(tail, "No space left on device") || strings.Contains(tail, "Cannot allocate memory") {
		// This machine's trouble, not the input's: another try (maybe
		// on another worker) may well pass.
		return Transient(CodeInternalError, "The server ran out of room processing the video.", detail)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return Permanent(CodeInputInvalid, "The video could not be processed: it may be corrupt or in an unsupported format.", detail)
	}
	return Transient(CodeInternalError, "The video tools stopped unexpectedly.", detail)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// lastLines returns up to n last non-empty lines, joined by " | ".
func (t *tailBuffer) lastLines(n int) string {
	var lines []string
	for _, l := range strings.Split(string(t.b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return "(no error output)"
	}
	return strings.Join(lines, " | ")
}

// limitedBuffer fails writes past max bytes, so a hostile file cannot make
// ffprobe's report fill memory.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		return 0, errors.New("ffprobe output too large")
	}
	return l.buf.Write(p)
}

// readOutput reads a file ffmpeg wrote; an empty or missing file means
// ffmpeg found nothing to encode (no frame at that time, for example).
func readOutput(path, what string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(data) == 0) {
		return nil, Permanent(CodeInputInvalid, "The video has no frames to make "+what+" from.",
			fmt.Errorf("ffmpeg wrote no %s", filepath.Base(path)))
	}
	if err != nil {
		return nil, fmt.Errorf("error reading ffmpeg output: %w", err)
	}
	return data, nil
}
