package providerfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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

// Replicate is a fake of Replicate's predictions API
// (https://replicate.com/docs/reference/http):
//
//	POST /v1/models/{owner}/{name}/predictions, POST /v1/predictions (with version)
//	     {input, webhook, webhook_events_filter} → 201 {id, status: starting, urls}
//	GET  /v1/predictions/{id}         {status: starting|processing|succeeded|failed|canceled, output, error, logs}
//	POST /v1/predictions/{id}/cancel
//
// with Authorization: Bearer <Token>. A prediction runs for RunTime, then
// completes and, when it was given a webhook, is POSTed to it signed with
// WebhookSecret as Replicate signs (webhook-id, webhook-timestamp,
// webhook-signature).
type Replicate struct {
	Token         string
	WebhookSecret string
	RunTime       time.Duration

	Submits  atomic.Int64
	Polls    atomic.Int64
	Cancels  atomic.Int64
	Webhooks atomic.Int64
	Server   *httptest.Server

	mu    sync.Mutex
	preds map[string]*prediction
	seq   int
}

type prediction struct {
	id, prompt, webhook string
	at                  time.Time
	canceled            bool
}

// NewReplicate starts the fake; the secret is a fresh whsec_ one.
func NewReplicate(token string) *Replicate {
	r := &Replicate{Token: token, preds: map[string]*prediction{},
		WebhookSecret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("fake-replicate-signing-key-32byt"))}
	r.Server = httptest.NewServer(r)
	return r
}

// URL is the API's base URL.
func (r *Replicate) URL() string { return r.Server.URL }

// Close stops the fake.
func (r *Replicate) Close() { r.Server.Close() }

func (r *Replicate) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if strings.HasPrefix(req.URL.Path, "/files/") {
		r.mu.Lock()
		p := r.preds[strings.TrimSuffix(strings.TrimPrefix(req.URL.Path, "/files/"), ".png")]
		r.mu.Unlock()
		if p == nil {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(PNG(p.prompt))
		return
	}
	if req.Header.Get("Authorization") != "Bearer "+r.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401})
		return
	}
	path := strings.Trim(req.URL.Path, "/")
	switch {
	case req.Method == http.MethodPost && (path == "v1/predictions" ||
		strings.HasPrefix(path, "v1/models/") && strings.HasSuffix(path, "/predictions")):
		r.create(w, req)
	case strings.HasPrefix(path, "v1/predictions/"):
		id, action, _ := strings.Cut(strings.TrimPrefix(path, "v1/predictions/"), "/")
		r.mu.Lock()
		p := r.preds[id]
		r.mu.Unlock()
		if p == nil {
			writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not found.", "status": 404})
			return
		}
		switch {
		case req.Method == http.MethodGet && action == "":
			r.Polls.Add(1)
			writeJSON(w, http.StatusOK, r.view(req.Host, p))
		case req.Method == http.MethodPost && action == "cancel":
			r.Cancels.Add(1)
			r.mu.Lock()
			p.canceled = true
			r.mu.Unlock()
			writeJSON(w, http.StatusOK, r.view(req.Host, p))
		default:
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method not allowed", "status": 405})
		}
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not found.", "status": 404})
	}
}

func (r *Replicate) create(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Input   map[string]any `json:"input"`
		Webhook string         `json:"webhook"`
		Filter  []string       `json:"webhook_events_filter"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil || body.Input == nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": "input is required", "status": 422})
		return
	}
	prompt, _ := body.Input["prompt"].(string)
	r.Submits.Add(1)
	r.mu.Lock()
	r.seq++
	p := &prediction{id: fmt.Sprintf("pred%06d", r.seq), prompt: prompt, webhook: body.Webhook, at: time.Now()}
	r.preds[p.id] = p
	r.mu.Unlock()
	if p.webhook != "" {
		host := req.Host
		time.AfterFunc(r.RunTime, func() { r.sendWebhook(host, p) })
	}
	writeJSON(w, http.StatusCreated, r.view(req.Host, p))
}

func (r *Replicate) view(host string, p *prediction) map[string]any {
	r.mu.Lock()
	canceled := p.canceled
	r.mu.Unlock()
	base := "http://" + host + "/v1/predictions/" + p.id
	out := map[string]any{"id": p.id, "status": "processing", "output": nil, "error": nil,
		"urls": map[string]string{"get": base, "cancel": base + "/cancel"}}
	age := time.Since(p.at)
	switch {
	case canceled:
		out["status"] = "canceled"
	case age < r.RunTime:
		out["logs"] = fmt.Sprintf("Running...\n%3d%%|#####     |", int(100*age/max(r.RunTime, 1)))
		if age < r.RunTime/10 {
			out["status"] = "starting"
		}
	case wants(p.prompt, PromptFail):
		out["status"], out["error"] = "failed", "CUDA error: the model could not process this prompt"
	case wants(p.prompt, PromptUnsafe):
		out["status"], out["error"] = "failed", "NSFW content detected. Try running it again, or try a different prompt."
	default:
		out["status"], out["output"] = "succeeded", []string{"http://" + host + "/files/" + p.id + ".png"}
	}
	return out
}

func (r *Replicate) sendWebhook(host string, p *prediction) {
	body, _ := json.Marshal(r.view(host, p))
	h, err := signWebhook(r.WebhookSecret, "msg_"+p.id, time.Now(), body)
	if err != nil {
		return
	}
	req, err := http.NewRequest(http.MethodPost, p.webhook, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			r.Webhooks.Add(1)
		}
	}
}

// signWebhook signs a body as Replicate does (Standard Webhooks): the
// base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" keyed with the secret's
// base64 part.
func signWebhook(secret, id string, ts time.Time, body []byte) (http.Header, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return nil, err
	}
	t := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + t + "."))
	mac.Write(body)
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", t)
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return h, nil
}
