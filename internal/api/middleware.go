package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/store"
)

// requestIDMiddleware gives every request an id, sent back in the
// request-id header on every response, errors included.
func (s *Server) requestIDMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := ident.New("req_", time.Now())
		w.Header().Set("request-id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxRequestID, id)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers flush through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// started says whether the response's status has gone out.
func (s *statusRecorder) started() bool { return s.status != 0 }

// responseStarted says whether w, or a writer it wraps, has sent its status.
func responseStarted(w http.ResponseWriter) bool {
	for w != nil {
		if r, ok := w.(*statusRecorder); ok {
			return r.started()
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}

func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		took := time.Since(start)
		if s.Metrics != nil {
			s.Metrics.ObserveRequest(s.routeName(r), r.Method, rec.status, took)
		}
		attrs := []any{"request_id", requestID(r.Context()), "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "bytes", rec.bytes, "duration_ms", float64(took.Microseconds()) / 1000}
		if p := principal(r.Context()); p != nil {
			attrs = append(attrs, "workspace_id", p.WorkspaceID, "key_id", p.KeyID)
		}
		s.logger.Log(r.Context(), logLevelFor(rec.status), "request", attrs...)
	})
}

// principalHolder is put on the context before authenticate runs, so the
// access log, which wraps it, can read who the caller was.
type principalHolder struct{ p *auth.Principal }

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, errInternal(fmt.Errorf("panic: %v\n%s", v, debug.Stack())))
			}
		}()
		// A holder the access log can read after auth fills it.
		ctx := context.WithValue(r.Context(), ctxPrincipal, &principalHolder{})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// verifyFunc checks a request's bearer token. It may return a context
// carrying what it read on the way.
type verifyFunc func(r *http.Request, token string) (*auth.Principal, context.Context, error)

// authenticate checks the bearer key with the server's Verifier, and the
// workspace_id query parameter when a request names one.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return s.authenticateWith(func(r *http.Request, token string) (*auth.Principal, context.Context, error) {
		p, err := s.Verifier.Verify(r.Context(), token)
		return p, r.Context(), err
	})(next)
}

// runPrefetcher is a Verifier that can read a polled run in the same
// statement as the key (auth.LocalVerifier).
type runPrefetcher interface {
	VerifyWithRun(ctx context.Context, token, runID string) (*auth.Principal, *store.Run, error)
}

type ctxKeyPrefetchedRun struct{}

// authenticatePoll is authenticate for GET .../runs/{runID}: with a local
// verifier, the key and the run come from one read, and the run waits on
// the context for runGet.
func (s *Server) authenticatePoll(next http.Handler) http.Handler {
	pf, ok := s.Verifier.(runPrefetcher)
	if !ok {
		return s.authenticate(next)
	}
	return s.authenticateWith(func(r *http.Request, token string) (*auth.Principal, context.Context, error) {
		p, run, err := pf.VerifyWithRun(r.Context(), token, chi.URLParam(r, "runID"))
		if err != nil || run == nil {
			return p, r.Context(), err
		}
		return p, context.WithValue(r.Context(), ctxKeyPrefetchedRun{}, run), nil
	})(next)
}

// prefetchedRun is the run authenticatePoll read with the key, if any.
func prefetchedRun(ctx context.Context) *store.Run {
	r, _ := ctx.Value(ctxKeyPrefetchedRun{}).(*store.Run)
	return r
}

func (s *Server) authenticateWith(verify verifyFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token := bearerToken(r)
			if token == "" {
				s.writeError(w, r, errUnauthorized())
				return
			}
			p, ctx, err := verify(r, token)
			if errors.Is(err, auth.ErrInvalidKey) {
				s.writeError(w, r, errInvalidAPIKey())
				return
			}
			if errors.Is(err, auth.ErrNoWorkspace) {
				s.writeError(w, r, errNoWorkspace())
				return
			}
			if errors.Is(err, auth.ErrUnavailable) {
				s.writeError(w, r, errAuthUnavailable(err))
				return
			}
			if err != nil {
				s.writeError(w, r, errUnavailable(err))
				return
			}
			if ws := r.URL.Query().Get("workspace_id"); ws != "" && ws != p.WorkspaceID {
				s.writeError(w, r, errForbidden("This API key is not authorized for workspace "+truncateForMessage(ws)+"."))
				return
			}
			if holder, ok := r.Context().Value(ctxPrincipal).(*principalHolder); ok {
				holder.p = p
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// bearerToken is the request's bearer token; "" when there is none.
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

func truncateForMessage(s string) string {
	const n = 40
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
