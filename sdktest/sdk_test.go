// Package sdktest drives a real florad with FLORA's official TypeScript SDK
// (@flora-ai/flora, pinned in package.json), so that "FLORA's own clients
// work against us" is checked with FLORA's own client rather than our
// reading of its docs. The JavaScript side is sdk.test.mjs; this file starts
// the server and runs it with node's built-in test runner.
package sdktest

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/auth/clerktest"
	"github.com/florad/florad/internal/workspace"
)

func TestFloraTypeScriptSDK(t *testing.T) {
	t.Parallel()

	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH; install Node.js 20+ to run the SDK test")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "@flora-ai", "flora", "package.json")); err != nil {
		t.Skip("the SDK is not installed: run `npm ci --prefix sdktest` from the repository root")
	}

	// Clerk keys, verified by a fake Clerk on loopback.
	clerk := clerktest.Start(t)
	clerk.Add(clerkKey, clerktest.Key{ID: "ak_sdk", Subject: "org_sdk"})
	clerk.Add(clerkReaderKey, clerktest.Key{ID: "ak_sdk_reader", Subject: "org_sdk", Scopes: []string{"runs:read", "techniques:read"}})
	clerk.Add(clerkRevokedKey, clerktest.Key{ID: "ak_sdk_revoked", Subject: "org_sdk", Revoked: true})
	clerk.Add(clerkDownKey, clerktest.Key{ID: "ak_sdk_down", Subject: "org_sdk", FailStatus: http.StatusBadGateway})

	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: true, Workers: true,
		ShutdownTimeout: 5 * time.Second,
		// The limit serve runs with, so the SDK meets our 429s as users do.
		RateLimit:      app.RateLimitDefault,
		ClerkSecretKey: clerk.SecretKey, ClerkAPIURL: clerk.URL, ClerkCacheTTL: -1,
	})
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	// Stop the server and wait for it before the temp folder is removed.
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	rich, err := a.Workspaces.Create(ctx, "sdk", 1000)
	require.NoError(t, err)
	richKey, err := a.Workspaces.CreateKey(ctx, rich.ID)
	require.NoError(t, err)
	poor, err := a.Workspaces.Create(ctx, "sdk-poor", 0)
	require.NoError(t, err)
	poorKey, err := a.Workspaces.CreateKey(ctx, poor.ID)
	require.NoError(t, err)

	burst, err := a.Workspaces.Create(ctx, "sdk-burst", 0)
	require.NoError(t, err)
	burstKey, err := a.Workspaces.CreateKey(ctx, burst.ID)
	require.NoError(t, err)

	clerkWS, err := a.Workspaces.Create(ctx, "sdk-clerk", 100)
	require.NoError(t, err)
	require.NoError(t, a.Workspaces.LinkClerkSubject(ctx, clerkWS.ID, "org_sdk"))
	oneCredit := int64(1)
	capped, err := a.Workspaces.CreateKeyWith(ctx, rich.ID, workspace.KeyOptions{MaxCreditsPerDay: &oneCredit})
	require.NoError(t, err)
	reader, err := a.Workspaces.CreateKeyWith(ctx, rich.ID, workspace.KeyOptions{Scopes: []string{"runs:read", "techniques:read"}})
	require.NoError(t, err)

	img := testPNG(t)
	images := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(img)
	}))
	t.Cleanup(images.Close)

	// Node's runner exits non-zero when any test fails; its TAP/spec output
	// says which and why.
	nodeCtx, nodeCancel := context.WithTimeout(ctx, 60*time.Second)
	defer nodeCancel()
	cmd := exec.CommandContext(nodeCtx, node, "--test", "--test-reporter=spec", "sdk.test.mjs")
	cmd.Env = append(os.Environ(),
		"FLORA_BASE_URL=http://"+a.Addr()+"/api/v1",
		"FLORA_API_KEY="+richKey.Key,
		"FLORA_POOR_API_KEY="+poorKey.Key,
		"FLORA_BURST_API_KEY="+burstKey.Key,
		"FLORA_TEST_IMAGE_URL="+images.URL+"/portrait.png",
		"FLORA_WEBHOOK_SECRET="+richKey.WebhookSecret,
		"FLORA_CAPPED_API_KEY="+capped.Key,
		"FLORA_READER_API_KEY="+reader.Key,
		"FLORA_CLERK_API_KEY="+clerkKey,
		"FLORA_CLERK_READER_API_KEY="+clerkReaderKey,
		"FLORA_CLERK_REVOKED_API_KEY="+clerkRevokedKey,
		"FLORA_CLERK_DOWN_API_KEY="+clerkDownKey,
		// Keep the SDK's own logging at its quiet default whatever the
		// developer's shell says.
		"FLORA_LOG=warn",
		"NO_COLOR=1",
	)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) || nodeCtx.Err() != nil {
		t.Fatalf("the SDK test failed (%v):\n%s", err, out)
	}
	require.NoError(t, err)
	t.Logf("node --test sdk.test.mjs:\n%s", out)
}

// Clerk API key secrets the fake Clerk knows.
const (
	clerkKey        = "ak_live_sdk_0123456789abcdef"
	clerkReaderKey  = "ak_live_sdkreader_0123456789"
	clerkRevokedKey = "ak_live_sdkrevoked_0123456789"
	clerkDownKey    = "ak_live_sdkdown_0123456789ab"
)

// testPNG is a small portrait-sized gradient: enough for the pipeline's
// levels, sharpening and 2× upscale to do real work.
func testPNG(t *testing.T) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, 64, 80))
	for y := range 80 {
		for x := range 64 {
			m.Set(x, y, color.RGBA{R: uint8(60 + 2*x), G: uint8(40 + y), B: uint8(90 + x + y/2), A: 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, m))
	return buf.Bytes()
}
