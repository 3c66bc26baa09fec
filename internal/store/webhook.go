package store

// Webhook delivery states. A delivery is pending from its creation until an
// attempt succeeds (succeeded) or the receiver answers 410 Gone or the retry
// schedule runs out (failed). A redelivery makes it pending again.
const (
	WebhookPending   = "pending"
	WebhookSucceeded = "succeeded"
	WebhookFailed    = "failed"
)

// WebhookDelivery is one event to POST to a run's callback URL. Body holds
// the exact bytes sent on every attempt, so that retries and redeliveries
// are byte-identical and carry the same id.
type WebhookDelivery struct {
	ID          string
	WorkspaceID string
	RunID       string
	EventType   string // run.completed or run.failed
	URL         string
	Body        []byte
	State       string
	// AttemptCount is how many attempts were recorded.
	AttemptCount int
	// JobID is the River job that delivers it now; a job with another id
	// was superseded by a redelivery and does nothing.
	JobID int64
	// NextAttemptAt is when a pending delivery is tried next; nil when it
	// is not pending.
	NextAttemptAt *int64
	CreatedAt     int64
	// CompletedAt is when the delivery succeeded or finally failed.
	CompletedAt *int64
}

// WebhookDeliveryInsertParams creates a pending delivery. The pair (RunID,
// EventType) is unique: a run sends each event at most once, and a second
// insert returns ErrAlreadyExists.
type WebhookDeliveryInsertParams struct {
	ID          string
	WorkspaceID string
	RunID       string
	EventType   string
	URL         string
	Body        []byte
	JobID       int64
	CreatedAt   int64
}

// WebhookDeliveryUpdateParams sets a delivery's state. NextAttemptAt and
// CompletedAt are written as given, nil included.
type WebhookDeliveryUpdateParams struct {
	ID            string
	State         string
	JobID         int64
	NextAttemptAt *int64
	CompletedAt   *int64
}

// WebhookDeliveryListParams filters and pages a workspace's deliveries,
// newest first.
type WebhookDeliveryListParams struct {
	WorkspaceID string
	RunID       string // optional
	State       string // optional
	// AfterCreatedAt and AfterID are the keyset cursor: the (created_at, id)
	// of the last delivery of the previous page, which holds older ones only.
	// AfterID "" means the first page.
	AfterCreatedAt int64
	AfterID        string
	Limit          int
}

// WebhookAttempt is one recorded POST of a delivery.
type WebhookAttempt struct {
	ID          int64
	DeliveryID  string
	AttemptedAt int64
	// StatusCode is the receiver's HTTP status; 0 when no response arrived
	// (refused, timed out, blocked by the network guard).
	StatusCode int
	LatencyMS  int64
	// Error says why the attempt failed, in words fit for the workspace;
	// empty on success.
	Error string
}

// WebhookAttemptInsertParams records one attempt and counts it on its
// delivery.
type WebhookAttemptInsertParams struct {
	DeliveryID  string
	AttemptedAt int64
	StatusCode  int
	LatencyMS   int64
	Error       string
}

// WebhookSecrets are the signing secrets of a workspace. During a rotation's
// overlap the previous secret signs too, so receivers that still verify
// with it keep accepting deliveries.
type WebhookSecrets struct {
	WorkspaceID string
	Current     string
	// Previous is the secret replaced by the last rotation; "" if none.
	Previous string
	// PreviousExpiresAt is when Previous stops signing (unix ms).
	PreviousExpiresAt int64
}

// Active returns the secrets that sign at time now (unix ms): the current
// one first, then the previous one while its overlap lasts.
func (s *WebhookSecrets) Active(now int64) []string {
	out := []string{s.Current}
	if s.Previous != "" && now < s.PreviousExpiresAt {
		out = append(out, s.Previous)
	}
	return out
}

// WebhookSecretRotateParams replaces a workspace's secret. The current one
// becomes the previous one until PreviousExpiresAt; an older previous secret
// is dropped.
type WebhookSecretRotateParams struct {
	WorkspaceID       string
	Secret            string
	PreviousExpiresAt int64
}
