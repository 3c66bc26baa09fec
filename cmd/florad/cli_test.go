package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/store"
)

// TestServeFirstStart starts florad on an empty folder, as the README's
// first command does: it prints a demo workspace's key once, the key
// works, and the next start prints nothing new.
func TestServeFirstStart(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	s := startServe(t, data)

	// The banner is written before the server listens; give exec's copier
	// a moment to pass it on.
	cliWaitFor(t, 10*time.Second, "the demo banner", func() bool { return strings.Contains(s.stdout.String(), "curl") })
	out := s.stdout.String()
	key, secret, wsID := cliDemo(out)
	require.NotEmpty(t, key, "stdout has an sk_live_ key:\n%s", out)
	require.NotEmpty(t, secret, "stdout has the webhook secret")
	require.NotEmpty(t, wsID, "stdout names the workspace")
	require.Contains(t, out, "1000 credits")
	require.Contains(t, out, "curl -s "+s.base+"/api/v1/techniques/", "the curl example targets this server")
	require.Contains(t, out, "Authorization: Bearer")
	require.Contains(t, s.stderr.String(), "DEVELOPMENT MODE", "--dev says so loudly")

	// The printed key works, all the way to a completed run.
	ctx := context.Background()
	c := client.New(s.base, key, nil)
	// Polls stay under the default rate limit, which serve turns on.
	c.PollInterval = 50 * time.Millisecond
	l, err := c.Techniques.List(ctx, nil)
	require.NoError(t, err)
	require.NotEmpty(t, l.Techniques)
	w, err := c.Workspace(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 20, w.Limits["requests_per_second"], "the contract's default limit")
	require.EqualValues(t, 40, w.Limits["request_burst"])
	r, err := c.Runs.Create(ctx, "prompt-expander", &client.RunCreateParams{
		Inputs: []client.Input{{ID: "prompt", Type: "text", Value: "a lighthouse at dawn"}}})
	require.NoError(t, err)
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, err = c.WaitForRun(waitCtx, "prompt-expander", r.RunID)
	require.NoError(t, err)
	require.Equal(t, client.StatusCompleted, r.Status)

	code, _ := s.stop(t, 30*time.Second)
	require.Zero(t, code)

	// Second start on the same folder: no new workspace, no key printed,
	// and the first key still works.
	s2 := startServe(t, data)
	_, err = client.New(s2.base, key, nil).Techniques.List(ctx, nil)
	require.NoError(t, err)
	code, _ = s2.stop(t, 30*time.Second)
	require.Zero(t, code)
	key2, _, _ := cliDemo(s2.stdout.String())
	require.Empty(t, key2, "a key is printed only on the first start")
	require.NotContains(t, s2.stdout.String(), "curl")
}

// TestAdminCommands drives the admin commands with --json on a folder a
// running server also uses, and checks the server sees their effect.
func TestAdminCommands(t *testing.T) {
	t.Parallel()
	data := t.TempDir()

	var ws struct {
		WorkspaceID string `json:"workspace_id"`
		Name        string `json:"name"`
		Balance     int64  `json:"balance"`
	}
	cliJSON(t, &ws, "workspace", "create", "--name", "Acme", "--credits", "5", "--data", data, "--json")
	require.Regexp(t, `^ws_\S+$`, ws.WorkspaceID)
	require.Equal(t, "Acme", ws.Name)
	require.Equal(t, int64(5), ws.Balance)

	// A folder with a workspace gets no demo on first serve.
	s := startServe(t, data)

	var key struct {
		KeyID         string `json:"key_id"`
		WorkspaceID   string `json:"workspace_id"`
		Key           string `json:"key"`
		WebhookSecret string `json:"webhook_secret"`
	}
	cliJSON(t, &key, "key", "create", "--workspace", ws.WorkspaceID, "--data", data, "--json")
	require.NotEmpty(t, key.KeyID)
	require.Equal(t, ws.WorkspaceID, key.WorkspaceID)
	require.Regexp(t, `^sk_live_\S{22,}$`, key.Key, "at least 128 bits of key")
	require.Regexp(t, `^whsec_\S+$`, key.WebhookSecret)

	ctx := context.Background()
	c := client.New(s.base, key.Key, nil)
	_, err := c.Techniques.Get(ctx, "prompt-expander")
	require.NoError(t, err, "the server accepts a key the CLI made")

	var grant struct {
		WorkspaceID string `json:"workspace_id"`
		Balance     int64  `json:"balance"`
	}
	cliJSON(t, &grant, "credits", "grant", "--workspace", ws.WorkspaceID, "--credits", "7", "--data", data, "--json")
	require.Equal(t, ws.WorkspaceID, grant.WorkspaceID)
	require.Equal(t, int64(12), grant.Balance)

	// Spend one credit through the server; the CLI sees the new balance.
	_, err = c.Runs.Create(ctx, "prompt-expander", &client.RunCreateParams{
		Inputs: []client.Input{{ID: "prompt", Type: "text", Value: "a cat"}}})
	require.NoError(t, err)
	var bal struct {
		WorkspaceID string `json:"workspace_id"`
		Balance     int64  `json:"balance"`
	}
	cliJSON(t, &bal, "credits", "balance", "--workspace", ws.WorkspaceID, "--data", data, "--json")
	require.Equal(t, ws.WorkspaceID, bal.WorkspaceID)
	require.Equal(t, int64(11), bal.Balance)

	var revoked struct {
		KeyID   string `json:"key_id"`
		Revoked bool   `json:"revoked"`
	}
	cliJSON(t, &revoked, "key", "revoke", key.KeyID, "--data", data, "--json")
	require.Equal(t, key.KeyID, revoked.KeyID)
	require.True(t, revoked.Revoked)
	_, err = c.Techniques.Get(ctx, "prompt-expander")
	e := client.AsAPIError(err)
	require.NotNil(t, e, "a revoked key is refused at once: %v", err)
	require.Equal(t, http.StatusUnauthorized, e.Status)
	require.Equal(t, "invalid_api_key", e.Code)

	var techs struct {
		Techniques []struct {
			TechniqueID string `json:"technique_id"`
			Slug        string `json:"slug"`
			Name        string `json:"name"`
			RunCredits  int64  `json:"run_credits"`
			Available   bool   `json:"available"`
		} `json:"techniques"`
	}
	cliJSON(t, &techs, "techniques", "list", "--data", data, "--json")
	credits := map[string]int64{}
	for _, tech := range techs.Techniques {
		require.Equal(t, "tech_"+tech.Slug, tech.TechniqueID)
		require.NotEmpty(t, tech.Name)
		credits[tech.Slug] = tech.RunCredits
	}
	require.Equal(t, int64(5), credits["portrait-enhancer"])
	require.Equal(t, int64(1), credits["prompt-expander"])

	code, _ := s.stop(t, 30*time.Second)
	require.Zero(t, code)
	demoKey, _, _ := cliDemo(s.stdout.String())
	require.Empty(t, demoKey, "no demo key when the folder already has a workspace")

	t.Run("UsageErrors", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"workspace", "create", "--data", data},                // no --name
			{"key", "create", "--data", data},                      // no --workspace
			{"key", "revoke", "--data", data},                      // no key id
			{"credits", "frobnicate", "--data", data},              // no such subcommand
			{"workspace", "create", "--name", "x", "--bogus", "1"}, // unknown flag
		} {
			_, stderr, code := cliRun(t, args...)
			require.Equal(t, 2, code, "florad %s: %s", strings.Join(args, " "), stderr)
			require.NotEmpty(t, stderr)
		}
	})

	t.Run("UnknownWorkspace", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := cliRun(t, "credits", "balance", "--workspace", "ws_nope", "--data", data, "--json")
		require.Equal(t, 1, code)
		require.Empty(t, stdout)
		require.NotEmpty(t, stderr)
	})
}

// TestSIGTERMDrains sends SIGTERM while a run is executing and a request
// is half sent: florad finishes both, exits 0 within seconds, and its logs
// are JSON lines that carry request ids.
func TestSIGTERMDrains(t *testing.T) {
	t.Parallel()
	data := t.TempDir()

	// The input image is held back until the test lets it go, so the run
	// is surely in flight when the signal arrives.
	fetched := make(chan struct{})
	release := make(chan struct{})
	var fetches atomic.Int32
	pngData := cliTestPNG(t)
	images := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fetches.Add(1) == 1 {
			close(fetched)
		}
		<-release
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pngData)
	}))
	t.Cleanup(images.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	s := startServe(t, data)
	var key string
	cliWaitFor(t, 10*time.Second, "the demo key", func() bool {
		key, _, _ = cliDemo(s.stdout.String())
		return key != ""
	})
	ctx := context.Background()
	c := client.New(s.base, key, nil)

	run, err := c.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{
		Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: images.URL + "/portrait.png"}}})
	require.NoError(t, err)
	select {
	case <-fetched:
	case <-time.After(30 * time.Second):
		t.Fatal("the run never fetched its input")
	}

	// A request whose body is still on its way: Expect: 100-continue makes
	// the server say when its handler has started reading it.
	bodyR, bodyW := io.Pipe()
	continued := make(chan struct{})
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got100Continue: func() { close(continued) },
	}), http.MethodPost, s.base+"/api/v1/techniques/prompt-expander/runs", bodyR)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	tr := &http.Transport{ExpectContinueTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	type result struct {
		status int
		body   string
		err    error
	}
	reqDone := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			reqDone <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		reqDone <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	select {
	case <-continued:
	case <-time.After(30 * time.Second):
		t.Fatal("the server never started reading the request")
	}

	begin := time.Now()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	cliWaitFor(t, 10*time.Second, "the shutdown to begin", func() bool {
		return strings.Contains(s.stderr.String(), "shutting down")
	})
	// Both are still in flight; now let them finish.
	_, err = fmt.Fprint(bodyW, `{"mode":"async","inputs":[{"id":"prompt","type":"text","value":"late"}]}`)
	require.NoError(t, err)
	require.NoError(t, bodyW.Close())
	close(release)

	res := <-reqDone
	require.NoError(t, res.err)
	require.Equal(t, http.StatusOK, res.status, "the request in flight at SIGTERM is served: %s", res.body)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("florad did not exit within 20 s of SIGTERM")
	}
	took := time.Since(begin)
	require.Zero(t, s.cmd.ProcessState.ExitCode(), "exit code after SIGTERM")
	t.Logf("exited %s after SIGTERM", took.Round(time.Millisecond))

	// The run finished before the process exited: drained, not abandoned.
	st, err := app.OpenStore(ctx, app.Config{DataDir: data})
	require.NoError(t, err)
	defer st.Close()
	got, err := st.RunGetByID(ctx, run.RunID)
	require.NoError(t, err)
	require.Equal(t, store.RunCompleted, got.Status, "error %s: %s", got.ErrorCode, got.ErrorMessage)

	// Structured logs: every JSON line parses, and each request is logged
	// with its id.
	lines := s.logLines(t)
	require.NotEmpty(t, lines)
	requests := 0
	for _, l := range lines {
		require.Contains(t, l, "time")
		require.Contains(t, l, "level")
		require.Contains(t, l, "msg")
		if l["msg"] == "request" {
			requests++
			require.Regexp(t, `^req_\S+$`, l["request_id"], "access log line %v", l)
			require.Contains(t, l, "status")
			require.Contains(t, l, "path")
		}
	}
	require.GreaterOrEqual(t, requests, 2, "the create and the late create are logged")
}
