package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/validation"
)

func TestFromError(t *testing.T) {
	t.Parallel()

	forbidden := errForbidden("Not yours.")
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		fields []validation.Field
	}{
		{"a public error as it is", forbidden, 403, "forbidden", nil},
		{"a wrapped public error", fmt.Errorf("error in handler: %w", errInvalidJSON("Bad.")), 400, "invalid_json", nil},
		{"validation", validation.New("inputs[0].value", "must not be empty"), 400, "input_validation_error",
			[]validation.Field{{Name: "inputs[0].value", Message: "must not be empty"}}},
		{"wrapped validation", fmt.Errorf("error checking: %w", validation.New("mode", "bad")), 400, "input_validation_error",
			[]validation.Field{{Name: "mode", Message: "bad"}}},
		{"insufficient credits", fmt.Errorf("error reserving: %w", &store.InsufficientCreditsError{Required: 5, Available: 2}),
			402, "insufficient_credits", nil},
		{"not found", fmt.Errorf("error finding run: %w", store.ErrNotFound), 404, "not_found", nil},
		{"idempotency conflict", run.ErrIdempotencyConflict, 422, "idempotency_conflict", nil},
		{"technique unavailable", fmt.Errorf("%w: ffmpeg is not installed", run.ErrTechniqueUnavailable), 400, "input_validation_error",
			[]validation.Field{{Name: "technique", Message: "this technique cannot run on this server now: ffmpeg is not installed"}}},
		{"invalid key", fmt.Errorf("error verifying: %w", auth.ErrInvalidKey), 401, "invalid_api_key", nil},
		{"anything else", errors.New("disk on fire at /var/lib/florad"), 500, "unknown_error", nil},
		{"a constraint that escaped", fmt.Errorf("error inserting: %w", store.ErrAlreadyExists), 500, "unknown_error", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := fromError(tt.err)
			require.Equal(t, tt.status, e.Status)
			require.Equal(t, tt.code, e.Code)
			require.NotEmpty(t, e.Message)
			require.Equal(t, tt.fields, e.Fields)
			require.NotContains(t, e.Message, "/var/lib")
		})
	}

	e := fromError(forbidden)
	require.Same(t, forbidden, e)

	ice := fromError(&store.InsufficientCreditsError{Required: 5, Available: 2})
	require.Equal(t, int64(5), *ice.Required)
	require.Equal(t, int64(2), *ice.Available)
}

func TestErrValidationMessage(t *testing.T) {
	t.Parallel()

	one := errValidation(validation.New("mode", `must be "async" or "stream"`))
	require.Equal(t, `mode: must be "async" or "stream"`, one.Message)

	v := &validation.Error{}
	v.Add("inputs", "is required")
	v.Add("mode", "is required")
	require.Equal(t, "inputs: is required (and other problems, see fields)", errValidation(v).Message)
}

// errorResponse is the body every error has.
type errorResponse struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Fields    []struct{ Field, Message string }
		Required  *int64 `json:"required"`
		Available *int64 `json:"available"`
	} `json:"error"`
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	s := New(Config{})

	write := func(err error) (*httptest.ResponseRecorder, errorResponse, map[string]any) {
		rec := httptest.NewRecorder()
		s.writeError(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil), err)
		var body errorResponse
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		var raw map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
		require.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
		return rec, body, raw["error"].(map[string]any)
	}

	rec, body, raw := write(fmt.Errorf("error reserving credits: %w", &store.InsufficientCreditsError{Required: 5, Available: 2}))
	require.Equal(t, http.StatusPaymentRequired, rec.Code)
	require.Equal(t, "insufficient_credits", body.Error.Code)
	require.Equal(t, int64(5), *body.Error.Required)
	require.Equal(t, int64(2), *body.Error.Available)
	require.NotContains(t, raw, "fields")

	rec, body, raw = write(validation.New("inputs", "is required"))
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Len(t, body.Error.Fields, 1)
	require.Equal(t, "inputs", body.Error.Fields[0].Field)
	require.Equal(t, "is required", body.Error.Fields[0].Message)
	require.NotContains(t, raw, "required")

	// The internal chain is logged, never sent.
	rec, body, _ = write(errors.New("pq: relation runs does not exist"))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Equal(t, "unknown_error", body.Error.Code)
	require.NotContains(t, rec.Body.String(), "relation")

	rec, body, _ = write(errUnavailable(errors.New("database is locked")))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, "service_unavailable", body.Error.Code)
	require.Equal(t, "5", rec.Header().Get("Retry-After"))
	require.NotContains(t, rec.Body.String(), "locked")
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	b := setup(t)

	rec := b.do(t, http.MethodGet, "/api/v2/nothing", "", nil)
	require.Equal(t, http.StatusNotFound, rec.Code)
	var body errorResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, "not_found", body.Error.Code)

	rec = b.do(t, http.MethodDelete, "/api/v1/techniques", "", nil)
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, "method_not_allowed", body.Error.Code)
}

// TestWriteErrorAfterResponseBegan: an error from a handler that has sent
// its status (a stream) adds nothing to the response.
func TestWriteErrorAfterResponseBegan(t *testing.T) {
	t.Parallel()
	s := &Server{logger: slog.New(slog.DiscardHandler)}
	base := httptest.NewRecorder()
	w := &statusRecorder{ResponseWriter: base}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("event: run.snapshot\n\n"))
	s.writeError(w, httptest.NewRequest(http.MethodGet, "/", nil), errors.New("database gone"))
	require.Equal(t, http.StatusOK, base.Code)
	require.Equal(t, "event: run.snapshot\n\n", base.Body.String())

	fresh := httptest.NewRecorder()
	s.writeError(&statusRecorder{ResponseWriter: fresh}, httptest.NewRequest(http.MethodGet, "/", nil), errors.New("database gone"))
	require.Equal(t, http.StatusInternalServerError, fresh.Code, "before any status, the error is the answer")
}
