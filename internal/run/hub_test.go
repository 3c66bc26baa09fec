package run_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
)

// collect reads a subscription until it has n events or the final one.
func collect(t *testing.T, sub *run.Subscription, n int) []*run.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var out []*run.Event
	for len(out) < n {
		batch, err := sub.Next(ctx)
		require.NoError(t, err, "after %d events", len(out))
		out = append(out, batch...)
		if out[len(out)-1].Final() {
			break
		}
	}
	return out
}

func requireSeqs(t *testing.T, events []*run.Event, from int64) {
	t.Helper()
	for i, e := range events {
		require.Equal(t, from+int64(i), e.Seq, "event %d of %d", i, len(events))
	}
}

// TestStreamFanOut: many subscriptions to one run each get every event once
// and in order, and the hub reads the database once per change, not once
// per subscription.
func TestStreamFanOut(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, pg bool) {
		b := setup(t, bundleOpts{postgres: pg, noWorkers: true,
			svc: func(s *run.Service) { s.StreamPollInterval = time.Hour }})
		r := b.create(t, "watched by many")
		const subs, changes = 50, 20

		all := make([]*run.Subscription, subs)
		for i := range all {
			all[i] = b.svc.Subscribe(r.ID, 0)
			defer all[i].Close()
			got := collect(t, all[i], 1) // each catches up by itself once
			require.Equal(t, run.EventCreated, got[0].Type)
		}
		readsBefore := b.faulty.count("RunEventList")

		var wg sync.WaitGroup
		results := make([][]*run.Event, subs)
		for i, sub := range all {
			wg.Go(func() { results[i] = collect(t, sub, changes) })
		}
		for p := 1; p <= changes; p++ {
			require.NoError(t, b.svc.Progress(b.ctx, r.ID, p))
		}
		wg.Wait()
		for i, got := range results {
			require.Len(t, got, changes, "subscription %d", i)
			requireSeqs(t, got, 2)
			for j, e := range got {
				require.Equal(t, run.EventProgress, e.Type)
				require.JSONEq(t, fmt.Sprintf(`{"run_id":%q,"progress":%d}`, r.ID, j+1), string(e.Data))
			}
		}
		reads := b.faulty.count("RunEventList") - readsBefore
		require.LessOrEqual(t, reads, 2*changes, "%d reads for %d changes watched by %d subscriptions", reads, changes, subs)
	})
}

// TestStreamSeesOtherProcessesWrites: events another process writes (here a
// second service on the same database, with a hub of its own) reach a
// subscription by the hub's poll, and the final event carries the run.
func TestStreamSeesOtherProcessesWrites(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, pg bool) {
		b := setup(t, bundleOpts{postgres: pg, noWorkers: true,
			svc: func(s *run.Service) { s.StreamPollInterval = 20 * time.Millisecond }})
		r := b.create(t, "written elsewhere")
		other := &run.Service{Store: b.db, Techniques: b.svc.Techniques, Jobs: b.river}

		sub := b.svc.Subscribe(r.ID, 1)
		defer sub.Close()
		require.NoError(t, other.Progress(b.ctx, r.ID, 40))
		got := collect(t, sub, 1)
		require.Equal(t, run.EventProgress, got[0].Type)
		require.Equal(t, int64(2), got[0].Seq)

		_, err := other.Cancel(b.ctx, b.ws.ID, "prompt-expander", r.ID)
		require.NoError(t, err)
		got = collect(t, sub, 1)
		require.Equal(t, run.EventFailed, got[0].Type)
		require.True(t, got[0].Final())
		require.NotNil(t, got[0].Run)
		require.Equal(t, run.CodeRunCanceled, got[0].Run.ErrorCode)
	})
}

// TestStreamSlowSubscriberMissesNothing: a subscription that does not read
// while far more events arrive than it may queue reads what it missed from
// the database, in order, each once.
func TestStreamSlowSubscriberMissesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{noWorkers: true, svc: func(s *run.Service) { s.StreamPollInterval = 10 * time.Millisecond }})
	r := b.create(t, "a flood of events")
	sub := b.svc.Subscribe(r.ID, 0)
	defer sub.Close()
	first := collect(t, sub, 1)
	requireSeqs(t, first, 1)

	const flood = 2500
	require.NoError(t, b.db.InTx(b.ctx, func(tx store.Tx) error {
		for i := range flood {
			if _, err := tx.RunEventInsert(b.ctx, &store.RunEventInsertParams{RunID: r.ID, Type: "test.flood",
				Data: []byte(fmt.Sprintf(`{"n":%d}`, i)), CreatedAt: 1}); err != nil {
				return err
			}
		}
		return nil
	}))
	// Let the hub push it all (past the queue's bound) before reading.
	require.Eventually(t, func() bool { return b.faulty.count("RunEventList") >= flood/100 }, patience, 5*time.Millisecond)
	got := collect(t, sub, flood)
	require.Len(t, got, flood)
	requireSeqs(t, got, 2)
}

// TestSnapshotListsAnnouncedOutputs: a stream opened mid-run starts from a
// snapshot that lists the outputs already announced, since the events that
// announced them come before it.
func TestSnapshotListsAnnouncedOutputs(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{noWorkers: true})
	r := b.create(t, "half done")
	rec := b.svc.Recorder(r.ID, r.JobID)
	_, _, err := b.svc.Start(b.ctx, r.ID, r.JobID)
	require.NoError(t, err)
	out := store.RunOutput{ID: "expanded_prompt", Type: "text", Text: "a lighthouse at dawn, golden light"}
	require.NoError(t, rec.StepDone(b.ctx, &store.RunStep{StepID: "expand", FinishedAt: time.Now().UnixMilli(),
		Outputs: []store.RunOutput{{ID: "text", Type: "text", Text: out.Text}}}, 50, []store.RunOutput{out}))

	snap, err := b.svc.Snapshot(b.ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, store.RunRunning, snap.Run.Status)
	require.Equal(t, []store.RunOutput{out}, snap.Announced)
	require.Nil(t, snap.Final)
	require.Equal(t, int64(4), snap.Run.EventSeq, "created, started, progress, output")
}

// TestStreamReadsDoNotGrowWithStreams: the hub's database reads for a run's
// events (including the poll for other processes' writes and the ended
// run read with the final event) are the same whether 1 or 300
// subscriptions watch it.
func TestStreamReadsDoNotGrowWithStreams(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, pg bool) {
		readsFor := func(subs int) int {
			b := setup(t, bundleOpts{postgres: pg, noWorkers: true,
				svc: func(s *run.Service) { s.StreamPollInterval = 5 * time.Millisecond }})
			r := b.create(t, "watched")
			all := make([]*run.Subscription, subs)
			for i := range all {
				all[i] = b.svc.Subscribe(r.ID, 1) // after run.created: nothing to catch up on
				defer all[i].Close()
			}
			before := b.faulty.reads()
			var wg sync.WaitGroup
			for _, sub := range all {
				wg.Go(func() {
					got := collect(t, sub, 100)
					require.Len(t, got, 6)
					require.True(t, got[5].Final())
				})
			}
			for p := 1; p <= 5; p++ {
				require.NoError(t, b.svc.Progress(b.ctx, r.ID, p*10))
				time.Sleep(20 * time.Millisecond) // a few polls between changes
			}
			_, err := b.svc.Cancel(b.ctx, b.ws.ID, "prompt-expander", r.ID)
			require.NoError(t, err)
			wg.Wait()
			return b.faulty.reads() - before
		}
		one, many := readsFor(1), readsFor(300)
		// Polls happen on a clock, so the two counts differ by a few polls;
		// per-stream reads would make the second 300 times the first.
		require.LessOrEqual(t, many, one+one/2+10, "reads with 1 stream: %d, with 300: %d", one, many)
	})
}

// TestStreamHearsOtherProcessesAtOnce: on PostgreSQL, with a listener on
// both sides (the writer announces, the reader listens),
// another process's event reaches a subscription at once, without any poll
// (the poll interval here is an hour).
func TestStreamHearsOtherProcessesAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{postgres: true, noWorkers: true, svc: func(s *run.Service) {
		s.StreamPollInterval = time.Hour
	}})
	b.svc.Listener = b.db
	r := b.create(t, "written elsewhere")
	other := &run.Service{Store: b.db, Techniques: b.svc.Techniques, Jobs: b.river, Listener: b.db}

	sub := b.svc.Subscribe(r.ID, 1)
	defer sub.Close()
	// The first Next catches up (nothing yet); the listener connects
	// meanwhile, so wait until it hears a write before trusting it.
	require.Eventually(t, func() bool {
		require.NoError(t, other.Progress(b.ctx, r.ID, 1+int(time.Now().UnixMilli()%90)))
		ctx, cancel := context.WithTimeout(b.ctx, 200*time.Millisecond)
		defer cancel()
		events, err := sub.Next(ctx)
		return err == nil && len(events) > 0
	}, patience, 10*time.Millisecond)
	for range 3 {
		require.NoError(t, other.Progress(b.ctx, r.ID, 0)) // never lowers: no event
	}
	_, err := other.Cancel(b.ctx, b.ws.ID, "prompt-expander", r.ID)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	for {
		events, err := sub.Next(ctx)
		require.NoError(t, err, "the final event must arrive without a poll")
		if events[len(events)-1].Final() {
			require.Equal(t, run.EventFailed, events[len(events)-1].Type)
			return
		}
	}
}

// slowListener is a listener whose announcements wait for release, and
// that records what they carried.
type slowListener struct {
	release chan struct{}
	mu      sync.Mutex
	calls   [][]string
}

func (l *slowListener) AnnounceRunEvents(ctx context.Context, from string, runIDs []string) error {
	<-l.release
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, append([]string(nil), runIDs...))
	return nil
}

func (l *slowListener) ListenRunEvents(ctx context.Context, ready func(), fn func(from, runID string)) error {
	<-ctx.Done()
	return ctx.Err()
}

func (l *slowListener) announced() (ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		ids = append(ids, c...)
	}
	return ids
}

// TestAnnouncementsAreBatched: a writer never waits for its announcement
// to other processes, and the runs that change while one is sent go out
// together in the next, each once.
func TestAnnouncementsAreBatched(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{noWorkers: true})
	l := &slowListener{release: make(chan struct{})}
	b.svc.Listener = l
	var ids []string
	for i := range credits {
		r := b.create(t, fmt.Sprintf("run %d", i))
		ids = append(ids, r.ID)
	}
	// With the first announcement held, every write still returns.
	for _, id := range ids {
		require.NoError(t, b.svc.Progress(b.ctx, id, 10))
	}
	for _, id := range ids {
		require.NoError(t, b.svc.Progress(b.ctx, id, 20))
	}
	close(l.release)
	require.Eventually(t, func() bool {
		return len(l.announced()) >= len(ids)
	}, patience, 10*time.Millisecond)
	// One announcement was held while all the writes happened, so
	// everything they changed went in at most one more; each run once in
	// each.
	l.mu.Lock()
	defer l.mu.Unlock()
	require.LessOrEqual(t, len(l.calls), 2)
	seen := map[string]bool{}
	for _, batch := range l.calls {
		unique := map[string]bool{}
		for _, id := range batch {
			require.False(t, unique[id], "%s twice in one announcement", id)
			unique[id], seen[id] = true, true
		}
	}
	require.Len(t, seen, len(ids))
	for _, id := range ids {
		require.True(t, seen[id], id)
	}
}
