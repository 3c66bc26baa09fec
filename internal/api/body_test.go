package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadObject(t *testing.T) {
	t.Parallel()

	const limit = 64
	s := New(Config{MaxBodyBytes: limit})

	tests := []struct {
		name   string
		body   string
		want   map[string]string // raw field values of an accepted body
		status int
		code   string
		msg    string
	}{
		{name: "an object", body: `{"a": 1, "b": "x"}`, want: map[string]string{"a": "1", "b": `"x"`}},
		{name: "surrounding whitespace", body: " \n\t{}\n ", want: map[string]string{}},
		{name: "exactly at the limit", body: `{"a":"` + strings.Repeat("x", limit-8) + `"}`, want: map[string]string{"a": `"` + strings.Repeat("x", limit-8) + `"`}},
		{name: "empty", body: "", status: 400, code: "invalid_json", msg: "empty"},
		{name: "only whitespace", body: " \r\n ", status: 400, code: "invalid_json", msg: "empty"},
		{name: "invalid JSON", body: `{"a": 1,}`, status: 400, code: "invalid_json", msg: "error at byte"},
		{name: "truncated JSON", body: `{"a": `, status: 400, code: "invalid_json", msg: "not valid JSON"},
		{name: "two values", body: `{} {}`, status: 400, code: "invalid_json", msg: "not valid JSON"},
		{name: "an array", body: `[{"a": 1}]`, status: 400, code: "invalid_json", msg: "must be a JSON object"},
		{name: "a string", body: `"hello"`, status: 400, code: "invalid_json", msg: "must be a JSON object"},
		{name: "a number", body: `42`, status: 400, code: "invalid_json", msg: "must be a JSON object"},
		{name: "null", body: `null`, status: 400, code: "invalid_json", msg: "must be a JSON object"},
		{name: "one byte over the limit", body: `{"a":"` + strings.Repeat("x", limit-7) + `"}`, status: 413, code: "payload_too_large", msg: "64 bytes"},
		{name: "far over the limit", body: `{"a":"` + strings.Repeat("x", 10*limit) + `"}`, status: 413, code: "payload_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/v1/techniques/x/runs", strings.NewReader(tt.body))
			fields, err := s.readObject(httptest.NewRecorder(), req)
			if tt.code == "" {
				require.NoError(t, err)
				got := map[string]string{}
				for k, v := range fields {
					got[k] = string(v)
				}
				require.Equal(t, tt.want, got)
				return
			}
			var e *Error
			require.True(t, errors.As(err, &e), "error %v", err)
			require.Equal(t, tt.status, e.Status)
			require.Equal(t, tt.code, e.Code)
			require.Contains(t, e.Message, tt.msg)
		})
	}
}

// TestTooLargeBodyThroughTheRouter sends an oversized run request to the
// real route table with a real key: the answer is 413 in the API's error
// shape, before any run is considered.
func TestTooLargeBodyThroughTheRouter(t *testing.T) {
	t.Parallel()
	b := setup(t, func(cfg *Config) { cfg.MaxBodyBytes = 1 << 10 })

	body := `{"inputs": [{"id": "prompt", "type": "text", "value": "` + strings.Repeat("x", 2<<10) + `"}], "mode": "async"}`
	rec := b.do(t, http.MethodPost, "/api/v1/techniques/prompt-expander/runs", body, nil)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	require.NotEmpty(t, rec.Header().Get("request-id"))

	var got struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Equal(t, "payload_too_large", got.Error.Code)
	require.Equal(t, "The request body is larger than 1 KiB.", got.Error.Message)
}

func TestJSONKind(t *testing.T) {
	t.Parallel()

	for raw, want := range map[string]string{
		`{}`: "an object", `[]`: "an array", `"x"`: "a string", `true`: "a boolean", `false`: "a boolean",
		`null`: "null", `1.5`: "a number", `-3`: "a number", ``: "nothing", `  "x"`: "a string",
	} {
		require.Equal(t, want, jsonKind(json.RawMessage(raw)), raw)
	}
}
