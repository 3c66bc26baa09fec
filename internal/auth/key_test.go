package auth_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/auth"
)

// alphabet is the one ident uses; each character carries 5 bits.
const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

func TestNewKey(t *testing.T) {
	t.Parallel()

	seen := map[string]bool{}
	for range 1000 {
		secret, hash := auth.NewKey()
		require.True(t, strings.HasPrefix(secret, "sk_live_"), secret)
		body := strings.TrimPrefix(secret, "sk_live_")
		for _, r := range body {
			require.True(t, strings.ContainsRune(alphabet, r), "character %q of %s", r, secret)
		}
		// At least 128 bits of randomness behind the prefix.
		require.GreaterOrEqual(t, 5*len(body), 128, secret)
		require.False(t, seen[secret], "duplicate key")
		seen[secret] = true

		sum := sha256.Sum256([]byte(secret))
		require.Equal(t, sum[:], hash)
	}
}

func TestHashKeyIsSHA256(t *testing.T) {
	t.Parallel()

	// SHA-256("abc"), the FIPS 180-2 test vector.
	require.Equal(t,
		[]byte{0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
			0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad},
		auth.HashKey("abc"))
	require.NotEqual(t, auth.HashKey("sk_live_a"), auth.HashKey("sk_live_b"))
}

func TestNewWebhookSecret(t *testing.T) {
	t.Parallel()

	a, b := auth.NewWebhookSecret(), auth.NewWebhookSecret()
	require.True(t, strings.HasPrefix(a, "whsec_"))
	require.NotEqual(t, a, b)
	require.GreaterOrEqual(t, 5*len(strings.TrimPrefix(a, "whsec_")), 128)
}

func TestDisplayPrefix(t *testing.T) {
	t.Parallel()

	secret, _ := auth.NewKey()
	p := auth.DisplayPrefix(secret)
	require.Equal(t, secret[:12], p)
	// The shown part leaves almost all the randomness hidden.
	require.GreaterOrEqual(t, 5*(len(secret)-len(p)), 128)
	require.Equal(t, "short", auth.DisplayPrefix("short"))
}
