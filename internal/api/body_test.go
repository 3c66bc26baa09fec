package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/validation"
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
		{name: "a key twice", body: `{"a": 1, "a": 2}`, status: 400, code: "input_validation_error", msg: "a: is given more than once"},
		{name: "a key twice, once escaped", body: `{"mode": 1, "m\u006fde": 2}`, status: 400, code: "input_validation_error", msg: "mode: is given more than once"},
		{name: "a nested key twice", body: `{"i": [{}, {"id": 1, "id": 2}]}`, status: 400, code: "input_validation_error", msg: "i[1].id: is given more than once"},
		{name: "equal keys in different objects", body: `{"a": {"k": 1}, "b": {"k": 1}}`, want: map[string]string{"a": `{"k": 1}`, "b": `{"k": 1}`}},
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

func TestDuplicateKeys(t *testing.T) {
	t.Parallel()

	tests := map[string][]string{
		`{}`:                                  nil,
		`{"a":1,"b":2}`:                       nil,
		`{"a":{"a":{"a":1}}}`:                 nil,
		`[{"a":1},{"a":1}]`:                   nil,
		`{"a":[1,{"b":2,"b":3}]}`:             {"a[1].b"},
		`{"a":1,"a":2,"a":3}`:                 {"a", "a"},
		`{"x":"a","a":1,"y":[{"a":1}],"a":2}`: {"a"},
		`{"inputs":[{"id":"p"},{"id":"p","type":"t","value":"v","value":"w"}]}`: {"inputs[1].value"},
		`{"s":"{\"a\":1,\"a\":2}"}`:   nil,
		`{"k":[[],[{},{"":1,"":2}]]}`: {"k[1][1]."},
		`{"` + strings.Repeat("x", 100) + `":1,"` + strings.Repeat("x", 100) + `":2}`: {strings.Repeat("x", 40) + "…"},
	}
	for doc, want := range tests {
		v := &validation.Error{}
		require.NoError(t, duplicateKeys([]byte(doc), v), doc)
		var got []string
		for _, f := range v.Fields {
			got = append(got, f.Name)
			require.Equal(t, "is given more than once; send each field once", f.Message)
		}
		require.Equal(t, want, got, doc)
	}
	require.Error(t, duplicateKeys([]byte(`{"a":`), &validation.Error{}))
}

func TestArrayLen(t *testing.T) {
	t.Parallel()

	for raw, want := range map[string]int{
		`[]`: 0, ` [ ] `: 0, `[1]`: 1, `[1,2,3]`: 3, `[[],[]]`: 2, `[[1,2],{"a":[3,4]}]`: 2,
		`["a,b","c]"]`: 2, `["\"", ","]`: 2, `[{}]`: 1, `[ {} , {} ]`: 2, `[null]`: 1, `[""]`: 1,
	} {
		n, ok := arrayLen(json.RawMessage(raw))
		require.True(t, ok, raw)
		require.Equal(t, want, n, raw)
		var items []json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(raw), &items))
		require.Len(t, items, n, raw)
	}
	for _, raw := range []string{`{}`, `"[1]"`, `1`, `null`, ``} {
		_, ok := arrayLen(json.RawMessage(raw))
		require.False(t, ok, raw)
	}
}

func TestBodyReadError(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		err    error
		status int
		code   string
	}{
		{&http.MaxBytesError{Limit: 10}, 413, "payload_too_large"},
		{fmt.Errorf("read tcp: %w", os.ErrDeadlineExceeded), 408, "request_timeout"},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, 408, "request_timeout"},
		{io.ErrUnexpectedEOF, 400, "body_unreadable"},
		{errors.New("http: malformed chunked encoding"), 400, "body_unreadable"},
	} {
		var e *Error
		require.ErrorAs(t, bodyReadError(tt.err, 10), &e)
		require.Equal(t, tt.status, e.Status, tt.err.Error())
		require.Equal(t, tt.code, e.Code, tt.err.Error())
		require.NotContains(t, e.Message, "tcp")
	}
}
