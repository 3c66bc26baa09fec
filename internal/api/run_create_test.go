package api

import (
	"encoding/json"
	"errors"
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
	return decodeRunCreate(fields, headerKey, httpsCallback)
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
			name: "inputs null",
			body: `{"inputs": null, "mode": "async"}`,
			errs: []wantField{{"inputs", "must be an array, not null"}},
		},
		{
			name: "inputs empty",
			body: `{"inputs": [], "mode": "async"}`,
			errs: []wantField{{"inputs", "must contain at least one input"}},
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
			name: "mode null",
			body: `{` + okInputs + `, "mode": null}`,
			errs: []wantField{{"mode", `must be "async" or "stream"`}},
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
