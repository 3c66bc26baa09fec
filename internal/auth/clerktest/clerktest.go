// Package clerktest is a fake of Clerk's Backend API for tests, on a
// loopback port: POST /v1/api_keys/verify as Clerk documents it (bearer
// secret key, JSON body {"secret": ...}, the API key object on 200, Clerk's
// {"errors": [...]} body otherwise), with switches for the failures florad
// must survive: 5xx, slowness, and the listener closed.
package clerktest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Key is an API key the fake knows.
type Key struct {
	ID      string
	Subject string
	Scopes  []string
	Claims  map[string]any
	Revoked bool
	Expired bool
	// Expiration is unix milliseconds; nil for a key that never expires.
	Expiration *int64
	// FailStatus, when set, answers this key's verifications with that
	// status (a 5xx outage seen by one key only, for tests that cannot
	// reach the fake's switches, such as the SDK's).
	FailStatus int
}

// Server is the fake. Its zero value is not usable: call Start.
type Server struct {
	*httptest.Server
	// SecretKey is the instance secret florad must present.
	SecretKey string

	mu   sync.Mutex
	keys map[string]*Key
	// failStatus, when set, answers every verify with that status.
	failStatus int
	delay      time.Duration
	// invalidAsObject answers revoked and expired keys with 200 and the
	// flags set instead of an error, the other shape a verify may take.
	invalidAsObject bool

	calls atomic.Int64
}

// Start runs a fake Clerk on 127.0.0.1 until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{SecretKey: "sk_test_fakeclerk0123456789", keys: map[string]*Key{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/api_keys/verify", s.verify)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// Add registers a secret as the key k.
func (s *Server) Add(secret string, k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := k
	s.keys[secret] = &cp
}

// Revoke marks a known secret revoked, as revoking it in Clerk's dashboard
// would.
func (s *Server) Revoke(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys[secret]; k != nil {
		k.Revoked = true
	}
}

// Fail makes every verify answer status (0 to answer normally again).
func (s *Server) Fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStatus = status
}

// Delay makes every verify wait d before answering.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// InvalidAsObject chooses how revoked and expired keys are answered: 200
// with revoked/expired set (true), or an error status (false, the default).
func (s *Server) InvalidAsObject(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidAsObject = on
}

// Calls is how many verify requests reached the fake.
func (s *Server) Calls() int64 { return s.calls.Load() }

type errorBody struct {
	Errors []errorItem `json:"errors"`
	Trace  string      `json:"clerk_trace_id"`
}

type errorItem struct {
	Message     string         `json:"message"`
	LongMessage string         `json:"long_message"`
	Code        string         `json:"code"`
	Meta        map[string]any `json:"meta,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Errors: []errorItem{{Message: msg, LongMessage: msg, Code: code}},
		Trace: "trace_fake"})
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	s.mu.Lock()
	fail, delay, asObject := s.failStatus, s.delay, s.invalidAsObject
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if fail != 0 {
		writeError(w, fail, "internal_clerk_error", "There was an internal error on our servers.")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.SecretKey {
		writeError(w, http.StatusUnauthorized, "authentication_invalid", "The provided secret key is invalid.")
		return
	}
	var body struct {
		Secret *string `json:"secret"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Secret == nil || *body.Secret == "" {
		writeError(w, http.StatusUnprocessableEntity, "form_param_missing", "secret must be included.")
		return
	}
	s.mu.Lock()
	k := s.keys[*body.Secret]
	var cp Key
	if k != nil {
		cp = *k
	}
	s.mu.Unlock()
	if k == nil {
		writeError(w, http.StatusNotFound, "resource_not_found", "API key not found.")
		return
	}
	if cp.FailStatus != 0 {
		writeError(w, cp.FailStatus, "internal_clerk_error", "There was an internal error on our servers.")
		return
	}
	expired := cp.Expired || (cp.Expiration != nil && *cp.Expiration <= time.Now().UnixMilli())
	if (cp.Revoked || expired) && !asObject {
		code, msg := "api_key_revoked", "API key has been revoked."
		if !cp.Revoked {
			code, msg = "api_key_expired", "API key has expired."
		}
		writeError(w, http.StatusNotFound, code, msg)
		return
	}
	scopes := cp.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	claims := cp.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	now := time.Now().UnixMilli()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "api_key", "id": cp.ID, "type": "api_key", "subject": cp.Subject, "name": "test key",
		"description": nil, "claims": claims, "scopes": scopes, "revoked": cp.Revoked, "revocation_reason": nil,
		"expired": expired, "expiration": cp.Expiration, "created_by": nil, "last_used_at": now,
		"created_at": now, "updated_at": now,
	})
}
