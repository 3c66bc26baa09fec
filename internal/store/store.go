// Package store defines florad's persistence contract: the domain records, the
// sentinel errors, and the Store interface that every database backend
// implements. Handlers, services and workers see only these types, never SQL.
package store

import (
	"context"
	"database/sql"
	"errors"
)

// Sentinel errors. Backends translate their driver errors into these at the
// boundary, so callers decide with errors.Is and never look at SQL codes.
var (
	// ErrNotFound means the row does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a unique constraint refused the write.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInsufficientCredits means a debit would take the balance below zero.
	// The returned error is an *InsufficientCreditsError.
	ErrInsufficientCredits = errors.New("insufficient credits")
	// ErrRunFinished means a state change was refused because the run had
	// already reached a terminal status.
	ErrRunFinished = errors.New("run already finished")
	// ErrNotOwner means a change to an open run was refused because the
	// River job making it is no longer the run's owner: the reconciler
	// handed the run to a fresh job. The job that gets it stops.
	ErrNotOwner = errors.New("run owned by another job")
	// ErrProviderBusy means a provider's concurrency cap is reached: the
	// request waits for a slot.
	ErrProviderBusy = errors.New("provider at its concurrency limit")
)

// InsufficientCreditsError carries the figures a 402 response shows.
type InsufficientCreditsError struct {
	Required  int64
	Available int64
}

func (e *InsufficientCreditsError) Error() string { return ErrInsufficientCredits.Error() }

// Is makes errors.Is(err, ErrInsufficientCredits) true.
func (e *InsufficientCreditsError) Is(target error) bool { return target == ErrInsufficientCredits }

// Store is the whole persistence contract. Reads outside a transaction go to
// a read pool; every write happens inside InTx, which hands the function a Tx
// bound to the single writer.
type Store interface {
	Reader

	// InTx runs fn in one write transaction and commits it when fn returns
	// nil. Any error, or a panic, rolls everything back.
	InTx(ctx context.Context, fn func(tx Tx) error) error

	// InTxGrouped runs fn like InTx, but may run it in one transaction
	// together with other callers' functions, each in its own savepoint:
	// an error from fn undoes only fn's writes, and all of them commit (and
	// pay for one durable flush) together. A panic in fn becomes its error,
	// so it cannot take others' work down. Use it for short, independent
	// write transactions on a hot path. Backends that gain nothing from it
	// run fn in a transaction of its own.
	InTxGrouped(ctx context.Context, fn func(tx Tx) error) error

	// WriterDB is the pool River shares with us, so that jobs can be inserted
	// and completed inside our own transactions.
	WriterDB() *sql.DB

	// Ping checks that the database answers.
	Ping(ctx context.Context) error

	// Dialect names the backend: "sqlite" or "postgres".
	Dialect() string

	Close() error
}

// Reader holds the queries that only read.
type Reader interface {
	APIKeyGetByHash(ctx context.Context, hash []byte) (*APIKey, error)
	APIKeyGet(ctx context.Context, id string) (*APIKey, error)
	// KeySpendGet is what the key reserved on day (UTC days since the
	// epoch); 0 when nothing.
	KeySpendGet(ctx context.Context, keyID string, day int64) (int64, error)
	// ClerkSubjectGet returns the workspace link of a Clerk subject;
	// ErrNotFound when it has none.
	ClerkSubjectGet(ctx context.Context, subject string) (*ClerkSubject, error)
	WorkspaceGet(ctx context.Context, id string) (*Workspace, error)
	WorkspaceList(ctx context.Context) ([]*Workspace, error)
	// RunGet returns the run only if it belongs to workspaceID. It is the
	// API's read, and like RunGetByIdempotencyKey and RunList leaves Inputs
	// nil: the API never shows them, and a poll should not pay for them.
	RunGet(ctx context.Context, workspaceID, runID string) (*Run, error)
	// RunGetByID returns a run, inputs included, whatever its workspace; for
	// workers.
	RunGetByID(ctx context.Context, runID string) (*Run, error)
	RunGetByIdempotencyKey(ctx context.Context, workspaceID, key string) (*Run, error)
	// RunGetWithKey reads the API key with this hash and a run of the key's
	// workspace in one statement, the run as RunGet returns it: a poll's
	// authentication and read at the cost of one. ErrNotFound unless both
	// exist; the caller then tells which is missing the slow way. The key
	// is returned whatever its state: checking it is the caller's.
	RunGetWithKey(ctx context.Context, keyHash []byte, runID string) (*APIKey, *Run, error)
	// RunStateGet reads the few columns a worker watches while it executes
	// a run (status, owner, lease), whatever the run's workspace.
	RunStateGet(ctx context.Context, runID string) (*RunState, error)
	// RunStateList returns the state of each of the runs that exist, in no
	// particular order.
	RunStateList(ctx context.Context, runIDs []string) ([]*RunState, error)
	// RunListLeaseExpired returns up to limit open runs whose lease ended
	// before `before`, the longest expired first: the reconciler's work.
	RunListLeaseExpired(ctx context.Context, before int64, limit int) ([]*Run, error)
	// RunCountOpen counts the runs of every workspace waiting to start
	// (pending) and running: the queue depth /metrics shows, read at each
	// scrape so that it holds across processes and restarts.
	RunCountOpen(ctx context.Context) (pending, running int64, err error)
	RunStepList(ctx context.Context, runID string) ([]*RunStep, error)
	// StepCallList returns the run's provider requests in flight.
	StepCallList(ctx context.Context, runID string) ([]*StepCall, error)
	// StepCallByRequest finds the request a provider's webhook names;
	// ErrNotFound if it is not in flight.
	StepCallByRequest(ctx context.Context, provider, requestID string) (*StepCall, error)
	// ProviderInFlight counts the provider's requests holding a slot.
	ProviderInFlight(ctx context.Context, provider string) (int, error)
	LedgerList(ctx context.Context, workspaceID string) ([]*LedgerEntry, error)
	// LedgerPage returns up to limit entries of the workspace with Seq above
	// afterSeq, oldest first.
	LedgerPage(ctx context.Context, workspaceID string, afterSeq int64, limit int) ([]*LedgerEntry, error)
	// RunList pages a workspace's runs, newest first.
	RunList(ctx context.Context, p *RunListParams) ([]*Run, error)
	// RunEventList returns up to limit events of the run with Seq above
	// afterSeq, in order.
	RunEventList(ctx context.Context, runID string, afterSeq int64, limit int) ([]*RunEvent, error)
	SettingGet(ctx context.Context, name string) (string, error)
	// TechniqueLatestList returns the newest version of every stored
	// technique, public and per workspace.
	TechniqueLatestList(ctx context.Context) ([]*TechniqueRecord, error)
	// TechniqueGetVersion returns one exact version.
	TechniqueGetVersion(ctx context.Context, workspaceID, slug, version string) (*TechniqueRecord, error)

	// WebhookDeliveryGet returns the delivery only if it belongs to
	// workspaceID.
	WebhookDeliveryGet(ctx context.Context, workspaceID, id string) (*WebhookDelivery, error)
	// WebhookDeliveryGetByID returns a delivery whatever its workspace; for
	// workers only.
	WebhookDeliveryGetByID(ctx context.Context, id string) (*WebhookDelivery, error)
	// WebhookDeliveryListOverdue returns up to limit pending deliveries
	// whose next attempt was due before `before`, the most overdue first.
	WebhookDeliveryListOverdue(ctx context.Context, before int64, limit int) ([]*WebhookDelivery, error)
	// WebhookDeliveryList pages a workspace's deliveries, newest first.
	WebhookDeliveryList(ctx context.Context, p *WebhookDeliveryListParams) ([]*WebhookDelivery, error)
	// WebhookAttemptList returns the attempts of the given deliveries,
	// oldest first within each.
	WebhookAttemptList(ctx context.Context, deliveryIDs []string) ([]*WebhookAttempt, error)
	// WorkspaceWebhookSecrets returns a workspace's signing secrets.
	WorkspaceWebhookSecrets(ctx context.Context, workspaceID string) (*WebhookSecrets, error)

	// AssetGet returns the asset only if it belongs to workspaceID.
	AssetGet(ctx context.Context, workspaceID, id string) (*Asset, error)
	AssetGetByIdempotencyKey(ctx context.Context, workspaceID, key string) (*Asset, error)
	// AssetList pages a workspace's assets, newest first.
	AssetList(ctx context.Context, p *AssetListParams) ([]*Asset, error)
	// AssetListCreatedBefore returns up to limit assets of any workspace
	// created before `before`, the oldest first: retention's work.
	AssetListCreatedBefore(ctx context.Context, before int64, limit int) ([]*Asset, error)
	// WorkspaceStorageUsed is the bytes of the workspace's assets.
	WorkspaceStorageUsed(ctx context.Context, workspaceID string) (int64, error)
	// RunListPurgeable returns up to limit finished runs completed before
	// `before` whose output files are not purged yet, the oldest first,
	// with the blob keys of their outputs and recorded steps.
	RunListPurgeable(ctx context.Context, before int64, limit int) ([]*RunPurge, error)
}

// Tx is a write transaction. Its reads see its own writes. After any of its
// methods returns an error other than a plain refusal documented on the
// method (ErrRunFinished, ErrNotOwner, ErrNotFound, *InsufficientCreditsError,
// *StorageQuotaError, *KeyCapError),
// the caller must give the transaction up: on PostgreSQL a failed statement
// aborts it, and SQLite is held to the same rule rather than left half-done.
type Tx interface {
	Reader

	// SQLTx exposes the transaction for River's InsertTx and JobCompleteTx,
	// so job changes commit or roll back with ours.
	SQLTx() *sql.Tx

	WorkspaceInsert(ctx context.Context, p *WorkspaceInsertParams) (*Workspace, error)
	APIKeyInsert(ctx context.Context, p *APIKeyInsertParams) (*APIKey, error)
	// APIKeyRevoke marks a key revoked; ErrNotFound if it does not exist.
	APIKeyRevoke(ctx context.Context, id string, at int64) error
	// APIKeyUpdate changes a key's scopes or cap; ErrNotFound if it does
	// not exist.
	APIKeyUpdate(ctx context.Context, p *APIKeyUpdateParams) (*APIKey, error)
	// KeySpendAdd adds p.Credits to the key's spend of p.Day in one guarded
	// statement, so concurrent creates can never take it past p.Cap
	// together; past it, *KeyCapError and nothing changes (a plain
	// refusal: the transaction stays usable). Returns the new total.
	KeySpendAdd(ctx context.Context, p *KeySpendParams) (int64, error)
	// KeySpendRefund gives credits back to the key's spend of day (a
	// refunded run), never below zero; nothing when the key spent nothing
	// that day.
	KeySpendRefund(ctx context.Context, keyID string, day, credits int64) error
	// ClerkSubjectInsert links a subject to a workspace; ErrAlreadyExists
	// when the subject is linked already.
	ClerkSubjectInsert(ctx context.Context, p *ClerkSubject) error

	// CreditsApply changes a balance and writes the ledger row, numbered
	// in the workspace's own sequence. A negative Amount that would
	// overdraw returns *InsufficientCreditsError and changes nothing; a
	// second entry of the same kind for the same run returns
	// ErrAlreadyExists, after which the transaction must be given up.
	CreditsApply(ctx context.Context, p *CreditsApplyParams) (*LedgerEntry, error)
	// CreditsReserve makes a payment: KeySpendAdd of its Spend (when not
	// nil) and CreditsApply of its Entry together, in one statement where
	// the database allows, so that the two hot rows are locked for one
	// round trip and the commit. Refusals are those of the two (the key's
	// first); after any error the transaction must be given up.
	CreditsReserve(ctx context.Context, pay *Payment) (*LedgerEntry, error)

	// RunInsert returns ErrAlreadyExists when the workspace already has a run
	// with the same idempotency key. It writes p.FirstEvent, if any, as the
	// run's event 1, and makes p.Payment, if any, as CreditsReserve does
	// (with its refusals, after which the transaction must be given up):
	// all in one statement on PostgreSQL. Every later event is
	// RunEventInsert's.
	RunInsert(ctx context.Context, p *RunInsertParams) (*Run, error)
	// RunStart moves a pending run to running and renews its lease, if
	// p.JobID owns it. A running run of the same owner has its lease
	// renewed and is returned with Changed false (a retried job resumes);
	// ErrNotOwner if another job owns the run, ErrRunFinished if it ended.
	RunStart(ctx context.Context, p *RunStartParams) (*Run, bool, error)
	// RunSetProgress raises progress and says whether it did; it never
	// lowers it, and it does not touch terminal runs.
	RunSetProgress(ctx context.Context, runID string, progress int) (bool, error)
	// RunFinish moves a non-terminal run to completed or failed;
	// ErrRunFinished if it had already ended.
	RunFinish(ctx context.Context, p *RunFinishParams) (*Run, error)
	// RunRenewLease pushes an open run's lease to p.LeaseUntil if p.JobID
	// owns it: a heartbeat, a snooze, or the reconciler finding its job
	// still queued. ErrNotOwner or ErrRunFinished otherwise.
	RunRenewLease(ctx context.Context, p *RunLeaseParams) error
	// RunSetOwner hands an open run from job p.FromJobID to p.ToJobID with
	// a new lease; ErrNotOwner if p.FromJobID no longer owns it (another
	// rescuer won), ErrRunFinished if it ended.
	RunSetOwner(ctx context.Context, p *RunOwnerParams) error
	// RunEventInsert appends an event to the run's history with the next
	// Seq of the run. Taking the number locks the run's row, so a run's
	// events commit in Seq order and a reader resuming after Seq N never
	// misses a smaller one committed later. Once the run has ended only an
	// event with Final set is accepted (the one written with RunFinish);
	// any other gives ErrRunFinished: nothing follows a run's final event.
	RunEventInsert(ctx context.Context, p *RunEventInsertParams) (*RunEvent, error)
	// RunStepInsert records one finished step; ErrAlreadyExists if it was
	// recorded before.
	RunStepInsert(ctx context.Context, p *RunStep) error

	// StepCallBegin writes a StepCall in state submitting and takes a slot
	// of its provider: ErrProviderBusy (a plain refusal) when p.Limit slots
	// are taken, ErrAlreadyExists when the step has a call already.
	StepCallBegin(ctx context.Context, p *StepCallBeginParams) error
	// StepCallSubmitted records the provider's acceptance; ErrNotFound if
	// the call is gone.
	StepCallSubmitted(ctx context.Context, runID, stepID, requestID, handle string, at int64) error
	// StepCallSetStatus stores the provider's reported state and says
	// whether it changed; ErrNotFound if the call is gone.
	StepCallSetStatus(ctx context.Context, runID, stepID, status string, at int64) (bool, error)
	// StepCallDelete removes a call and frees its slot; a call already gone
	// is not an error.
	StepCallDelete(ctx context.Context, runID, stepID string) error

	// TechniqueInsert stores a technique version; ErrAlreadyExists when
	// that exact version is already stored.
	TechniqueInsert(ctx context.Context, t *TechniqueRecord) error

	// SettingInsertIfAbsent stores value unless the name is taken, and
	// returns the value in force either way.
	SettingInsertIfAbsent(ctx context.Context, name, value string) (string, error)

	// WebhookDeliveryInsert creates a pending delivery; ErrAlreadyExists if
	// the run already has a delivery of the same event type.
	WebhookDeliveryInsert(ctx context.Context, p *WebhookDeliveryInsertParams) (*WebhookDelivery, error)
	// WebhookDeliveryUpdate sets a delivery's state; ErrNotFound if it does
	// not exist.
	WebhookDeliveryUpdate(ctx context.Context, p *WebhookDeliveryUpdateParams) (*WebhookDelivery, error)
	// WebhookAttemptInsert records one attempt and counts it on the
	// delivery; ErrNotFound if the delivery does not exist.
	WebhookAttemptInsert(ctx context.Context, p *WebhookAttemptInsertParams) (*WebhookAttempt, error)
	// WorkspaceWebhookSecretRotate makes p.Secret the current secret and
	// keeps the replaced one signing until p.PreviousExpiresAt; ErrNotFound
	// if the workspace does not exist.
	WorkspaceWebhookSecretRotate(ctx context.Context, p *WebhookSecretRotateParams) (*WebhookSecrets, error)

	// AssetInsert stores an asset and counts its bytes on the workspace.
	// ErrAlreadyExists when the workspace has an asset with the same
	// idempotency key; *StorageQuotaError (a plain refusal) when the bytes
	// would pass p.QuotaBytes.
	AssetInsert(ctx context.Context, p *AssetInsertParams) (*Asset, error)
	// AssetDelete removes an asset and uncounts its bytes; ErrNotFound if
	// it does not exist.
	AssetDelete(ctx context.Context, id string) error
	// RunPurgeOutputs records that a finished run's output files are gone:
	// its outputs and steps are emptied. ErrNotFound unless the run is
	// finished and not purged yet.
	RunPurgeOutputs(ctx context.Context, runID string, at int64) error
}
