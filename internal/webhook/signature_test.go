package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/webhook"
)

// hmacHex is the signature computed the way FLORA's SDK does, independently
// of the package: HMAC-SHA256 keyed with the whole secret string.
func hmacHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func TestSignMatchesTheSDKScheme(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"whd_1","type":"run.completed","data":{"s":"ü"}}`)
	at := time.Unix(1_760_000_123, 987_000_000)
	const secret = "whsec_abc"

	h := webhook.Sign(body, at, secret)
	require.Equal(t, "t=1760000123,v1="+hmacHex(secret, "1760000123."+string(body)), h,
		"seconds, not milliseconds; the secret used as is, prefix included")
	require.Equal(t, hmacHex(secret, "1760000123."+string(body)), webhook.ComputeSignature(secret, 1760000123, body))

	two := webhook.Sign(body, at, "whsec_new", "whsec_old")
	require.Equal(t, "t=1760000123,v1="+hmacHex("whsec_new", "1760000123."+string(body))+
		",v1="+hmacHex("whsec_old", "1760000123."+string(body)), two, "one v1= per active secret, new first")
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"whd_1"}`)
	at := time.Unix(1_760_000_000, 0)
	header := webhook.Sign(body, at, "whsec_new", "whsec_old")

	for _, tc := range []struct {
		name      string
		body      []byte
		header    string
		secret    string
		now       time.Time
		tolerance time.Duration
		ok        bool
	}{
		{"new secret", body, header, "whsec_new", at, webhook.ToleranceDefault, true},
		{"old secret during overlap", body, header, "whsec_old", at, webhook.ToleranceDefault, true},
		{"other secret", body, header, "whsec_other", at, webhook.ToleranceDefault, false},
		{"secret without prefix", body, header, "new", at, webhook.ToleranceDefault, false},
		{"tampered body", []byte(`{"id":"whd_2"}`), header, "whsec_new", at, webhook.ToleranceDefault, false},
		{"re-serialised body", []byte(`{"id": "whd_1"}`), header, "whsec_new", at, webhook.ToleranceDefault, false},
		{"spaces in header", body, strings.ReplaceAll(header, ",", ", "), "whsec_new", at, webhook.ToleranceDefault, true},
		{"too old", body, header, "whsec_new", at.Add(301 * time.Second), webhook.ToleranceDefault, false},
		{"just in time", body, header, "whsec_new", at.Add(300 * time.Second), webhook.ToleranceDefault, true},
		{"from the future", body, header, "whsec_new", at.Add(-301 * time.Second), webhook.ToleranceDefault, false},
		{"no tolerance check", body, header, "whsec_new", at.Add(24 * time.Hour), 0, true},
		{"no header", body, "", "whsec_new", at, webhook.ToleranceDefault, false},
		{"no timestamp", body, header[strings.Index(header, ",")+1:], "whsec_new", at, webhook.ToleranceDefault, false},
		{"no v1", body, "t=1760000000,v0=abc", "whsec_new", at, webhook.ToleranceDefault, false},
		{"no secret", body, header, "", at, webhook.ToleranceDefault, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.Verify(tc.body, tc.header, tc.secret, tc.tolerance, tc.now)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, webhook.ErrInvalidSignature)
			}
		})
	}
}

// A receiver verifies the raw body with its secret before trusting it. The
// value is the same Python gives for
// hmac.new(b"whsec_example", b"1760000000." + body, hashlib.sha256).hexdigest().
func ExampleVerify() {
	body := []byte(`{"id":"whd_01","type":"run.completed"}`)
	sentAt := time.Unix(1_760_000_000, 0)
	header := webhook.Sign(body, sentAt, "whsec_example")
	fmt.Println(header)

	err := webhook.Verify(body, header, "whsec_example", webhook.ToleranceDefault, sentAt.Add(2*time.Second))
	fmt.Println("valid:", err == nil)
	// Output:
	// t=1760000000,v1=c4dc67a16292efe63af8b8f8fe307bb1650ce9fa181455e4b072247ed80de7e9
	// valid: true
}
