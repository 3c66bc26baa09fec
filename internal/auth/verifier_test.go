package auth_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/auth"
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
	require.Equal(t, &auth.Principal{KeyID: k.KeyID, WorkspaceID: k.WorkspaceID}, p)

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
