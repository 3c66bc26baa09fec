package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/florad/florad/internal/store"
)

// ErrInvalidKey means the key is unknown, malformed or revoked. Callers answer
// 401 invalid_api_key without saying which.
var ErrInvalidKey = errors.New("invalid API key")

// Principal is who a verified key speaks for.
type Principal struct {
	KeyID       string
	WorkspaceID string
}

// Verifier turns a bearer token into a Principal.
type Verifier interface {
	Verify(ctx context.Context, token string) (*Principal, error)
}

// LocalVerifier checks keys against our own api_keys table. It reads the
// table on every request, so a revocation takes effect immediately.
type LocalVerifier struct {
	Store store.Reader
}

// Verify looks the key up by its hash and compares the stored hash in
// constant time, so no timing difference reveals how much of a guess matched.
func (v *LocalVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if !plausibleKey(token) {
		return nil, ErrInvalidKey
	}
	hash := HashKey(token)
	k, err := v.Store.APIKeyGetByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidKey
	}
	if err != nil {
		return nil, fmt.Errorf("error verifying API key: %w", err)
	}
	if subtle.ConstantTimeCompare(k.Hash, hash) != 1 || k.RevokedAt != nil {
		return nil, ErrInvalidKey
	}
	return &Principal{KeyID: k.ID, WorkspaceID: k.WorkspaceID}, nil
}
