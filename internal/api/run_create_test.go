package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/validation"
)

// secretValue is planted in wrongly typed fields: no message may repeat it,
// since a value may be a credential pasted in the wrong place.
const secretValue = "hunter2-secret"

// httpsCallback stands in for the server's callback policy.
func httpsCallback(u string) error {
	if !strings.HasPrefix(u, "https://") {
		return errors.New("must be an absolute https URL")
	}
	return nil
}

type wantField struct{ name, contains string }

func decodeBody(t *testing.T, body, headerKey string) (*run.CreateParams, error) {
	t.Helper()
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(body), &fields), body)
	return decodeRunCreate(fields, headerKey, 100, httpsCallback)
}

const okInputs = `"inputs": [{"id": "prompt", "type": "TEXT", "value": "a cat"}]`

func TestDecodeRunCreate(t *testing.T) {
	t.Parallel()

	long := func(n int) string { return strings.Repeat("k", n) }
	tests := []struct {
		name   string
		body   string
		header string
		// check inspects a successful decode; errs lists the fields a
		// failing one must reject, in order.
		check func(t *testing.T, p *run.CreateParams)
		errs  []wantField
	}{
		{
			name: "minimal async request",
			body: `{` + okInputs + `, "mode": "async"}`,
			check: func(t *testing.T, p *run.CreateParams) {
				require.Equal(t, &run.CreateParams{Mode: "async",
					Inputs: []technique.RequestInput{{ID: "prompt", Type: "TEXT", Value: "a cat"}}}, p)
			},
		},
		{
			name:  "stream mode",
			body:  `{` + okInputs + `, "mode": "stream"}`,
			check: func(t *testing.T, p *run.CreateParams) { require.Equal(t, "stream", p.Mode) },
		},
		{
			name: "every field",
			body: `{` + okInputs + `, "mode": "async", "callback_url": "https://hooks.example/x", "idempotency_key": "k1"}`,
			check: func(t *testing.T, p *run.CreateParams) {
				require.Equal(t, "https://hooks.example/x", p.CallbackURL)
				require.Equal(t, "k1", p.IdempotencyKey)
			},
		},
		{
			name: "null callback and key mean absent",
			body: `{` + okInputs + `, "mode": "async", "callback_url": null, "idempotency_key": null}`,
			check: func(t *testing.T, p *run.CreateParams) {
				require.Empty(t, p.CallbackURL)
				require.Empty(t, p.IdempotencyKey)
			},
		},
		{
			name:   "a null key leaves the header's",
			body:   `{` + okInputs + `, "mode": "async", "idempotency_key": null}`,
			header: "hk",
			check:  func(t *testing.T, p *run.CreateParams) { require.Equal(t, "hk", p.IdempotencyKey) },
		},
		{
			name:   "idempotency key from the header",
			body:   `{` + okInputs + `, "mode": "async"}`,
			header: "hk",
			check:  func(t *testing.T, p *run.CreateParams) { require.Equal(t, "hk", p.IdempotencyKey) },
		},
		{
			name:   "header and body agree",
			body:   `{` + okInputs + `, "mode": "async", "idempotency_key": "same"}`,
			header: "same",
			check:  func(t *testing.T, p *run.CreateParams) { require.Equal(t, "same", p.IdempotencyKey) },
		},
		{
			name:  "key at the length limit",
			body:  `{` + okInputs + `, "mode": "async", "idempotency_key": "` + long(255) + `"}`,
			check: func(t *testing.T, p *run.CreateParams) { require.Len(t, p.IdempotencyKey, 255) },
		},
		{
			name: "unknown fields",
			body: `{` + okInputs + `, "mode": "async", "webhook": "x", "callbackUrl": "y"}`,
			errs: []wantField{{"callbackUrl", "is not a field of this request"}, {"webhook", "is not a field of this request"}},
		},
		{
			name: "a very long unknown field name is cut",
			body: `{` + okInputs + `, "mode": "async", "` + long(500) + `": 1}`,
			errs: []wantField{{long(40) + "…", "is not a field"}},
		},
		{
			name: "inputs missing",
			body: `{"mode": "async"}`,
			errs: []wantField{{"inputs", "is required"}},
		},
		{
			name: "inputs not an array",
			body: `{"inputs": "` + secretValue + `", "mode": "async"}`,
			errs: []wantField{{"inputs", "must be an array, not a string"}},
		},
		{
			name: "inputs an object",
			body: `{"inputs": {"id": "` + secretValue + `"}, "mode": "async"}`,
			errs: []wantField{{"inputs", "must be an array, not an object"}},
		},
		{
			name: "inputs null is inputs missing",
			body: `{"inputs": null, "mode": "async"}`,
			errs: []wantField{{"inputs", "is required"}},
		},
		{
			name: "inputs empty",
			body: `{"inputs": [], "mode": "async"}`,
			errs: []wantField{{"inputs", "must contain at least one input"}},
		},
		{
			name: "too many inputs are counted, not decoded",
			body: `{"inputs": [` + strings.TrimSuffix(strings.Repeat(`{"bad": 1},`, 101), ",") + `], "mode": "async"}`,
			errs: []wantField{{"inputs", "must contain at most 100 inputs, not 101"}},
		},
		{
			name: "an input's null fields are missing",
			body: `{"inputs": [{"id": null, "type": "TEXT", "value": null}], "mode": "async"}`,
			errs: []wantField{{"inputs[0].id", "is required"}, {"inputs[0].value", "is required"}},
		},
		{
			name: "an input null",
			body: `{"inputs": [null], "mode": "async"}`,
			errs: []wantField{{"inputs[0]", "must be an object with id, type and value, not null"}},
		},
		{
			name: "an input not an object",
			body: `{"inputs": [42], "mode": "async"}`,
			errs: []wantField{{"inputs[0]", "must be an object with id, type and value, not a number"}},
		},
		{
			name: "an input value of the wrong type",
			body: `{"inputs": [{"id": "prompt", "type": "TEXT", "value": ["` + secretValue + `"]}], "mode": "async"}`,
			errs: []wantField{{"inputs[0].value", "must be a string, not an array"}},
		},
		{
			name: "an input id a number",
			body: `{"inputs": [{"id": 7, "type": "TEXT", "value": "x"}], "mode": "async"}`,
			errs: []wantField{{"inputs[0].id", "must be a string, not a number"}},
		},
		{
			name: "an input missing its fields",
			body: `{"inputs": [{"value": "x"}], "mode": "async"}`,
			errs: []wantField{{"inputs[0].id", "is required"}, {"inputs[0].type", "is required"}},
		},
		{
			name: "an input with an unknown field",
			body: `{"inputs": [{"id": "prompt", "type": "TEXT", "value": "x", "name": "y"}], "mode": "async"}`,
			errs: []wantField{{"inputs[0].name", "is not a field of an input"}},
		},
		{
			name: "unknown input fields in order",
			body: `{"inputs": [{"id": "prompt", "type": "TEXT", "value": "x", "z": 1, "b": 2, "m": 3}], "mode": "async"}`,
			errs: []wantField{{"inputs[0].b", "is not a field"}, {"inputs[0].m", "is not a field"}, {"inputs[0].z", "is not a field"}},
		},
		{
			name: "mode missing",
			body: `{` + okInputs + `}`,
			errs: []wantField{{"mode", `is required: "async" or "stream"`}},
		},
		{
			name: "mode unknown",
			body: `{` + okInputs + `, "mode": "sync"}`,
			errs: []wantField{{"mode", `must be "async" or "stream"`}},
		},
		{
			name: "mode in capitals",
			body: `{` + okInputs + `, "mode": "ASYNC"}`,
			errs: []wantField{{"mode", `must be "async" or "stream"`}},
		},
		{
			name: "mode a boolean",
			body: `{` + okInputs + `, "mode": true}`,
			errs: []wantField{{"mode", "must be a string, not a boolean"}},
		},
		{
			name: "mode null is mode missing",
			body: `{` + okInputs + `, "mode": null}`,
			errs: []wantField{{"mode", `is required: "async" or "stream"`}},
		},
		{
			name: "mode an object holding a secret",
			body: `{` + okInputs + `, "mode": {"token": "` + secretValue + `"}}`,
			errs: []wantField{{"mode", "must be a string, not an object"}},
		},
		{
			name: "callback refused by the policy",
			body: `{` + okInputs + `, "mode": "async", "callback_url": "http://10.0.0.1/hook"}`,
			errs: []wantField{{"callback_url", "must be an absolute https URL"}},
		},
		{
			name: "callback a number",
			body: `{` + okInputs + `, "mode": "async", "callback_url": 12345}`,
			errs: []wantField{{"callback_url", "must be a string, not a number"}},
		},
		{
			name:   "header and body disagree",
			body:   `{` + okInputs + `, "mode": "async", "idempotency_key": "body"}`,
			header: "header",
			errs:   []wantField{{"idempotency_key", "differs from the Idempotency-Key header"}},
		},
		{
			name: "empty key",
			body: `{` + okInputs + `, "mode": "async", "idempotency_key": ""}`,
			errs: []wantField{{"idempotency_key", "must not be empty"}},
		},
		{
			name: "key a number",
			body: `{` + okInputs + `, "mode": "async", "idempotency_key": 5}`,
			errs: []wantField{{"idempotency_key", "must be a string, not a number"}},
		},
		{
			name: "key over the length limit",
			body: `{` + okInputs + `, "mode": "async", "idempotency_key": "` + long(256) + `"}`,
			errs: []wantField{{"idempotency_key", "must be at most 255 characters"}},
		},
		{
			name:   "header key over the length limit",
			body:   `{` + okInputs + `, "mode": "async"}`,
			header: long(256),
			errs:   []wantField{{"idempotency_key", "must be at most 255 characters"}},
		},
		{
			name: "every problem at once",
			body: `{"inputs": 1, "mode": 2, "callback_url": 3, "idempotency_key": 4, "extra": 5}`,
			errs: []wantField{
				{"extra", "is not a field"}, {"inputs", "must be an array"}, {"mode", "must be a string"},
				{"callback_url", "must be a string"}, {"idempotency_key", "must be a string"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := decodeBody(t, tt.body, tt.header)
			if tt.errs == nil {
				require.NoError(t, err)
				tt.check(t, p)
				return
			}
			var v *validation.Error
			require.ErrorAs(t, err, &v)
			require.Len(t, v.Fields, len(tt.errs), "fields: %v", v.Fields)
			for i, f := range tt.errs {
				require.Equal(t, f.name, v.Fields[i].Name)
				require.Contains(t, v.Fields[i].Message, f.contains)
			}
			// What the client would see: never the rejected value.
			e := fromError(err)
			require.Equal(t, 400, e.Status)
			require.Equal(t, "input_validation_error", e.Code)
			require.NotContains(t, e.Message, secretValue)
			for _, f := range v.Fields {
				require.NotContains(t, f.Message, secretValue)
			}
		})
	}
}

// FuzzRunCreateBody feeds arbitrary bytes to the run-create body decoder
// (readObject, then decodeRunCreate) and checks what a client would get:
// either parameters within the request's limits, or one of our errors,
// whose encoded answer stays small whatever the body.
func FuzzRunCreateBody(f *testing.F) {
	for _, seed := range []string{
		`{` + okInputs + `, "mode": "async"}`,
		`{` + okInputs + `, "mode": "stream", "callback_url": "https://hooks.example/x", "idempotency_key": "k1"}`,
		`{` + okInputs + `, "mode": null, "callback_url": null, "idempotency_key": null}`,
		`{"inputs": [{"id": "a", "type": "IMAGE_URL", "value": "https://example.com/a.jpg"}, {"id": "b", "type": "text", "value": "x"}], "mode": "async"}`,
		`{"inputs": [{}, {}, 1, null, [], "x"], "mode": 7, "extra": {}}`,
		`{"inputs": [{"id": "p", "id": "q"}], "mode": "async", "mode": "async"}`,
		`{"m\u006fde": "async", "mode": "stream"}`,
		`{"inputs": "[1,2]", "mode": "async"}`,
		`{"inputs": [{"id":"p","type":"text","value":"\"],[\\"}], "mode": "async"}`,
		`[]`, `null`, ``, `{`, `{"a":1,}`, `{} {}`, "\xff\xfe{}",
	} {
		f.Add([]byte(seed), "")
	}
	f.Add([]byte(`{`+okInputs+`, "mode": "async", "idempotency_key": "a"}`), "b")

	s := New(Config{})
	f.Fuzz(func(t *testing.T, body []byte, headerKey string) {
		if len(body) > int(s.MaxBodyBytes) {
			return // payload_too_large before any decoding; TestReadObject covers it
		}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/v1/techniques/x/runs", bytes.NewReader(body))
		fields, err := s.readObject(httptest.NewRecorder(), req)
		var p *run.CreateParams
		if err == nil {
			p, err = decodeRunCreate(fields, headerKey, s.MaxInputs, httpsCallback)
		}
		if err == nil {
			// Accepted: within the limits, and what the JSON said.
			require.Contains(t, []string{"async", "stream"}, p.Mode)
			require.NotEmpty(t, p.Inputs)
			require.LessOrEqual(t, len(p.Inputs), s.MaxInputs)
			require.LessOrEqual(t, len(p.IdempotencyKey), 4*maxIdempotencyKeyLength)
			var plain struct {
				Inputs []map[string]any `json:"inputs"`
				Mode   string           `json:"mode"`
			}
			require.NoError(t, json.Unmarshal(body, &plain))
			require.Equal(t, plain.Mode, p.Mode)
			require.Len(t, p.Inputs, len(plain.Inputs))
			for i, in := range p.Inputs {
				require.Equal(t, plain.Inputs[i]["id"], in.ID)
				require.Equal(t, plain.Inputs[i]["value"], in.Value)
			}
			return
		}

		// Refused: one of our errors, in our shape, and a small answer.
		e := fromError(err)
		require.Contains(t, []string{"invalid_json", "input_validation_error"}, e.Code, "error %v", err)
		require.Equal(t, http.StatusBadRequest, e.Status)
		require.LessOrEqual(t, len(e.Fields), validation.MaxFields+1)
		rec := httptest.NewRecorder()
		s.writeError(rec, req, err)
		require.Less(t, rec.Body.Len(), 8<<10, "a %d byte body got a %d byte answer", len(body), rec.Body.Len())
		var got errorReply
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		require.Equal(t, e.Code, got.Error.Code)
		require.NotEmpty(t, got.Error.Message)
		if e.Code == "input_validation_error" {
			require.NotEmpty(t, got.Error.Fields)
		}

		// A body encoding/json takes as an object with an inputs array:
		// its items were counted as the decoder would split them.
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) == nil {
			var items []json.RawMessage
			if raw, ok := obj["inputs"]; ok && json.Unmarshal(raw, &items) == nil && items != nil {
				n, isArray := arrayLen(raw)
				require.True(t, isArray)
				require.Equal(t, len(items), n)
			}
		}
	})
}
