package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	// HeaderSignature is "t=<unix seconds>,v1=<hex>[,v1=<hex>...]".
	HeaderSignature = "Flora-Signature"
	// HeaderWebhookID repeats the body's id (whd_...).
	HeaderWebhookID = "Flora-Webhook-Id"
	// HeaderEvent repeats the body's type.
	HeaderEvent = "Flora-Event"
)

// ToleranceDefault is how far a signature's timestamp may be from the
// receiver's clock, as in FLORA's SDK.
const ToleranceDefault = 300 * time.Second

// ErrInvalidSignature matches every error Verify returns.
var ErrInvalidSignature = errors.New("invalid webhook signature")

// ComputeSignature returns the lowercase hex HMAC-SHA256 of "<t>.<body>"
// keyed with the UTF-8 bytes of the whole secret, "whsec_" included: the
// secret is used as is, never base64-decoded.
func ComputeSignature(secret string, t int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Sign returns the Flora-Signature value of body sent at t: the timestamp
// in unix seconds, then one v1= per secret, in the order given (during a
// rotation's overlap, the new secret and the previous one).
func Sign(body []byte, t time.Time, secrets ...string) string {
	ts := t.Unix()
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(ts, 10))
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(ComputeSignature(s, ts, body))
	}
	return b.String()
}

// Verify checks a Flora-Signature header against the raw body with one
// secret, as FLORA's SDK does in client.webhooks.verify: one matching v1=
// is enough (compared in constant time), and the timestamp must be within
// tolerance of now, either way (tolerance 0 skips that check). It is the
// receiver's side, for Go receivers and tests.
func Verify(body []byte, header, secret string, tolerance time.Duration, now time.Time) error {
	if secret == "" {
		return fmt.Errorf("%w: a signing secret is required", ErrInvalidSignature)
	}
	if header == "" {
		return fmt.Errorf("%w: no %s header", ErrInvalidSignature, HeaderSignature)
	}
	var (
		ts     int64
		haveTS bool
		sigs   []string
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "t":
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				ts, haveTS = n, true
			}
		case "v1":
			if v = strings.TrimSpace(v); v != "" {
				sigs = append(sigs, v)
			}
		}
	}
	if !haveTS {
		return fmt.Errorf("%w: no timestamp (t=)", ErrInvalidSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrInvalidSignature)
	}
	want := []byte(ComputeSignature(secret, ts, body))
	match := false
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			match = true
		}
	}
	if !match {
		return fmt.Errorf("%w: no v1 signature matches", ErrInvalidSignature)
	}
	if tolerance > 0 {
		age := now.Unix() - ts
		if age > int64(tolerance/time.Second) {
			return fmt.Errorf("%w: timestamp too old (%ds)", ErrInvalidSignature, age)
		}
		if -age > int64(tolerance/time.Second) {
			return fmt.Errorf("%w: timestamp %ds in the future", ErrInvalidSignature, -age)
		}
	}
	return nil
}
