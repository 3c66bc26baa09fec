package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/riverqueue/river"

	"github.com/florad/florad/internal/metrics"
	"github.com/florad/florad/internal/netguard"
	"github.com/florad/florad/internal/store"
)

// TimeoutDefault bounds one attempt: connecting, sending and the answer's
// headers and first bytes.
const TimeoutDefault = 10 * time.Second

// UserAgent is sent with every delivery.
const UserAgent = "florad-webhooks/1"

// maxDrain is how much of a receiver's answer is read (and thrown away) so
// the connection can be reused; nothing of it is stored.
const maxDrain = 64 << 10

// Deliverer is the River worker of DeliverArgs.
type Deliverer struct {
	river.WorkerDefaults[DeliverArgs]

	Store store.Store
	// Client sends the requests. It must be netguard's SSRF-guarded client
	// with FollowRedirects false: a redirect is a failed attempt, never
	// followed.
	Client *http.Client
	// CheckURL, when set, re-checks the stored callback URL before each
	// attempt (netguard.ValidateURL with the server's policy), so a URL
	// accepted under a looser policy is refused once the policy tightens.
	// A refused URL fails the delivery at once.
	CheckURL func(string) error
	// AttemptTimeout bounds one attempt. Defaults to TimeoutDefault.
	AttemptTimeout time.Duration
	// Schedule is the wait before each retry; its length plus one is the
	// number of attempts, up to DeliverArgs' MaxAttempts. Defaults to
	// ScheduleDefault(). Tests use short ones.
	Schedule []time.Duration
	// Jitter spreads each wait by ±Jitter (a fraction). Defaults to
	// JitterDefault; negative means none.
	Jitter float64
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Metrics counts attempts by outcome; nil counts nothing.
	Metrics *metrics.Metrics
	// Logger defaults to discarding.
	Logger *slog.Logger
}

func (w *Deliverer) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Deliverer) timeout() time.Duration { return cmp.Or(w.AttemptTimeout, TimeoutDefault) }

func (w *Deliverer) schedule() []time.Duration {
	if w.Schedule != nil {
		return w.Schedule
	}
	return ScheduleDefault()
}

func (w *Deliverer) jitter() float64 {
	switch {
	case w.Jitter < 0:
		return 0
	case w.Jitter == 0:
		return JitterDefault
	}
	return w.Jitter
}

func (w *Deliverer) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// maxAttempts is the last attempt of a job: the schedule's, or River's if
// that is lower.
func (w *Deliverer) maxAttempts(job *river.Job[DeliverArgs]) int {
	n := len(w.schedule()) + 1
	if job.MaxAttempts > 0 {
		n = min(n, job.MaxAttempts)
	}
	return n
}

// Timeout is River's own bound on one attempt, a backstop behind the
// request's, which ends it first.
func (w *Deliverer) Timeout(*river.Job[DeliverArgs]) time.Duration {
	return w.timeout() + 30*time.Second
}

// NextRetry schedules the retry after a failed attempt on the delivery's
// schedule, with the same jitter Work recorded as its next_attempt_at.
func (w *Deliverer) NextRetry(job *river.Job[DeliverArgs]) time.Time {
	return time.Now().Add(retryDelay(w.schedule(), w.jitter(), job.Args.DeliveryID, job.Attempt))
}

// outcome is what one attempt came to.
type outcome struct {
	status  int
	latency time.Duration
	// err is empty on success; otherwise a sentence for the workspace.
	err string
	// final means no retry whatever the schedule says (410, a URL or an
	// address the guard refuses).
	final bool
}

// metricOutcome names the outcome for flora_webhook_attempts_total.
func (o outcome) metricOutcome() string {
	switch {
	case o.err == "":
		return metrics.WebhookSuccess
	case o.status == http.StatusGone:
		return metrics.WebhookGone
	case o.status != 0:
		return metrics.WebhookHTTPError
	case o.final:
		return metrics.WebhookRefused
	}
	return metrics.WebhookNetworkError
}

// Work makes one attempt. A delivery that is no longer pending, or that a
// redelivery moved to another job, is left alone. The attempt and the
// delivery's new state commit together; then a success returns nil, a
// final failure cancels the job, and any other failure returns an error so
// that River retries it at NextRetry. When the job's last attempt fails
// for another reason (its record could not be written), the delivery
// fails rather than stay pending with no job; if even that cannot be
// written, the reconciler settles it.
func (w *Deliverer) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	err := w.work(ctx, job)
	var cancel *river.JobCancelError
	if err == nil || errors.As(err, &cancel) || ctx.Err() != nil || job.Attempt < w.maxAttempts(job) {
		return err
	}
	at := w.now().UnixMilli()
	ferr := w.Store.InTx(ctx, func(tx store.Tx) error {
		d, err := tx.WebhookDeliveryGetByID(ctx, job.Args.DeliveryID)
		if err != nil || d.State != store.WebhookPending || d.JobID != job.ID {
			return err
		}
		_, err = tx.WebhookDeliveryUpdate(ctx, &store.WebhookDeliveryUpdateParams{ID: d.ID, State: store.WebhookFailed,
			JobID: job.ID, CompletedAt: &at})
		return err
	})
	if ferr != nil {
		return errors.Join(err, ferr)
	}
	w.logger().Error("webhook delivery failed on its last attempt", "delivery_id", job.Args.DeliveryID, "error", err)
	return river.JobCancel(err)
}

func (w *Deliverer) work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	d, err := w.Store.WebhookDeliveryGetByID(ctx, job.Args.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("webhook delivery %s does not exist", job.Args.DeliveryID))
	}
	if err != nil {
		return err
	}
	if d.State != store.WebhookPending || d.JobID != job.ID {
		return nil
	}
	secrets, err := w.Store.WorkspaceWebhookSecrets(ctx, d.WorkspaceID)
	if err != nil {
		return err
	}

	start := w.now()
	o := w.attempt(ctx, d, secrets.Active(start.UnixMilli()))
	if o.status == 0 && ctx.Err() != nil {
		// Shutting down: this was not the receiver's fault; River runs the
		// job again and the attempt is not recorded.
		return ctx.Err()
	}

	end := w.now()
	up := &store.WebhookDeliveryUpdateParams{ID: d.ID, State: store.WebhookPending, JobID: job.ID}
	last := job.Attempt >= w.maxAttempts(job)
	switch {
	case o.err == "":
		up.State, up.CompletedAt = store.WebhookSucceeded, ptr(end.UnixMilli())
	case o.final || last:
		up.State, up.CompletedAt = store.WebhookFailed, ptr(end.UnixMilli())
	default:
		next := end.Add(retryDelay(w.schedule(), w.jitter(), d.ID, job.Attempt))
		up.NextAttemptAt = ptr(next.UnixMilli())
	}
	superseded := false
	err = w.Store.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.WebhookAttemptInsert(ctx, &store.WebhookAttemptInsertParams{DeliveryID: d.ID,
			AttemptedAt: start.UnixMilli(), StatusCode: o.status, LatencyMS: o.latency.Milliseconds(), Error: o.err}); err != nil {
			return err
		}
		// A redelivery may have handed the delivery to a new job while
		// this attempt was in flight. A success still ends it (the new
		// job then finds nothing to do); a failure leaves the retries to
		// the new job.
		cur, err := tx.WebhookDeliveryGetByID(ctx, d.ID)
		if err != nil {
			return err
		}
		superseded = cur.JobID != job.ID
		if superseded && up.State != store.WebhookSucceeded {
			return nil
		}
		up.JobID = cur.JobID
		_, err = tx.WebhookDeliveryUpdate(ctx, up)
		return err
	})
	if err != nil {
		return fmt.Errorf("error recording webhook attempt: %w", err)
	}
	w.Metrics.WebhookAttempt(o.metricOutcome())
	if superseded {
		return nil
	}

	log := w.logger().With("delivery_id", d.ID, "run_id", d.RunID, "attempt", job.Attempt, "status", o.status,
		"latency_ms", o.latency.Milliseconds())
	switch up.State {
	case store.WebhookSucceeded:
		log.Debug("webhook delivered")
		return nil
	case store.WebhookFailed:
		log.Info("webhook delivery failed for good", "error", o.err)
		return river.JobCancel(errors.New(o.err))
	}
	log.Info("webhook attempt failed, will retry", "error", o.err, "next_attempt_at", *up.NextAttemptAt)
	return errors.New(o.err)
}

// attempt POSTs the delivery once, signed now with every active secret.
func (w *Deliverer) attempt(ctx context.Context, d *store.WebhookDelivery, secrets []string) outcome {
	if w.CheckURL != nil {
		if err := w.CheckURL(d.URL); err != nil {
			return outcome{err: "the callback URL is no longer allowed: " + err.Error(), final: true}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return outcome{err: "the callback URL is not valid", final: true}
	}
	start := w.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderWebhookID, d.ID)
	req.Header.Set(HeaderEvent, d.EventType)
	req.Header.Set(HeaderSignature, Sign(d.Body, start, secrets...))
	resp, err := w.Client.Do(req)
	latency := w.now().Sub(start)
	if err != nil {
		// A destination the guard refuses is refused by policy, not by a
		// passing outage: retrying it for 45 hours would only repeat the
		// refusal, so the delivery fails now.
		return outcome{latency: latency, err: w.describe(ctx, err), final: errors.Is(err, netguard.ErrBlocked)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()

	o := outcome{status: resp.StatusCode, latency: latency}
	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
	case code == http.StatusGone:
		o.err, o.final = "the receiver answered 410 Gone: no more attempts", true
	case code >= 300 && code <= 399:
		o.err = "the receiver answered " + strconv.Itoa(code) + "; redirects are not followed"
	default:
		o.err = "the receiver answered " + strconv.Itoa(code)
	}
	return o
}

// describe turns a transport error into a sentence for the workspace. It
// never repeats the error's own text, which may name addresses our
// resolver returned.
func (w *Deliverer) describe(ctx context.Context, err error) string {
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		netErr  net.Error
	)
	switch {
	case errors.Is(err, netguard.ErrBlocked):
		return "the callback host resolves to a private, reserved or cloud metadata address, which is not allowed; no more attempts"
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "the receiver did not answer within " + w.timeout().String()
	case errors.As(err, &dnsErr):
		return "the callback host name could not be resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the receiver refused the connection"
	case errors.As(err, &certErr), errors.As(err, &unknown):
		return "the receiver's TLS certificate is not valid"
	}
	w.logger().Debug("webhook request failed", "error", err)
	return "the request to the receiver failed"
}

func ptr[T any](v T) *T { return &v }
