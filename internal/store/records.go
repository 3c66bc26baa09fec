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
}

// APIKeyInsertParams holds a new key's row.
type APIKeyInsertParams struct {
	ID          string
	WorkspaceID string
	Hash        []byte
	Prefix      string
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

// LedgerEntry is one row of the credit ledger.
type LedgerEntry struct {
	ID           int64
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
}

// RunFinishParams ends a run.
type RunFinishParams struct {
	RunID          string
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
}
