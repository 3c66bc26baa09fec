package store

// Times are unix milliseconds throughout, as the API reports them.

// Workspace owns credits, keys and runs.
type Workspace struct {
	ID            string
	Name          string
	Balance       int64
	WebhookSecret string
	CreatedAt     int64
}

// WorkspaceInsertParams creates a workspace with a zero balance; credits
// arrive through CreditsApply so that the ledger always explains the balance.
type WorkspaceInsertParams struct {
	ID            string
	Name          string
	WebhookSecret string
	CreatedAt     int64
}

// APIKey is a stored key. Only the SHA-256 of the secret is kept.
type APIKey struct {
	ID          string
	WorkspaceID string
	Hash        []byte
	Prefix      string
	CreatedAt   int64
	RevokedAt   *int64
	// Scopes the key may use (auth.Scope* names).
	Scopes []string
	// MaxCreditsPerDay caps what the key may reserve per UTC day; nil
	// means no cap beyond the workspace's balance.
	MaxCreditsPerDay *int64
}

// APIKeyInsertParams holds a new key's row.
type APIKeyInsertParams struct {
	ID          string
	WorkspaceID string
	Hash        []byte
	Prefix      string
	CreatedAt   int64
	// Scopes must not be empty: a key that may do nothing is refused.
	Scopes           []string
	MaxCreditsPerDay *int64
}

// APIKeyUpdateParams changes a key's scopes or cap; nil fields stay as
// they are. ClearCap removes the cap.
type APIKeyUpdateParams struct {
	ID               string
	Scopes           []string
	MaxCreditsPerDay *int64
	ClearCap         bool
}

// SpendDay is the UTC day of a unix-ms time, in days since the epoch: the
// period of a key's daily cap.
func SpendDay(ms int64) int64 { return ms / 86_400_000 }

// KeySpendParams adds a run's credits to what a key spent on Day (UTC days
// since the epoch), refused when that would pass Cap.
type KeySpendParams struct {
	KeyID   string
	Day     int64
	Credits int64
	// Cap is the key's daily cap; nil adds without a limit.
	Cap *int64
}

// KeyCapError is a create that would take a key past its daily cap. It
// carries the 402's figures for the key: the run's credits, and what the
// key may still spend today.
type KeyCapError struct {
	Required  int64
	Available int64
	Cap       int64
}

func (e *KeyCapError) Error() string { return "key daily credit cap exceeded" }

// ClerkSubject links a Clerk subject (org_... or user_...) to a workspace.
type ClerkSubject struct {
	Subject     string
	WorkspaceID string
	CreatedAt   int64
}

// Ledger entry kinds. Amount is the change to the available balance:
// grant and refund add, reserve subtracts, charge is zero and marks the
// moment a reservation became final.
const (
	LedgerGrant   = "grant"
	LedgerReserve = "reserve"
	LedgerCharge  = "charge"
	LedgerRefund  = "refund"
)

// LedgerEntry is one row of the credit ledger. Seq numbers a workspace's
// entries 1, 2, 3, ... in commit order.
type LedgerEntry struct {
	Seq          int64
	WorkspaceID  string
	RunID        string
	Kind         string
	Amount       int64
	BalanceAfter int64
	Memo         string
	CreatedAt    int64
}

// CreditsApplyParams describes one balance change.
type CreditsApplyParams struct {
	WorkspaceID string
	RunID       string // empty for grants
	Kind        string
	Amount      int64
	Memo        string
	CreatedAt   int64
}

// Run statuses.
const (
	RunPending   = "pending"
	RunRunning   = "running"
	RunCompleted = "completed"
	RunFailed    = "failed"
)

// Run is one execution of a technique.
type Run struct {
	ID               string
	WorkspaceID      string
	TechniqueID      string
	TechniqueSlug    string
	TechniqueVersion string
	Status           string
	Progress         int
	Inputs           []RunInput
	Mode             string
	CallbackURL      string
	IdempotencyKey   string
	Fingerprint      string
	Credits          int64
	ChargedCredits   *int64
	Outputs          []RunOutput
	ErrorCode        string
	ErrorMessage     string
	CreatedAt        int64
	StartedAt        *int64
	CompletedAt      *int64
	// JobID is the River job that owns the run: only it may start, renew
	// or record it. The reconciler hands a run whose job died to a fresh
	// job by changing it.
	JobID int64
	// LeaseUntil is when the reconciler next looks at the open run, unix
	// ms; the owner's heartbeats (or a snooze) push it forward.
	LeaseUntil *int64
	// EventSeq is the Seq of the run's newest event: the run as read
	// reflects every event up to it and none after.
	EventSeq int64
	// KeyID is the API key that created the run, when a key did: its
	// daily spend gets a refund back.
	KeyID string
}

// Finished reports whether the run reached a terminal status.
func (r *Run) Finished() bool { return r.Status == RunCompleted || r.Status == RunFailed }

// RunInput is one validated input, its type in canonical spelling.
type RunInput struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// RunOutput is one produced output. Media outputs name a blob; text outputs
// carry the text itself.
type RunOutput struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Text        string `json:"text,omitempty"`
	BlobKey     string `json:"blob_key,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size,omitempty"`
}

// RunInsertParams creates a pending run.
type RunInsertParams struct {
	ID               string
	WorkspaceID      string
	TechniqueID      string
	TechniqueSlug    string
	TechniqueVersion string
	Inputs           []RunInput
	Mode             string
	CallbackURL      string
	IdempotencyKey   string
	Fingerprint      string
	Credits          int64
	CreatedAt        int64
	// JobID is the River job inserted for the run in the same transaction,
	// its first owner; LeaseUntil its first lease.
	JobID      int64
	LeaseUntil int64
	KeyID      string // the creating key, "" when none
	// FirstEvent, when set, is written as the run's event 1 together with
	// the run; its RunID is the run's.
	FirstEvent *RunEventInsertParams
	// Payment, when set, is the run's reservation, made with the run.
	Payment *Payment
}

// Payment is what a create pays: the workspace's reservation (Entry), and
// the creating key's daily spend when Spend is set.
type Payment struct {
	Spend *KeySpendParams
	Entry *CreditsApplyParams
}

// RunState is what a worker watches of a run while executing it.
type RunState struct {
	RunID      string
	Status     string
	JobID      int64
	LeaseUntil *int64
	// EventSeq is the Seq of the run's newest event.
	EventSeq int64
}

// Finished reports whether the run reached a terminal status.
func (s *RunState) Finished() bool { return s.Status == RunCompleted || s.Status == RunFailed }

// RunStartParams starts a run on behalf of its owner.
type RunStartParams struct {
	RunID      string
	JobID      int64
	At         int64
	LeaseUntil int64
}

// RunLeaseParams renews an open run's lease on behalf of its owner.
type RunLeaseParams struct {
	RunID      string
	JobID      int64
	LeaseUntil int64
}

// RunOwnerParams hands an open run to a new job.
type RunOwnerParams struct {
	RunID      string
	FromJobID  int64
	ToJobID    int64
	LeaseUntil int64
}

// RunFinishParams ends a run.
type RunFinishParams struct {
	RunID string
	// JobID, when not zero, is the job ending the run, which must own it
	// (ErrNotOwner otherwise); zero for an end decided elsewhere (a cancel,
	// the reconciler).
	JobID          int64
	Status         string // RunCompleted or RunFailed
	Outputs        []RunOutput
	ChargedCredits *int64
	ErrorCode      string
	ErrorMessage   string
	At             int64
}

// RunStep is the recorded result of one finished step of a run's graph, so
// that a resumed run never does or bills a finished step again.
type RunStep struct {
	RunID      string
	StepID     string
	Outputs    []RunOutput
	FinishedAt int64
	// EndsCall, when set, removes the step's StepCall (and frees its
	// provider slot) in the transaction that records the step. Not stored.
	EndsCall bool
}

// States of a StepCall.
const (
	// CallSubmitting: the request is about to be sent, or was being sent
	// when the process stopped; whether the provider got it is unknown.
	CallSubmitting = "submitting"
	// CallSubmitted: the provider accepted it; Handle says how to reach it.
	CallSubmitted = "submitted"
)

// StepCall is one step's request to a remote model provider while the
// provider works on it. It is written before the request is sent and takes
// one of the provider's concurrency slots; the provider's answer (its
// request id, in Handle) is recorded in the transaction of the submission's
// outcome, so that a resumed run polls the same request rather than paying
// for another. It goes away with the finished step's record (RunStep
// EndsCall) or when the request is given up.
type StepCall struct {
	RunID    string
	StepID   string
	Provider string
	State    string
	// RequestID is the provider's id of the request, by which its webhooks
	// name it.
	RequestID string
	// Handle is the adapter's record of the request (the provider's id and
	// URLs), opaque to the store.
	Handle string
	// Status is the provider's last reported state as the run's events
	// showed it (queue position, progress), so that only a change is
	// announced.
	Status    string
	CreatedAt int64
	UpdatedAt int64
}

// StepCallBeginParams opens a StepCall, taking a slot of its provider.
type StepCallBeginParams struct {
	RunID    string
	StepID   string
	Provider string
	// Limit is the provider's concurrency cap across the deployment; 0 means
	// none.
	Limit int
	At    int64
}
