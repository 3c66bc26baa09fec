package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/auth/clerktest"
)

// TestKeyScopesCapAndClerkCommands: key create --scopes/--max-credits-per-day,
// key update and workspace link, then florad serve with FLORA_CLERK_* set
// accepting a linked Clerk key of a fake Clerk and the local keys with
// their scopes and cap.
func TestKeyScopesCapAndClerkCommands(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	var ws struct {
		WorkspaceID string `json:"workspace_id"`
	}
	cliJSON(t, &ws, "workspace", "create", "--name", "Acme", "--credits", "50", "--data", data, "--json")

	type keyJSON struct {
		KeyID            string   `json:"key_id"`
		Key              string   `json:"key"`
		Scopes           []string `json:"scopes"`
		MaxCreditsPerDay *int64   `json:"max_credits_per_day"`
	}
	var reader, capped keyJSON
	cliJSON(t, &reader, "key", "create", "--workspace", ws.WorkspaceID, "--scopes", "techniques:read, runs:read", "--data", data, "--json")
	require.Equal(t, []string{"runs:read", "techniques:read"}, reader.Scopes)
	require.Nil(t, reader.MaxCreditsPerDay)
	cliJSON(t, &capped, "key", "create", "--workspace", ws.WorkspaceID, "--max-credits-per-day", "5", "--data", data, "--json")
	require.Equal(t, []string{"runs:write", "runs:read", "techniques:read", "webhooks:manage"}, capped.Scopes)
	require.EqualValues(t, 5, *capped.MaxCreditsPerDay)

	var updated keyJSON
	cliJSON(t, &updated, "key", "update", capped.KeyID, "--max-credits-per-day", "1", "--data", data, "--json")
	require.EqualValues(t, 1, *updated.MaxCreditsPerDay)
	require.Len(t, updated.Scopes, 4, "scopes unchanged")

	var link struct {
		WorkspaceID  string `json:"workspace_id"`
		ClerkSubject string `json:"clerk_subject"`
	}
	cliJSON(t, &link, "workspace", "link", "--workspace", ws.WorkspaceID, "--clerk-subject", "org_acme", "--data", data, "--json")
	require.Equal(t, "org_acme", link.ClerkSubject)
	_, stderr, code := cliRun(t, "workspace", "link", "--workspace", ws.WorkspaceID, "--clerk-subject", "org_acme", "--data", data)
	require.Equal(t, 1, code, "a subject is linked once: %s", stderr)

	for _, args := range [][]string{
		{"key", "create", "--workspace", ws.WorkspaceID, "--scopes", "runs:admin"},
		{"key", "create", "--workspace", ws.WorkspaceID, "--max-credits-per-day", "-1"},
		{"key", "update", capped.KeyID},
		{"key", "update", capped.KeyID, "--max-credits-per-day", "lots"},
		{"workspace", "link", "--workspace", ws.WorkspaceID},
	} {
		_, stderr, code := cliRun(t, append(args, "--data", data)...)
		require.Equal(t, 2, code, "florad %s: %s", strings.Join(args, " "), stderr)
	}

	fake := clerktest.Start(t)
	fake.Add("ak_live_cli_0123456789abc", clerktest.Key{ID: "ak_cli", Subject: "org_acme"})
	s := startServeEnv(t, data, []string{"FLORA_CLERK_SECRET_KEY=" + fake.SecretKey, "FLORA_CLERK_API_URL=" + fake.URL,
		"FLORA_CLERK_CACHE_TTL=0"})
	ctx := context.Background()
	run := &client.RunCreateParams{Inputs: []client.Input{{ID: "prompt", Type: "text", Value: "a cat"}}}

	w, err := client.New(s.base, "ak_live_cli_0123456789abc", nil).Workspace(ctx)
	require.NoError(t, err)
	require.Equal(t, ws.WorkspaceID, w.WorkspaceID)
	require.Equal(t, "clerk", w.Key.Source)
	require.EqualValues(t, 1, fake.Calls())
	_, err = client.New(s.base, "ak_live_cli_0123456789abc", nil).Workspace(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, fake.Calls(), "FLORA_CLERK_CACHE_TTL=0: every request asks Clerk")

	_, err = client.New(s.base, reader.Key, nil).Runs.Create(ctx, "prompt-expander", run)
	e := client.AsAPIError(err)
	require.NotNil(t, e, "%v", err)
	require.Equal(t, http.StatusForbidden, e.Status)

	c := client.New(s.base, capped.Key, nil)
	_, err = c.Runs.Create(ctx, "prompt-expander", run)
	require.NoError(t, err)
	_, err = c.Runs.Create(ctx, "prompt-expander", run)
	e = client.AsAPIError(err)
	require.NotNil(t, e, "%v", err)
	require.Equal(t, http.StatusPaymentRequired, e.Status)
	require.EqualValues(t, 0, *e.Available)

	code, _ = s.stop(t, 30*time.Second)
	require.Zero(t, code)
}
