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

// Key sources: where a key was verified.
const (
	SourceLocal = "local"
	SourceClerk = "clerk"
)

// errNotLocal is a token our api_keys table does not know, as opposed to
// one it knows as revoked: only the first may be a Clerk key.
var errNotLocal = fmt.Errorf("%w: not a local key", ErrInvalidKey)

// Principal is who a verified key speaks for, and what it may do.
type Principal struct {
	KeyID       string
	WorkspaceID string
	// Source is SourceLocal or SourceClerk.
	Source string
	// Scopes the key holds (Scope* names).
	Scopes []string
	// MaxCreditsPerDay caps what the key may reserve per UTC day; nil
	// for no cap.
	MaxCreditsPerDay *int64
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

// Verify looks the key up by its hash and checks it.
func (v *LocalVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if !plausibleKey(token) {
		return nil, ErrInvalidKey
	}
	hash := HashKey(token)
	k, err := v.Store.APIKeyGetByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotLocal
	}
	if err != nil {
		return nil, fmt.Errorf("error verifying API key: %w", err)
	}
	return principalOf(k, hash)
}

// VerifyWithRun is Verify for a poll: it reads the key and the run of its
// workspace in one statement, the API's most frequent request at the cost
// of one read. run is nil when that read finds nothing; the key is then
// verified alone, and the caller looks for the run the usual way to answer
// why.
func (v *LocalVerifier) VerifyWithRun(ctx context.Context, token, runID string) (p *Principal, run *store.Run, err error) {
	if !plausibleKey(token) {
		return nil, nil, ErrInvalidKey
	}
	hash := HashKey(token)
	k, run, err := v.Store.RunGetWithKey(ctx, hash, runID)
	if errors.Is(err, store.ErrNotFound) {
		p, err := v.Verify(ctx, token)
		return p, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("error verifying API key: %w", err)
	}
	if p, err = principalOf(k, hash); err != nil {
		return nil, nil, err
	}
	return p, run, nil
}

// principalOf checks a stored key against the presented hash in constant
// time, so no timing difference reveals how much of a guess matched.
func principalOf(k *store.APIKey, hash []byte) (*Principal, error) {
	if subtle.ConstantTimeCompare(k.Hash, hash) != 1 || k.RevokedAt != nil {
		return nil, ErrInvalidKey
	}
	return &Principal{KeyID: k.ID, WorkspaceID: k.WorkspaceID, Source: SourceLocal, Scopes: k.Scopes,
		MaxCreditsPerDay: k.MaxCreditsPerDay}, nil
}
