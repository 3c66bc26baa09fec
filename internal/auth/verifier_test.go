package auth_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/sqlstore"
	"github.com/florad/florad/internal/workspace"
)

type testBundle struct {
	store      *sqlstore.Store
	workspaces *workspace.Service
	verifier   *auth.LocalVerifier
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	s, err := sqlstore.OpenSQLite(t.Context(), sqlstore.SQLiteConfig{Path: filepath.Join(t.TempDir(), "florad.db"), Synchronous: "OFF"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return &testBundle{store: s, workspaces: &workspace.Service{Store: s}, verifier: &auth.LocalVerifier{Store: s}}
}

func (b *testBundle) key(t *testing.T) *workspace.NewKey {
	t.Helper()
	w, err := b.workspaces.Create(t.Context(), "Acme", 0)
	require.NoError(t, err)
	k, err := b.workspaces.CreateKey(t.Context(), w.ID)
	require.NoError(t, err)
	return k
}

func TestLocalVerifierAcceptsAValidKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := b.key(t)

	p, err := b.verifier.Verify(t.Context(), k.Key)
	require.NoError(t, err)
	require.Equal(t, &auth.Principal{KeyID: k.KeyID, WorkspaceID: k.WorkspaceID, Source: auth.SourceLocal, Scopes: auth.AllScopes()}, p)

	// Two workspaces, two keys: each key speaks for its own.
	other := b.key(t)
	p, err = b.verifier.Verify(t.Context(), other.Key)
	require.NoError(t, err)
	require.Equal(t, other.WorkspaceID, p.WorkspaceID)
	require.NotEqual(t, k.WorkspaceID, p.WorkspaceID)
}

func TestLocalVerifierRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := b.key(t)
	unknown, _ := auth.NewKey()

	for name, token := range map[string]string{
		"unknown key":       unknown,
		"the key's hash":    string(auth.HashKey(k.Key)),
		"one character off": k.Key[:len(k.Key)-1] + string(k.Key[len(k.Key)-1]^1),
		"prefix only":       "sk_live_",
		"too short":         "sk_live_abc",
		"too long":          k.Key + strings.Repeat("a", 300),
		"with a space":      k.Key[:20] + " " + k.Key[20:],
		"empty":             "",
	} {
		_, err := b.verifier.Verify(t.Context(), token)
		require.ErrorIs(t, err, auth.ErrInvalidKey, name)
	}
}

func TestLocalVerifierRevokedKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := b.key(t)

	_, err := b.verifier.Verify(t.Context(), k.Key)
	require.NoError(t, err)

	require.NoError(t, b.workspaces.RevokeKey(t.Context(), k.KeyID))
	// Immediately: the very next verification refuses it.
	_, err = b.verifier.Verify(t.Context(), k.Key)
	require.ErrorIs(t, err, auth.ErrInvalidKey)
}

// TestLocalVerifierStoreDown: an unreachable store is not an invalid key,
// so the API answers 503 and the client retries instead of discarding a
// good key.
func TestLocalVerifierStoreDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := b.key(t)
	require.NoError(t, b.store.Close())

	_, err := b.verifier.Verify(t.Context(), k.Key)
	require.Error(t, err)
	require.NotErrorIs(t, err, auth.ErrInvalidKey)
}

// run inserts a pending run in the key's workspace.
func (b *testBundle) run(t *testing.T, workspaceID string) *store.Run {
	t.Helper()
	var r *store.Run
	require.NoError(t, b.store.InTx(t.Context(), func(tx store.Tx) (err error) {
		r, err = tx.RunInsert(t.Context(), &store.RunInsertParams{
			ID: ident.New("run_", time.Now()), WorkspaceID: workspaceID, TechniqueID: "tech_x", TechniqueSlug: "x",
			TechniqueVersion: "1", Mode: "async", Fingerprint: "fp", CreatedAt: time.Now().UnixMilli(),
		})
		return err
	}))
	return r
}

// TestLocalVerifierWithRun: the poll's combined read gives what Verify and
// RunGet would, and refuses exactly what Verify refuses.
func TestLocalVerifierWithRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k, other := b.key(t), b.key(t)
	mine, theirs := b.run(t, k.WorkspaceID), b.run(t, other.WorkspaceID)

	p, r, err := b.verifier.VerifyWithRun(t.Context(), k.Key, mine.ID)
	require.NoError(t, err)
	require.Equal(t, &auth.Principal{KeyID: k.KeyID, WorkspaceID: k.WorkspaceID, Source: auth.SourceLocal, Scopes: auth.AllScopes()}, p)
	require.NotNil(t, r)
	require.Equal(t, mine.ID, r.ID)

	for name, runID := range map[string]string{"another workspace's run": theirs.ID, "an unknown run": "run_unknown"} {
		p, r, err := b.verifier.VerifyWithRun(t.Context(), k.Key, runID)
		require.NoError(t, err, name)
		require.Equal(t, k.WorkspaceID, p.WorkspaceID, name)
		require.Nil(t, r, "%s: the key is good, the run is for the caller to look for", name)
	}

	unknown, _ := auth.NewKey()
	for name, token := range map[string]string{
		"unknown key":       unknown,
		"one character off": k.Key[:len(k.Key)-1] + string(k.Key[len(k.Key)-1]^1),
		"too short":         "sk_live_abc",
		"empty":             "",
	} {
		_, _, err := b.verifier.VerifyWithRun(t.Context(), token, mine.ID)
		require.ErrorIs(t, err, auth.ErrInvalidKey, name)
	}

	require.NoError(t, b.workspaces.RevokeKey(t.Context(), k.KeyID))
	_, r, err = b.verifier.VerifyWithRun(t.Context(), k.Key, mine.ID)
	require.ErrorIs(t, err, auth.ErrInvalidKey, "revoked, with its run found in the same read")
	require.Nil(t, r)

	require.NoError(t, b.store.Close())
	_, _, err = b.verifier.VerifyWithRun(t.Context(), other.Key, theirs.ID)
	require.Error(t, err)
	require.NotErrorIs(t, err, auth.ErrInvalidKey, "a store that is down is not an invalid key")
}
