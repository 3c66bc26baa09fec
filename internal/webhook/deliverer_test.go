package webhook_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/netguard"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/webhook"
)

// requireSigned checks one received request against the delivery: the
// contract's headers, the stored bytes, and a signature that verifies with
// the workspace's secret.
func requireSigned(t *testing.T, got received, d *store.WebhookDelivery, secret string) {
	t.Helper()
	require.Equal(t, http.MethodPost, got.method)
	require.Equal(t, "application/json", got.header.Get("Content-Type"))
	require.Equal(t, d.ID, got.header.Get(webhook.HeaderWebhookID))
	require.Equal(t, d.EventType, got.header.Get(webhook.HeaderEvent))
	require.Equal(t, webhook.UserAgent, got.header.Get("User-Agent"))
	require.Equal(t, d.Body, got.body, "the stored bytes, exactly")
	require.NoError(t, webhook.Verify(got.body, got.header.Get(webhook.HeaderSignature), secret, webhook.ToleranceDefault, time.Now()))
}

func TestDeliverySucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	rc := statusReceiver(t, http.StatusNoContent)

	before := time.Now().UnixMilli()
	d := b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
	require.Equal(t, store.WebhookPending, d.State)
	require.True(t, strings.HasPrefix(d.ID, "whd_"), d.ID)

	done := b.waitState(t, d.ID, store.WebhookSucceeded)
	after := time.Now().UnixMilli()
	require.Equal(t, 1, done.AttemptCount)
	require.NotNil(t, done.CompletedAt)
	require.Nil(t, done.NextAttemptAt)

	reqs := rc.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "/hook", reqs[0].path)
	requireSigned(t, reqs[0], d, b.ws.WebhookSecret)

	var ev map[string]any
	require.NoError(t, json.Unmarshal(reqs[0].body, &ev))
	require.Equal(t, d.ID, ev["id"])
	require.Equal(t, webhook.EventRunCompleted, ev["type"])
	require.Equal(t, webhook.APIVersion, ev["api_version"])
	data := ev["data"].(map[string]any)
	require.Equal(t, d.RunID, data["run_id"])
	require.Equal(t, b.ws.ID, data["workspace_id"])
	require.Equal(t, "completed", data["status"])

	as := b.attempts(t, d.ID)
	require.Len(t, as, 1)
	require.Equal(t, http.StatusNoContent, as[0].StatusCode)
	require.Empty(t, as[0].Error)
	require.GreaterOrEqual(t, as[0].AttemptedAt, before)
	require.LessOrEqual(t, as[0].AttemptedAt, after)
	require.GreaterOrEqual(t, as[0].LatencyMS, int64(0))
}

// Two 500s, then a 200: three attempts of the same bytes and id, each
// signed anew, waiting the schedule's delays in between.
func TestRetriesAfterTwoServerErrors(t *testing.T) {
	t.Parallel()
	delay := 60 * time.Millisecond
	b := setup(t, setupOpts{schedule: []time.Duration{delay, delay, delay}})
	rc := statusReceiver(t, 500, 500, 200)

	d := b.endRun(t, b.ws, rc.hookURL(), store.RunFailed)
	done := b.waitState(t, d.ID, store.WebhookSucceeded)
	require.Equal(t, 3, done.AttemptCount)

	reqs := rc.requests()
	require.Len(t, reqs, 3)
	for i, r := range reqs {
		requireSigned(t, r, d, b.ws.WebhookSecret)
		require.Equal(t, reqs[0].body, r.body, "attempt %d sends byte-identical bytes", i+1)
		if i > 0 {
			require.GreaterOrEqual(t, r.at.Sub(reqs[i-1].at), time.Duration(float64(delay)*0.9),
				"attempt %d waited its retry delay", i+1)
		}
	}
	var ev webhook.Event
	require.NoError(t, json.Unmarshal(reqs[0].body, &ev))
	require.Equal(t, webhook.EventRunFailed, ev.Type)
	require.Equal(t, "input_unreachable", ev.Data.ErrorCode)
	require.NotEmpty(t, ev.Data.ErrorMessage)

	as := b.attempts(t, d.ID)
	require.Len(t, as, 3)
	require.Equal(t, []int{500, 500, 200}, []int{as[0].StatusCode, as[1].StatusCode, as[2].StatusCode})
	require.Equal(t, "the receiver answered 500", as[0].Error)
	require.Empty(t, as[2].Error)
	b.waitJobState(t, d.JobID, rivertype.JobStateCompleted)
}

// 410 Gone ends the delivery at once, however many retries are left.
func TestGoneStopsRetrying(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{schedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}})
	rc := statusReceiver(t, http.StatusGone, http.StatusOK)

	d := b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
	done := b.waitState(t, d.ID, store.WebhookFailed)
	require.Equal(t, 1, done.AttemptCount)
	require.NotNil(t, done.CompletedAt)
	// River will never run the job again: the one request is the last.
	b.waitJobState(t, d.JobID, rivertype.JobStateCancelled)
	require.Len(t, rc.requests(), 1)
	as := b.attempts(t, d.ID)
	require.Len(t, as, 1)
	require.Equal(t, http.StatusGone, as[0].StatusCode)
	require.Contains(t, as[0].Error, "410")
}

// A redirect is a failed attempt; its target is never requested. When the
// schedule runs out the delivery fails.
func TestRedirectIsAFailedAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{schedule: []time.Duration{10 * time.Millisecond}})
	var rc *receiver
	rc = newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hook" {
			http.Redirect(w, r, rc.URL+"/elsewhere", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusOK)
	})

	d := b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
	done := b.waitState(t, d.ID, store.WebhookFailed)
	require.Equal(t, 2, done.AttemptCount, "retried, then out of schedule")
	b.waitJobState(t, d.JobID, rivertype.JobStateCancelled)

	for _, r := range rc.requests() {
		require.Equal(t, "/hook", r.path, "the redirect target is never requested")
	}
	as := b.attempts(t, d.ID)
	require.Len(t, as, 2)
	for _, a := range as {
		require.Equal(t, http.StatusTemporaryRedirect, a.StatusCode)
		require.Equal(t, "the receiver answered 307; redirects are not followed", a.Error)
	}
}

// A receiver that never answers costs one attempt of the timeout.
func TestHangingReceiverTimesOut(t *testing.T) {
	t.Parallel()
	timeout := 200 * time.Millisecond
	b := setup(t, setupOpts{timeout: timeout})
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })

	d := b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
	b.waitState(t, d.ID, store.WebhookFailed)
	as := b.attempts(t, d.ID)
	require.Len(t, as, 1)
	require.Zero(t, as[0].StatusCode, "no answer")
	require.Equal(t, "the receiver did not answer within 200ms", as[0].Error)
	require.GreaterOrEqual(t, as[0].LatencyMS, timeout.Milliseconds())
	require.Less(t, as[0].LatencyMS, (5 * time.Second).Milliseconds())
}

// While one receiver hangs, other deliveries go out.
func TestHangingReceiverDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{timeout: time.Minute})
	release := make(chan struct{})
	hanging := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	// Runs before the receiver closes and River stops (cleanups are LIFO).
	t.Cleanup(func() { close(release) })
	fast := statusReceiver(t, http.StatusOK)

	slow := b.endRun(t, b.ws, hanging.hookURL(), store.RunCompleted)
	<-hanging.arrived // the slow attempt is in flight

	other := b.endRun(t, b.ws, fast.hookURL(), store.RunCompleted)
	b.waitState(t, other.ID, store.WebhookSucceeded)

	still, err := b.store.WebhookDeliveryGetByID(b.ctx, slow.ID)
	require.NoError(t, err)
	require.Equal(t, store.WebhookPending, still.State, "the hanging attempt is still in flight")
	require.Zero(t, still.AttemptCount)
}

// The connect-time guard refuses a name that resolves to loopback even when
// nothing checked the URL first (a DNS rebinding after validation), and no
// connection is ever opened. The refusal is final: one attempt, recorded
// with its reason, and no retries however long the schedule.
func TestConnectTimeGuard(t *testing.T) {
	t.Parallel()
	production := netguard.Policy{AllowHTTP: true} // http to keep TLS out of it; addresses as in production
	b := setup(t, setupOpts{policy: &production, schedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, time.Hour}})
	rc := statusReceiver(t, http.StatusOK)
	port := rc.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":")+1:]

	for _, host := range []string{"localhost", "127.0.0.1", "[::ffff:127.0.0.1]"} {
		d := b.endRun(t, b.ws, fmt.Sprintf("http://%s:%s/hook", host, port), store.RunCompleted)
		done := b.waitState(t, d.ID, store.WebhookFailed)
		require.Equal(t, 1, done.AttemptCount)
		require.NotNil(t, done.CompletedAt)
		b.waitJobState(t, d.JobID, rivertype.JobStateCancelled)
		as := b.attempts(t, d.ID)
		require.Len(t, as, 1)
		require.Zero(t, as[0].StatusCode)
		require.Equal(t, "the callback host resolves to a private, reserved or cloud metadata address, which is not allowed; no more attempts", as[0].Error)
		require.NotContains(t, as[0].Error, "127.0.0.1")
	}
	require.Zero(t, rc.accepted.Load(), "no connection was ever opened")
}

// In development mode, which reaches loopback and private networks, a
// delivery to a cloud metadata address is refused when it is sent, at once
// and for good.
func TestDevGuardRefusesMetadataAtOnce(t *testing.T) {
	t.Parallel()
	dev := netguard.Policy{Dev: true}
	b := setup(t, setupOpts{policy: &dev, schedule: []time.Duration{10 * time.Millisecond, time.Hour}})

	for _, u := range []string{"http://100.100.100.200/latest/meta-data/", "http://[fd00:ec2::254]/latest/meta-data/",
		"http://169.254.169.254/latest/meta-data/"} {
		d := b.endRun(t, b.ws, u, store.RunCompleted)
		done := b.waitState(t, d.ID, store.WebhookFailed)
		require.Equal(t, 1, done.AttemptCount, u)
		b.waitJobState(t, d.JobID, rivertype.JobStateCancelled)
		as := b.attempts(t, d.ID)
		require.Len(t, as, 1, u)
		require.Contains(t, as[0].Error, "cloud metadata", u)
	}
}

// A stored URL the current policy refuses fails at once, without a request.
func TestCheckURLAtDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{
		schedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond},
		checkURL: func(u string) error { return netguard.ValidateURL(u, netguard.Policy{}) },
	})
	rc := statusReceiver(t, http.StatusOK)

	d := b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
	b.waitState(t, d.ID, store.WebhookFailed)
	b.waitJobState(t, d.JobID, rivertype.JobStateCancelled)
	as := b.attempts(t, d.ID)
	require.Len(t, as, 1, "refused for good, not retried")
	require.True(t, strings.HasPrefix(as[0].Error, "the callback URL is no longer allowed: "), as[0].Error)
	require.Zero(t, rc.accepted.Load())
}
