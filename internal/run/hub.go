package run

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/store"
)

// StreamPollIntervalDefault is how often the hub looks for events that
// other processes wrote to the runs this one streams.
const StreamPollIntervalDefault = 200 * time.Millisecond

// eventBatch bounds one read of a run's events.
const eventBatch = 100

// maxQueued bounds the events waiting for one slow subscriber; past it the
// queue is dropped and the subscriber reads what it missed itself.
const maxQueued = 1000

// listenPollEvery: while the hub hears other processes' events through
// the store's listener, it polls only every this many intervals, as a
// safety net.
const listenPollEvery = 10

// hub fans the events of a run out to every subscription of this process:
// one read of the database per run per change, whatever the number of
// streams watching it. It learns of changes from this process's own writes
// at once and, for writes of other processes, from the store's listener
// (PostgreSQL's LISTEN/NOTIFY: at once) when there is one, and from one
// query over all the watched runs every poll interval (every
// listenPollEvery intervals while the listener is connected). Its
// goroutines run only while something is watched.
type hub struct {
	s *Service
	// id names this process's hub in announcements, so it ignores its own.
	id       string
	interval time.Duration

	mu         sync.Mutex
	watches    map[string]*watch
	dirty      map[string]struct{}
	running    bool
	kick       chan struct{}
	listening  bool               // the listener is connected
	stopListen context.CancelFunc // stops the listener; nil when none runs

	// Runs whose news waits to be announced to other processes, in order,
	// and whether a goroutine is sending them.
	annMu      sync.Mutex
	annQueued  map[string]struct{}
	annOrder   []string
	annSending bool
}

// watch is one run watched by one or more subscriptions.
type watch struct {
	// last is the newest Seq the hub has read and pushed.
	last int64
	subs map[*Subscription]struct{}
}

func (s *Service) events() *hub {
	s.hubOnce.Do(func() {
		s.hub = &hub{s: s, id: ident.New("hub_", time.Now()), interval: s.StreamPollInterval, watches: map[string]*watch{}, dirty: map[string]struct{}{},
			kick: make(chan struct{}, 1), annQueued: map[string]struct{}{}}
		if s.hub.interval <= 0 {
			s.hub.interval = StreamPollIntervalDefault
		}
	})
	return s.hub
}

// notify tells the hub that runID has new events, after their commit,
// and, through the listener, the other processes.
func (s *Service) notify(runID string) {
	h := s.events()
	if s.Listener != nil {
		h.announce(runID)
	}
	h.mu.Lock()
	_, watched := h.watches[runID]
	if watched {
		h.dirty[runID] = struct{}{}
	}
	h.mu.Unlock()
	if watched {
		h.wake()
	}
}

// announce queues runID for the other processes. One announcement at a
// time is in flight per process, from a goroutine of its own: no writer
// waits for one, and the runs that change while one is sent go together
// in the next, so a busy process sends a notification per round trip
// rather than one per change (each takes PostgreSQL's notification lock
// to commit, and wakes every listener).
func (h *hub) announce(runID string) {
	h.annMu.Lock()
	if _, queued := h.annQueued[runID]; !queued {
		h.annQueued[runID] = struct{}{}
		h.annOrder = append(h.annOrder, runID)
	}
	start := !h.annSending
	h.annSending = true
	h.annMu.Unlock()
	if start {
		go h.sendAnnouncements()
	}
}

// sendAnnouncements sends the queued runs, in batches within the
// listener's payload limit, until none is left.
func (h *hub) sendAnnouncements() {
	for {
		h.annMu.Lock()
		n, size := 0, 0
		for n < len(h.annOrder) && (n == 0 || size+len(h.annOrder[n])+1 <= store.MaxAnnounceBytes) {
			size += len(h.annOrder[n]) + 1
			n++
		}
		if n == 0 {
			h.annSending = false
			h.annMu.Unlock()
			return
		}
		batch := h.annOrder[:n:n]
		h.annOrder = append([]string(nil), h.annOrder[n:]...)
		for _, id := range batch {
			delete(h.annQueued, id)
		}
		h.annMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := h.s.Listener.AnnounceRunEvents(ctx, h.id, batch); err != nil {
			// Other processes' polls find the events a little later.
			h.s.logger().Warn("error announcing run events", "runs", len(batch), "error", err)
		}
		cancel()
	}
}

func (h *hub) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Subscription receives one run's events after a position.
type Subscription struct {
	h     *hub
	runID string

	mu     sync.Mutex
	pos    int64 // the newest Seq handed to the consumer
	queue  []*Event
	synced bool // pos has caught up with the database once
	closed bool
	ready  chan struct{}
}

// Subscribe watches a run's events with Seq above after. Call Close when
// done.
func (s *Service) Subscribe(runID string, after int64) *Subscription {
	h := s.events()
	sub := &Subscription{h: h, runID: runID, pos: after, ready: make(chan struct{}, 1)}
	h.mu.Lock()
	w := h.watches[runID]
	if w == nil {
		w = &watch{last: after, subs: map[*Subscription]struct{}{}}
		h.watches[runID] = w
	}
	// A subscription at or past the hub's position for the run misses
	// nothing the hub pushes from now on, and whatever the database holds
	// beyond that position the hub reads once, for all subscriptions: so
	// opening many streams on a run costs no read per stream. Only one
	// that starts behind the hub reads what it missed itself.
	if after >= w.last {
		sub.synced = true
		h.dirty[runID] = struct{}{}
	}
	w.subs[sub] = struct{}{}
	start := !h.running
	h.running = true
	var listenCtx context.Context
	if h.stopListen == nil && h.s.Listener != nil {
		listenCtx, h.stopListen = context.WithCancel(context.Background())
	}
	h.mu.Unlock()
	h.wake() // read what is beyond the hub's position, if anything
	if start {
		go h.loop()
	}
	if listenCtx != nil {
		go h.listen(listenCtx)
	}
	return sub
}

// listen keeps the store's listener connected until ctx ends (when
// nothing is watched any more), reconnecting after a failure; each
// (re)connection marks every watched run dirty, since what was announced
// while not listening is lost.
func (h *hub) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := h.s.Listener.ListenRunEvents(ctx, h.listenReady, h.announced)
		h.mu.Lock()
		h.listening = false
		h.mu.Unlock()
		if ctx.Err() != nil || errors.Is(err, errors.ErrUnsupported) {
			return
		}
		h.s.logger().Warn("stream hub stopped listening for run events; polling meanwhile", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (h *hub) listenReady() {
	h.mu.Lock()
	h.listening = true
	for id := range h.watches {
		h.dirty[id] = struct{}{}
	}
	h.mu.Unlock()
	h.wake()
}

// announced is the listener's news of runID from the hub named from.
func (h *hub) announced(from, runID string) {
	if from == h.id {
		return // this process's own writes reached the hub already
	}
	h.mu.Lock()
	_, news := h.watches[runID]
	if news {
		h.dirty[runID] = struct{}{}
	}
	h.mu.Unlock()
	if news {
		h.wake()
	}
}

// Close stops the subscription.
func (sub *Subscription) Close() {
	h := sub.h
	h.mu.Lock()
	if w := h.watches[sub.runID]; w != nil {
		delete(w.subs, sub)
		if len(w.subs) == 0 {
			delete(h.watches, sub.runID)
			delete(h.dirty, sub.runID)
		}
	}
	h.mu.Unlock()
	sub.mu.Lock()
	sub.closed = true
	sub.mu.Unlock()
	h.wake() // lets the loop end when nothing is left to watch
}

// Next waits for the next events and returns them in order, each exactly
// once; the final event, when it comes, is the last. It returns ctx's error
// when ctx ends first.
func (sub *Subscription) Next(ctx context.Context) ([]*Event, error) {
	for {
		sub.mu.Lock()
		queued, synced := sub.queue, sub.synced
		sub.queue = nil
		pos := sub.pos
		sub.mu.Unlock()

		var out []*Event
		for _, e := range queued {
			if e.Seq > pos {
				out = append(out, e)
			}
		}
		// A gap (the queue was dropped, or this subscription started behind
		// the hub) is filled from the database.
		if !synced || (len(out) > 0 && out[0].Seq > pos+1) {
			read, err := sub.h.s.readEvents(ctx, sub.runID, pos)
			if err != nil {
				return nil, err
			}
			sub.mu.Lock()
			sub.synced = len(read) < eventBatch
			sub.mu.Unlock()
			out = read
		}
		if len(out) > 0 {
			sub.mu.Lock()
			sub.pos = out[len(out)-1].Seq
			sub.mu.Unlock()
			sub.h.raise(sub.runID, out[len(out)-1].Seq)
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-sub.ready:
		}
	}
}

// push queues events for the subscription; the hub calls it.
func (sub *Subscription) push(events []*Event) {
	sub.mu.Lock()
	if sub.closed {
		sub.mu.Unlock()
		return
	}
	if len(sub.queue)+len(events) > maxQueued {
		sub.queue, sub.synced = nil, false
	} else {
		sub.queue = append(sub.queue, events...)
	}
	sub.mu.Unlock()
	select {
	case sub.ready <- struct{}{}:
	default:
	}
}

// raise records that seq was read for runID, so the hub does not read it
// again.
func (h *hub) raise(runID string, seq int64) {
	h.mu.Lock()
	if w := h.watches[runID]; w != nil && seq > w.last {
		w.last = seq
	}
	h.mu.Unlock()
}

func (h *hub) loop() {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	// The loop outlives no request: it stops when nothing is watched, so
	// it needs no context of its own.
	ctx := context.Background()
	ticks := 0
	for {
		poll := false
		select {
		case <-h.kick:
		case <-t.C:
			ticks++
			poll = true
		}
		h.mu.Lock()
		if len(h.watches) == 0 {
			h.running = false
			if h.stopListen != nil {
				h.stopListen()
				h.stopListen, h.listening = nil, false
			}
			h.mu.Unlock()
			return
		}
		if h.listening && ticks%listenPollEvery != 0 {
			poll = false
		}
		ids := make([]string, 0, len(h.watches))
		for id := range h.watches {
			ids = append(ids, id)
		}
		h.mu.Unlock()
		if poll {
			h.pollStates(ctx, ids)
		}
		h.drain(ctx)
	}
}

// pollStates marks dirty the watched runs whose newest event the hub has
// not read: the writes of other processes.
func (h *hub) pollStates(ctx context.Context, ids []string) {
	states, err := h.s.Store.RunStateList(ctx, ids)
	if err != nil {
		h.s.logger().Warn("error polling streamed runs", "error", err)
		return
	}
	h.mu.Lock()
	for _, st := range states {
		if w := h.watches[st.RunID]; w != nil && st.EventSeq > w.last {
			h.dirty[st.RunID] = struct{}{}
		}
	}
	h.mu.Unlock()
}

// drain reads the new events of every dirty run once and pushes them to
// its subscriptions.
func (h *hub) drain(ctx context.Context) {
	for {
		h.mu.Lock()
		var runID string
		var after int64
		found := false
		for id := range h.dirty {
			delete(h.dirty, id)
			if w := h.watches[id]; w != nil {
				runID, after, found = id, w.last, true
				break
			}
		}
		h.mu.Unlock()
		if !found {
			return
		}
		events, err := h.s.readEvents(ctx, runID, after)
		if err != nil {
			h.s.logger().Warn("error reading streamed run's events", "run_id", runID, "error", err)
			continue
		}
		if len(events) == 0 {
			continue
		}
		h.mu.Lock()
		w := h.watches[runID]
		var subs []*Subscription
		if w != nil {
			w.last = max(w.last, events[len(events)-1].Seq)
			for sub := range w.subs {
				subs = append(subs, sub)
			}
			if len(events) == eventBatch {
				h.dirty[runID] = struct{}{} // more to read
			}
		}
		h.mu.Unlock()
		for _, sub := range subs {
			sub.push(events)
		}
	}
}

// readEvents reads up to eventBatch events of a run after Seq after, the
// final one carrying the ended run.
func (s *Service) readEvents(ctx context.Context, runID string, after int64) ([]*Event, error) {
	stored, err := s.Store.RunEventList(ctx, runID, after, eventBatch)
	if err != nil {
		return nil, err
	}
	out := make([]*Event, 0, len(stored))
	for _, e := range stored {
		ev, err := decodeEvent(e)
		if err != nil {
			return nil, err
		}
		if ev.Final() {
			if ev.Run, err = s.Store.RunGetByID(ctx, runID); err != nil {
				return nil, err
			}
		}
		out = append(out, ev)
	}
	return out, nil
}

// ErrNoMoreEvents means a resume point is at or past an ended run's final
// event: the stream has nothing left to send, now or ever.
var ErrNoMoreEvents = errors.New("no events after the resume point of an ended run")

// Resume checks a resume point before a stream starts: for a run that has
// ended, nothing will follow its final event, and a client asking for what
// comes after it gets ErrNoMoreEvents.
func (s *Service) Resume(ctx context.Context, r *store.Run, after int64) error {
	if !r.Finished() {
		return nil
	}
	events, err := s.Store.RunEventList(ctx, r.ID, after, 1)
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return ErrNoMoreEvents
	}
	return nil
}

// Snapshot is a run as it is now, for the start of a stream: the stream
// continues after Run.EventSeq, the newest event the snapshot reflects.
type Snapshot struct {
	Run *store.Run
	// Announced are the outputs announced so far by run.output events the
	// snapshot reflects, for a run that has not completed (a completed run
	// has them all in Run.Outputs): a stream opened mid-run still shows
	// every output that exists.
	Announced []store.RunOutput
	// Final is an ended run's final event.
	Final *Event
}

// Snapshot reads the run and what its events up to now announced.
func (s *Service) Snapshot(ctx context.Context, runID string) (*Snapshot, error) {
	r, err := s.Store.RunGetByID(ctx, runID)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Run: r}
	for after := int64(0); after < r.EventSeq; {
		events, err := s.Store.RunEventList(ctx, runID, after, eventBatch)
		if err != nil {
			return nil, err
		}
		if len(events) == 0 {
			break
		}
		for _, e := range events {
			if e.Seq > r.EventSeq {
				break
			}
			ev, err := decodeEvent(e)
			if err != nil {
				return nil, err
			}
			switch {
			case ev.Output != nil && r.Status != store.RunCompleted:
				snap.Announced = append(snap.Announced, *ev.Output)
			case ev.Final():
				ev.Run = r
				snap.Final = ev
			}
		}
		after = events[len(events)-1].Seq
	}
	return snap, nil
}
