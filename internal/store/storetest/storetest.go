// Package storetest is the conformance suite for store.Store. Every backend
// runs the same tests through Exercise, so SQLite and PostgreSQL are held to
// one contract: the sentinel errors, the transaction semantics, the credit
// ledger invariant, the run state machine and its ownership, and the order
// in which a run's events commit.
//
// The package is imported only from _test.go files.
package storetest

import (
	"context"
	"testing"

	"github.com/florad/florad/internal/store"
)

// Exercise runs the whole suite against the backend that newStore opens.
//
// Every subtest is parallel and calls newStore for a store of its own, so
// newStore must return an empty, migrated store and register its own cleanup
// (closing it, dropping a schema) with t.Cleanup. Tests never rely on being
// alone in the database: ids are random and lists are filtered to the rows a
// test wrote.
func Exercise(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()

	setup := func(t *testing.T) *testBundle {
		t.Helper()
		s := newStore(t)
		ctx := t.Context()
		return &testBundle{ctx: ctx, store: s, fix: newFactory(t, ctx, s)}
	}

	t.Run("Workspace", func(t *testing.T) { t.Parallel(); exerciseWorkspace(t, setup) })
	t.Run("APIKey", func(t *testing.T) { t.Parallel(); exerciseAPIKey(t, setup) })
	t.Run("KeyScopesAndCap", func(t *testing.T) { t.Parallel(); exerciseKeyScopesAndCap(t, setup) })
	t.Run("KeySpend", func(t *testing.T) { t.Parallel(); exerciseKeySpend(t, setup) })
	t.Run("CreditsReserve", func(t *testing.T) { t.Parallel(); exerciseCreditsReserve(t, setup) })
	t.Run("WorkspaceReferences", func(t *testing.T) { t.Parallel(); exerciseWorkspaceReferences(t, setup) })
	t.Run("ClerkSubject", func(t *testing.T) { t.Parallel(); exerciseClerkSubject(t, setup) })
	t.Run("Credits", func(t *testing.T) { t.Parallel(); exerciseCredits(t, setup) })
	t.Run("InTx", func(t *testing.T) { t.Parallel(); exerciseInTx(t, setup) })
	t.Run("InTxGrouped", func(t *testing.T) { t.Parallel(); exerciseInTxGrouped(t, setup) })
	t.Run("Run", func(t *testing.T) { t.Parallel(); exerciseRun(t, setup) })
	t.Run("RunOwner", func(t *testing.T) { t.Parallel(); exerciseRunOwner(t, setup) })
	t.Run("RunCount", func(t *testing.T) { t.Parallel(); exerciseRunCount(t, setup) })
	t.Run("RunEvent", func(t *testing.T) { t.Parallel(); exerciseRunEvent(t, setup) })
	t.Run("RunStep", func(t *testing.T) { t.Parallel(); exerciseRunStep(t, setup) })
	t.Run("StepCall", func(t *testing.T) { t.Parallel(); exerciseStepCall(t, setup) })
	t.Run("Setting", func(t *testing.T) { t.Parallel(); exerciseSetting(t, setup) })
	t.Run("Technique", func(t *testing.T) { t.Parallel(); exerciseTechnique(t, setup) })
	t.Run("Webhook", func(t *testing.T) { t.Parallel(); exerciseWebhook(t, setup) })
	t.Run("Asset", func(t *testing.T) { t.Parallel(); exerciseAsset(t, setup) })
	t.Run("Store", func(t *testing.T) { t.Parallel(); exerciseStore(t, setup) })
}

// testBundle is what one subtest works with: a fresh store, the test's
// context (cancelled when the test ends, which also rolls back any
// transaction a failed assertion abandoned) and a fixture factory.
type testBundle struct {
	ctx   context.Context
	store store.Store
	fix   *factory
}

type setupFunc func(t *testing.T) *testBundle
