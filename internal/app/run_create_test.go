package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
)

// TestRunCreateValidation sends one invalid request per rule of the
// contract and checks the 400 names the field at fault.
func TestRunCreateValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	img := b.imageURL("portrait.png")
	// Cleanups run after every parallel subtest has ended (and before the
	// app stops): by then no refused request may have cost anything.
	t.Cleanup(func() {
		require.Equal(t, int64(startCredits), b.balance(t, b.wsID), "refused requests charge nothing")
		require.Zero(t, b.countRuns(t, b.wsID), "refused requests create no run")
	})

	text := func(id, value string) map[string]any { return map[string]any{"id": id, "type": "text", "value": value} }
	image := func(value string) map[string]any {
		return map[string]any{"id": "input_image", "type": "imageUrl", "value": value}
	}
	body := func(inputs any) map[string]any { return map[string]any{"inputs": inputs, "mode": "async"} }
	with := func(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }
	without := func(m map[string]any, k string) map[string]any { delete(m, k); return m }

	for _, tc := range []struct {
		name      string
		technique string
		body      map[string]any
		header    map[string]string
		field     string
	}{
		{"MissingInputs", "prompt-expander", map[string]any{"mode": "async"}, nil, "inputs"},
		{"InputsNotArray", "prompt-expander", body("a cat"), nil, "inputs"},
		{"InputsObject", "prompt-expander", body(text("prompt", "a cat")), nil, "inputs"},
		{"InputsNull", "prompt-expander", body(nil), nil, "inputs"},
		{"EmptyInputs", "prompt-expander", body([]any{}), nil, "inputs"},
		{"InputNotObject", "prompt-expander", body([]any{"prompt"}), nil, "inputs[0]"},
		{"InputMissingValue", "prompt-expander", body([]any{without(text("prompt", "x"), "value")}), nil, "inputs[0].value"},
		{"InputValueNotString", "prompt-expander", body([]any{with(text("prompt", "x"), "value", 3)}), nil, "inputs[0].value"},
		{"InputUnknownField", "prompt-expander", body([]any{with(text("prompt", "x"), "weight", 1)}), nil, "inputs[0].weight"},
		{"UnknownInputID", "prompt-expander", body([]any{text("prompt", "a cat"), text("mood", "calm")}), nil, "inputs[1].id"},
		{"DuplicateID", "prompt-expander", body([]any{text("prompt", "a cat"), text("prompt", "a dog")}), nil, "inputs[1].id"},
		{"MissingRequiredInput", "prompt-expander", body([]any{text("style", "noir")}), nil, "inputs"},
		{"WrongType", "prompt-expander", body([]any{map[string]any{"id": "prompt", "type": "imageUrl", "value": img}}), nil, "inputs[0].type"},
		{"WrongTypeForImage", "portrait-enhancer", body([]any{with(image(img), "type", "TEXT")}), nil, "inputs[0].type"},
		{"BadTypeString", "prompt-expander", body([]any{with(text("prompt", "a cat"), "type", "PICTURE")}), nil, "inputs[0].type"},
		{"EmptyText", "prompt-expander", body([]any{text("prompt", "")}), nil, "inputs[0].value"},
		{"EmptyOptionalText", "prompt-expander", body([]any{text("prompt", "a cat"), text("style", "")}), nil, "inputs[1].value"},
		{"TextTooLong", "prompt-expander", body([]any{text("prompt", strings.Repeat("é", 10_001))}), nil, "inputs[0].value"},
		{"ImageNotURL", "portrait-enhancer", body([]any{image("not a url")}), nil, "inputs[0].value"},
		{"ImageRelativeURL", "portrait-enhancer", body([]any{image("/portrait.png")}), nil, "inputs[0].value"},
		{"ImageFTP", "portrait-enhancer", body([]any{image("ftp://127.0.0.1/portrait.png")}), nil, "inputs[0].value"},
		{"ImageEmpty", "portrait-enhancer", body([]any{image("")}), nil, "inputs[0].value"},
		{"UnknownBodyField", "prompt-expander", with(body([]any{text("prompt", "a cat")}), "priority", "high"), nil, "priority"},
		{"MissingMode", "prompt-expander", without(body([]any{text("prompt", "a cat")}), "mode"), nil, "mode"},
		{"BadMode", "prompt-expander", with(body([]any{text("prompt", "a cat")}), "mode", "sync"), nil, "mode"},
		{"ModeNotString", "prompt-expander", with(body([]any{text("prompt", "a cat")}), "mode", 1), nil, "mode"},
		{"CallbackNotURL", "prompt-expander", with(body([]any{text("prompt", "a cat")}), "callback_url", "not a url"), nil, "callback_url"},
		{"CallbackFTP", "prompt-expander", with(body([]any{text("prompt", "a cat")}), "callback_url", "ftp://127.0.0.1/hook"), nil, "callback_url"},
		{"CallbackNotString", "prompt-expander", with(body([]any{text("prompt", "a cat")}), "callback_url", true), nil, "callback_url"},
		{"IdempotencyKeyNotString", "prompt-expander", with(body([]any{text("prompt", "a cat")}), "idempotency_key", 7), nil, "idempotency_key"},
		{"IdempotencyKeyTooLong", "prompt-expander", with(body([]any{text("prompt", "a cat")}), "idempotency_key", strings.Repeat("k", 256)), nil, "idempotency_key"},
		{"IdempotencyKeysDiffer", "prompt-expander", with(body([]any{text("prompt", "a cat")}), "idempotency_key", "body-key"),
			map[string]string{"Idempotency-Key": "header-key"}, "idempotency_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw, err := json.Marshal(tc.body)
			require.NoError(t, err)
			var opts []client.RequestOption
			for k, v := range tc.header {
				opts = append(opts, client.WithHeader(k, v))
			}
			_, err = b.client.Do(ctx, http.MethodPost, "/api/v1/techniques/"+tc.technique+"/runs", raw, opts...)
			e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
			require.True(t, e.HasField(tc.field), "want field %q, got %+v", tc.field, e.Fields)
			for _, f := range e.Fields {
				require.NotEmpty(t, f.Message)
			}
			require.NotEmpty(t, e.Message)
		})
	}
}

// TestRunCreateValidationWithoutDev checks the URL rules that development
// mode relaxes: plain http and private hosts.
func TestRunCreateValidationWithoutDev(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOpts{configure: func(c *app.Config) { c.Dev = false }})
	ctx := context.Background()

	for _, tc := range []struct{ name, url, callback, field string }{
		{"ImageHTTP", "http://example.com/portrait.png", "", "inputs[0].value"},
		{"ImageLoopback", "https://127.0.0.1/portrait.png", "", "inputs[0].value"},
		{"ImagePrivate", "https://10.0.0.7/portrait.png", "", "inputs[0].value"},
		{"ImageMetadata", "https://169.254.169.254/latest/meta-data", "", "inputs[0].value"},
		{"CallbackHTTP", "https://93.184.215.14/portrait.png", "http://example.com/hook", "callback_url"},
		{"CallbackLoopback", "https://93.184.215.14/portrait.png", "https://127.0.0.1/hook", "callback_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &client.RunCreateParams{Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: tc.url}},
				CallbackURL: tc.callback}
			_, err := b.client.Runs.Create(ctx, "portrait-enhancer", p)
			e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
			require.True(t, e.HasField(tc.field), "want field %q, got %+v", tc.field, e.Fields)
		})
	}
}

func TestRunCreateAccepts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	for _, tc := range []struct {
		name      string
		technique string
		inputs    []client.Input
		callback  string
	}{
		{"SeedImageSpelling", "portrait-enhancer", []client.Input{{ID: "input_image", Type: "IMAGE_URL", Value: b.imageURL("portrait.png")}}, ""},
		{"TodaysImageSpelling", "portrait-enhancer", []client.Input{{ID: "input_image", Type: "imageUrl", Value: b.imageURL("portrait.jpg")}}, ""},
		{"SeedTextSpelling", "prompt-expander", []client.Input{{ID: "prompt", Type: "TEXT", Value: "a cat"}}, ""},
		{"InputsInAnyOrder", "prompt-expander", []client.Input{{ID: "style", Type: "text", Value: "noir"}, {ID: "prompt", Type: "text", Value: "a cat"}}, ""},
		{"TextAtTheLimit", "prompt-expander", []client.Input{{ID: "prompt", Type: "text", Value: strings.Repeat("é", 10_000)}}, ""},
		{"ByTechniqueID", "tech_prompt-expander", []client.Input{{ID: "prompt", Type: "text", Value: "a dog"}}, ""},
		// Development mode lets callbacks use plain http on loopback.
		{"CallbackHTTPInDev", "prompt-expander", []client.Input{{ID: "prompt", Type: "text", Value: "a bird"}}, "http://127.0.0.1:9/hook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := b.client.Runs.Create(ctx, tc.technique, &client.RunCreateParams{Inputs: tc.inputs, Mode: "async",
				CallbackURL: tc.callback})
			require.NoError(t, err)
			require.Regexp(t, `^run_\S+$`, r.RunID)
			require.Equal(t, client.StatusPending, r.Status, "async creates answer with the pending run")
			require.Zero(t, r.Progress)
			require.Empty(t, r.Outputs)
			require.False(t, r.Response.Replayed())
			require.Equal(t, b.baseURL+"/api/v1/techniques/"+strings.TrimPrefix(tc.technique, "tech_")+"/runs/"+r.RunID, r.PollURL)
		})
	}
}

func TestRunCreateBadBodies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	post := func(technique string, body []byte) error {
		_, err := b.client.Do(ctx, http.MethodPost, "/api/v1/techniques/"+technique+"/runs", body)
		return err
	}

	for _, tc := range []struct{ name, body string }{
		{"Malformed", `{"inputs": [`},
		{"TrailingGarbage", `{"mode":"async"} x`},
		{"Array", `[{"inputs": [], "mode": "async"}]`},
		{"String", `"hello"`},
		{"Null", `null`},
		{"Empty", ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			apiError(t, post("prompt-expander", []byte(tc.body)), http.StatusBadRequest, "invalid_json")
		})
	}

	t.Run("TooLarge", func(t *testing.T) {
		t.Parallel()
		// A valid object just over 1 MiB: the size alone refuses it.
		var buf bytes.Buffer
		buf.WriteString(`{"mode":"async","inputs":[{"id":"prompt","type":"text","value":"`)
		buf.WriteString(strings.Repeat("a", 1<<20))
		buf.WriteString(`"}]}`)
		apiError(t, post("prompt-expander", buf.Bytes()), http.StatusRequestEntityTooLarge, "payload_too_large")
	})

	t.Run("UnknownTechnique", func(t *testing.T) {
		t.Parallel()
		_, err := b.client.Runs.Create(ctx, "no-such-technique", promptRun("a cat"))
		apiError(t, err, http.StatusNotFound, "not_found")
	})
}

// TestRunCreateNullAndDuplicates: over the real server, null stands for a
// missing field (docs/requests.md) and a key given twice is refused, naming
// it, with nothing created.
func TestRunCreateNullAndDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	post := func(body string, opts ...client.RequestOption) (*client.Response, error) {
		return b.client.Do(ctx, http.MethodPost, "/api/v1/techniques/prompt-expander/runs", []byte(body), opts...)
	}
	input := `"inputs":[{"id":"prompt","type":"text","value":"a cat"}]`

	resp, err := post(`{` + input + `,"mode":"async","callback_url":null,"idempotency_key":null}`)
	require.NoError(t, err)
	var run struct {
		RunID  string `json:"run_id"`
		Status string `json:"status"`
	}
	require.NoError(t, json.Unmarshal(resp.Body, &run))
	require.Equal(t, client.StatusPending, run.Status)

	// A null key leaves the header's: the same key replays the same run.
	withKey := client.WithHeader("Idempotency-Key", "null-key-1")
	first, err := post(`{`+input+`,"mode":"async","idempotency_key":null}`, withKey)
	require.NoError(t, err)
	again, err := post(`{`+input+`,"mode":"async"}`, withKey)
	require.NoError(t, err)
	require.Equal(t, "true", again.Header.Get("idempotent-replayed"))
	// The same run; not the same body, which is the run's current state
	// and may have moved on in between (a worker started it).
	var firstRun, againRun struct {
		RunID string `json:"run_id"`
	}
	require.NoError(t, json.Unmarshal(first.Body, &firstRun))
	require.NoError(t, json.Unmarshal(again.Body, &againRun))
	require.Equal(t, firstRun.RunID, againRun.RunID)

	_, err = post(`{` + input + `,"mode":null}`)
	e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
	require.Equal(t, `mode: is required: "async" or "stream"`, e.Message)

	before := b.countRuns(t, b.wsID)
	_, err = post(`{` + input + `,"mode":"async","mode":"stream"}`)
	e = apiError(t, err, http.StatusBadRequest, "input_validation_error")
	require.Equal(t, "mode: is given more than once; send each field once", e.Message)
	_, err = post(`{"inputs":[{"id":"prompt","type":"text","value":"a","value":"b"}],"mode":"async"}`)
	e = apiError(t, err, http.StatusBadRequest, "input_validation_error")
	require.Equal(t, "inputs[0].value", e.Fields[0].Field)
	require.Equal(t, before, b.countRuns(t, b.wsID))
}
