// Package auth issues and verifies API keys. Local keys live in our own
// database as a SHA-256 hash only; a key's secret is shown once, when it is
// made, and cannot be recovered afterwards.
package auth

import (
	"crypto/sha256"
	"strings"

	"github.com/florad/florad/internal/ident"
)

const (
	// LivePrefix starts every production key, as FLORA's do.
	LivePrefix = "sk_live_"
	// WebhookSecretPrefix starts every webhook signing secret.
	WebhookSecretPrefix = "whsec_"
	// keyBytes of randomness: 192 bits, well beyond guessing.
	keyBytes = 24
)

// NewKey returns a fresh secret key and its hash.
func NewKey() (secret string, hash []byte) {
	secret = ident.Random(LivePrefix, keyBytes)
	return secret, HashKey(secret)
}

// NewWebhookSecret returns a fresh whsec_ secret.
func NewWebhookSecret() string { return ident.Random(WebhookSecretPrefix, keyBytes) }

// HashKey is the only form in which a key is stored or looked up.
func HashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// DisplayPrefix is the part of a key safe to show in listings and logs.
func DisplayPrefix(secret string) string {
	const n = 12
	if len(secret) <= n {
		return secret
	}
	return secret[:n]
}

// plausibleKey rejects tokens that cannot be ours before touching the
// database; it decides nothing else from the prefix.
func plausibleKey(token string) bool {
	return len(token) >= 16 && len(token) <= 256 && !strings.ContainsAny(token, " \t\r\n")
}
