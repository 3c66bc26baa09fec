package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// floradBin is the florad binary TestMain builds once for the tests that
// run it as a user would: its own process, flags, stdout and signals.
var floradBin string //nolint:gochecknoglobals // set once by TestMain, read-only after

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "florad-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	floradBin = filepath.Join(dir, "florad")
	if out, err := exec.Command("go", "build", "-o", floradBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// cliEnv is the test's environment without FLORA_ variables, so that only
// the flags a test passes configure florad.
func cliEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLORA_") {
			env = append(env, kv)
		}
	}
	return append(env, "FLORA_LOG_LEVEL=info")
}

// cliFreeAddr returns a loopback address nothing listens on: the port was
// free a moment ago. florad must be told its address (the demo's curl
// example prints it), so ":0" will not do.
func cliFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// cliRun runs an admin command to its end and returns its stdout.
func cliRun(t *testing.T, args ...string) (stdout string, stderr string, exitCode int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, floradBin, args...)
	cmd.Env = cliEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errOut.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return out.String(), errOut.String(), 0
}

// cliJSON runs an admin command that must succeed and decodes its stdout.
func cliJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	stdout, stderr, code := cliRun(t, args...)
	require.Zero(t, code, "florad %s failed: %s", strings.Join(args, " "), stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), out), "florad %s printed %q", strings.Join(args, " "), stdout)
}

// childProc is a florad process a test started: reaped in the background,
// killed at cleanup if it is still running, and its output (when output is
// not nil) logged if the test failed.
type childProc struct {
	cmd *exec.Cmd
	// done is closed when the process has exited; err is then its result.
	done chan struct{}
	err  error
}

func startChild(t *testing.T, cmd *exec.Cmd, output func() string) *childProc {
	t.Helper()
	p := &childProc{cmd: cmd, done: make(chan struct{})}
	require.NoError(t, cmd.Start())
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() && output != nil {
			t.Log(output())
		}
	})
	return p
}

// serveProc is a running `florad serve`.
type serveProc struct {
	*childProc
	base   string
	stdout *cliBuffer
	stderr *cliBuffer
}

// startServe runs `florad serve --addr ADDR --data DATA --dev extra...`
// and returns once it answers /healthz. The process is killed at cleanup
// if the test did not stop it.
func startServe(t *testing.T, data string, extra ...string) *serveProc {
	t.Helper()
	return startServeEnv(t, data, nil, extra...)
}

// startServeEnv is startServe with env added to the child's environment.
func startServeEnv(t *testing.T, data string, env []string, extra ...string) *serveProc {
	t.Helper()
	addr := cliFreeAddr(t)
	args := append([]string{"serve", "--addr", addr, "--data", data, "--dev", "--sqlite-synchronous", "NORMAL"}, extra...)
	s := &serveProc{base: "http://" + addr, stdout: &cliBuffer{}, stderr: &cliBuffer{}}
	cmd := exec.Command(floradBin, args...)
	cmd.Env = append(cliEnv(), env...)
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	s.childProc = startChild(t, cmd, func() string {
		return "florad stdout:\n" + s.stdout.String() + "\nflorad stderr:\n" + s.stderr.String()
	})

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			t.Fatalf("florad exited before serving: %v\n%s", s.err, s.stderr.String())
		default:
		}
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		require.True(t, time.Now().Before(deadline), "florad did not answer /healthz within 60 s")
		time.Sleep(20 * time.Millisecond) // the process gives no other signal that it listens
	}
}

// stop sends SIGTERM and returns the exit code and how long the exit took.
func (s *serveProc) stop(t *testing.T, within time.Duration) (int, time.Duration) {
	t.Helper()
	begin := time.Now()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.done:
	case <-time.After(within):
		t.Fatalf("florad did not exit within %s of SIGTERM", within)
	}
	return s.cmd.ProcessState.ExitCode(), time.Since(begin)
}

// logLines parses the JSON lines of stderr; other lines (the development
// mode banner) are skipped, but every line starting with '{' must parse.
func (s *serveProc) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.stderr.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "log line is not JSON: %s", line)
		out = append(out, m)
	}
	return out
}

// cliWaitFor polls cond until it holds or the deadline passes.
func cliWaitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		time.Sleep(10 * time.Millisecond)
	}
}

// cliBuffer is written by exec's copying goroutine and read by tests.
type cliBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *cliBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *cliBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cliTestPNG is a 40×30 gradient, a stand-in portrait.
func cliTestPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			img.Set(x, y, color.RGBA{R: uint8(50 + 4*x), G: uint8(60 + 5*y), B: 120, A: 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

// cliDemo picks the demo's key, webhook secret and workspace id out of
// the first start's banner; empty strings for what is not there.
func cliDemo(stdout string) (key, secret, workspaceID string) {
	key = regexp.MustCompile(`\bsk_live_[A-Za-z0-9_-]+`).FindString(stdout)
	secret = regexp.MustCompile(`\bwhsec_[A-Za-z0-9_+/=-]+`).FindString(stdout)
	workspaceID = regexp.MustCompile(`\bws_[A-Za-z0-9]+`).FindString(stdout)
	return key, secret, workspaceID
}
