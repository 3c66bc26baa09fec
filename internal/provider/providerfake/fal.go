package providerfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fal is a fake of fal's queue API (https://docs.fal.ai/model-apis/model-endpoints/queue):
//
//	POST {app}                        submit → {request_id, status_url, response_url, cancel_url}
//	GET  {app}/requests/{id}/status   {status: IN_QUEUE|IN_PROGRESS|COMPLETED, queue_position}
//	GET  {app}/requests/{id}          the result: {images: [{url, content_type}]}, or an error
//	PUT  {app}/requests/{id}/cancel   202 CANCELLATION_REQUESTED, 400 ALREADY_COMPLETED
//
// with Authorization: Key <Key>. A request waits QueueTime in the queue
// (its position counting down), then runs for RunTime.
type Fal struct {
	Key       string
	QueueTime time.Duration
	RunTime   time.Duration
	// HoldQueued keeps a request in the queue, past QueueTime, until a
	// status poll has shown it there: a test of queue positions then
	// does not depend on how soon the first poll comes.
	HoldQueued bool
	// RateLimit429 answers the first N submissions 429 with Retry-After: 1.
	RateLimit429 atomic.Int64

	Submits atomic.Int64
	Polls   atomic.Int64
	Cancels atomic.Int64
	// Results counts requests whose result was read; Outstanding counts
	// those submitted and not yet read, and MaxOutstanding its peak: how
	// many requests waited at the provider at once.
	Results        atomic.Int64
	Outstanding    atomic.Int64
	MaxOutstanding atomic.Int64
	Server         *httptest.Server
	mu             sync.Mutex
	requests       map[string]*falRequest
	seq            int
}

type falRequest struct {
	id, app, prompt string
	at              time.Time
	shownQueued     time.Time // first status poll that showed it queued
	canceled        bool
	read            bool
}

// NewFal starts the fake on a loopback port.
func NewFal(key string) *Fal {
	f := &Fal{Key: key, requests: map[string]*falRequest{}}
	f.Server = httptest.NewServer(f)
	return f
}

// URL is the queue's base URL.
func (f *Fal) URL() string { return f.Server.URL }

// Close stops the fake.
func (f *Fal) Close() { f.Server.Close() }

// Request reports a request's prompt and whether it was canceled.
func (f *Fal) Request(id string) (prompt string, canceled, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.requests[id]
	if !ok {
		return "", false, false
	}
	return r.prompt, r.canceled, true
}

func (f *Fal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/files/") {
		f.serveFile(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Key "+f.Key {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Invalid key"})
		return
	}
	path := strings.Trim(r.URL.Path, "/")
	app, rest, hasReq := strings.Cut(path, "/requests/")
	switch {
	case r.Method == http.MethodPost && !hasReq:
		f.submit(w, r, path)
	case hasReq:
		id, action, _ := strings.Cut(rest, "/")
		f.mu.Lock()
		req := f.requests[id]
		f.mu.Unlock()
		if req == nil || req.app != app {
			writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Request not found"})
			return
		}
		switch {
		case r.Method == http.MethodGet && action == "status":
			f.Polls.Add(1)
			f.status(w, req)
		case r.Method == http.MethodGet && action == "":
			f.result(w, r, req)
		case r.Method == http.MethodPut && action == "cancel":
			f.cancel(w, req)
		default:
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method not allowed"})
		}
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not found"})
	}
}

func (f *Fal) submit(w http.ResponseWriter, r *http.Request, app string) {
	if f.RateLimit429.Add(-1) >= 0 {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"detail": "Rate limit exceeded"})
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []map[string]any{{"msg": "body is not JSON"}}})
		return
	}
	prompt, _ := body["prompt"].(string)
	f.Submits.Add(1)
	f.mu.Lock()
	f.seq++
	id := fmt.Sprintf("req-%06d", f.seq)
	f.requests[id] = &falRequest{id: id, app: app, prompt: prompt, at: time.Now()}
	f.mu.Unlock()
	n := f.Outstanding.Add(1)
	for {
		m := f.MaxOutstanding.Load()
		if n <= m || f.MaxOutstanding.CompareAndSwap(m, n) {
			break
		}
	}
	base := "http://" + r.Host + "/" + app + "/requests/" + id
	writeJSON(w, http.StatusOK, map[string]any{"request_id": id, "status_url": base + "/status",
		"response_url": base, "cancel_url": base + "/cancel", "queue_position": 0})
}

// state says where a request is: in the queue (with its position among
// those submitted before it and still queued), running, or done. A poll
// (status) marks a queued request as shown.
func (f *Fal) state(req *falRequest, poll bool) (status string, pos int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	queuedUntil := req.at.Add(f.QueueTime)
	if f.HoldQueued {
		if req.shownQueued.IsZero() {
			queuedUntil = now.Add(time.Nanosecond)
		} else if req.shownQueued.After(queuedUntil) {
			queuedUntil = req.shownQueued
		}
	}
	switch {
	case now.Before(queuedUntil):
		if poll && req.shownQueued.IsZero() {
			req.shownQueued = now
		}
		// Position falls as the queue time passes: a request submitted
		// now is behind the others.
		left := max(req.at.Add(f.QueueTime).Sub(now), 0)
		return "IN_QUEUE", int(10 * left / max(f.QueueTime, 1))
	case now.Before(queuedUntil.Add(f.RunTime)):
		return "IN_PROGRESS", 0
	}
	return "COMPLETED", 0
}

func (f *Fal) status(w http.ResponseWriter, req *falRequest) {
	f.mu.Lock()
	canceled := req.canceled
	f.mu.Unlock()
	st, pos := f.state(req, true)
	out := map[string]any{"status": st, "request_id": req.id}
	if st == "IN_QUEUE" {
		out["queue_position"] = pos
	}
	if canceled {
		out["status"] = "COMPLETED"
		out["error"] = "Request was cancelled"
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Fal) result(w http.ResponseWriter, r *http.Request, req *falRequest) {
	if st, _ := f.state(req, false); st != "COMPLETED" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"detail": "Request is still in progress"})
		return
	}
	switch {
	case wants(req.prompt, PromptFail):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": "The model could not process this prompt"})
		return
	case wants(req.prompt, PromptUnsafe):
		writeJSON(w, http.StatusOK, map[string]any{"images": []any{}, "has_nsfw_concepts": []bool{true}})
		return
	}
	f.mu.Lock()
	first := !req.read
	req.read = true
	f.mu.Unlock()
	if first {
		f.Results.Add(1)
		f.Outstanding.Add(-1)
	}
	writeJSON(w, http.StatusOK, map[string]any{"images": []map[string]any{{
		"url": "http://" + r.Host + "/files/" + req.id + ".png", "content_type": "image/png", "width": 32, "height": 32}},
		"prompt": req.prompt, "seed": 42})
}

func (f *Fal) cancel(w http.ResponseWriter, req *falRequest) {
	if st, _ := f.state(req, false); st == "COMPLETED" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "ALREADY_COMPLETED"})
		return
	}
	f.Cancels.Add(1)
	f.mu.Lock()
	req.canceled = true
	f.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "CANCELLATION_REQUESTED"})
}

func (f *Fal) serveFile(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/files/"), ".png")
	f.mu.Lock()
	req := f.requests[id]
	f.mu.Unlock()
	if req == nil {
		http.NotFound(w, r)
		return
	}
	data := PNG(req.prompt)
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
