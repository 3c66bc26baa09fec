package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/api"
	"github.com/florad/florad/internal/openapitest"
)

// send makes one request through the bundle's checked client and returns
// the status and body.
func (b *testBundle) send(t *testing.T, method, path, key string, body []byte, header map[string]string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, b.baseURL+path, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

// TestOpenAPIDocumentServed: anyone can read the document, it is the one
// the tests validate against, and a run's traffic is checked against both
// documents (the checker saw the operations, so the suite's validation is
// not vacuous).
func TestOpenAPIDocumentServed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	status, body := b.send(t, http.MethodGet, "/api/v1/openapi.json", "", nil, nil)
	require.Equal(t, http.StatusOK, status)
	want, err := api.OpenAPIDocument()
	require.NoError(t, err)
	var served, embedded map[string]any
	require.NoError(t, json.Unmarshal(body, &served))
	require.NoError(t, json.Unmarshal(want, &embedded))
	require.Equal(t, []any{map[string]any{"url": b.baseURL, "description": "this server"}}, served["servers"])
	delete(served, "servers")
	delete(embedded, "servers")
	require.Equal(t, embedded, served)

	status, body = b.send(t, http.MethodPost, "/api/v1/techniques/prompt-expander/runs", b.key,
		[]byte(`{"inputs":[{"id":"prompt","type":"text","value":"a fox"}],"mode":"async"}`), nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var run struct {
		RunID string `json:"run_id"`
	}
	require.NoError(t, json.Unmarshal(body, &run))
	b.wait(t, b.client, "prompt-expander", run.RunID)
	hits := b.openapi.Hits()
	for _, op := range []string{"getOpenAPI", "startTechniqueRun", "getTechniqueRun"} {
		require.Positive(t, hits[op], "the checker saw no %s", op)
	}
	require.Positive(t, b.openapi.FloraChecked(), "the checker compared nothing with FLORA's document")
}

// TestFloraDocumentRequestsAccepted: requests that FLORA's published
// document accepts for the operations it publishes (start a run, poll it)
// are accepted by florad, and florad's answers, the errors included, are
// in FLORA's shapes. Each request is first checked to be valid under
// FLORA's document, so the test cannot drift into testing something FLORA
// would refuse; the bundle's client then checks every answer against
// FLORA's response schemas (openapitest), failing the test on a mismatch.
func TestFloraDocumentRequestsAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	hook := statusHookReceiver(t, http.StatusOK)
	img := b.imageURL("portrait.png")

	type request struct {
		slug, body string
		header     map[string]string
	}
	accepted := []request{
		{"prompt-expander", `{"inputs":[{"id":"prompt","type":"text","value":"a lighthouse"}],"mode":"async"}`, nil},
		{"prompt-expander", `{"mode":"async","inputs":[{"value":"a lighthouse","type":"text","id":"prompt"}]}`, nil},
		{"prompt-expander", `{"inputs":[{"id":"prompt","type":"text","value":"a lighthouse"}],"mode":"async",` +
			`"idempotency_key":"flora-doc-1"}`, nil},
		{"prompt-expander", `{"inputs":[{"id":"prompt","type":"text","value":"a lighthouse"}],"mode":"async",` +
			`"idempotency_key":"flora-doc-1"}`, nil}, // the replay
		{"prompt-expander", `{"inputs":[{"id":"prompt","type":"text","value":"a lighthouse at dusk"}],"mode":"async"}`,
			map[string]string{"Idempotency-Key": "flora-doc-2"}},
		{"prompt-expander", `{"inputs":[{"id":"prompt","type":"text","value":"a lighthouse"}],"mode":"async",` +
			`"callback_url":"` + hook.hookURL() + `"}`, nil},
		{"portrait-enhancer", `{"inputs":[{"id":"input_image","type":"imageUrl","value":"` + img + `"}],"mode":"async"}`, nil},
		{"tech_prompt-expander", `{"inputs":[{"id":"prompt","type":"text","value":"by id"}],"mode":"async"}`, nil},
		// mode "stream" is in FLORA's request schema; florad answers it
		// with the event stream (its own document has that answer).
		{"prompt-expander", `{"inputs":[{"id":"prompt","type":"text","value":"streamed"}],"mode":"stream"}`, nil},
	}
	// FLORA's third input type, where this server can run a video
	// technique (ffmpeg installed); the input need not exist for the
	// request to be accepted.
	status, body := b.send(t, http.MethodGet, "/api/v1/techniques/video-poster", b.key, nil, nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var video struct {
		Available bool `json:"available"`
	}
	require.NoError(t, json.Unmarshal(body, &video))
	if video.Available {
		accepted = append(accepted, request{"video-poster",
			`{"inputs":[{"id":"input_video","type":"videoUrl","value":"` + b.images.URL + `/clip.mp4"}],"mode":"async"}`, nil})
	} else {
		t.Log("video-poster is unavailable here (no ffmpeg): FLORA's videoUrl input type is not sent")
	}
	// And generated ones: FLORA's request schema filled with random text,
	// field orders and optional fields.
	rng := rand.New(rand.NewPCG(7, 11))
	words := []string{"a", "lighthouse", "猫", "é", "\"quoted\"", "\\", "\n", "🙂", "<b>", "100%", "&", "null"}
	for i := range 25 {
		var parts []string
		for range 1 + rng.IntN(6) {
			parts = append(parts, words[rng.IntN(len(words))])
		}
		value, err := json.Marshal(strings.Join(parts, " "))
		require.NoError(t, err)
		fields := []string{`"inputs":[{"type":"text","value":` + string(value) + `,"id":"prompt"}]`, `"mode":"async"`}
		if rng.IntN(2) == 0 {
			fields = append(fields, `"idempotency_key":"gen-`+strconv.Itoa(i)+`-`+words[rng.IntN(2)]+`"`)
		}
		if rng.IntN(3) == 0 {
			fields = append(fields, `"callback_url":"`+hook.hookURL()+`"`)
		}
		rng.Shuffle(len(fields), func(a, b int) { fields[a], fields[b] = fields[b], fields[a] })
		accepted = append(accepted, request{"prompt-expander", "{" + strings.Join(fields, ",") + "}", nil})
	}
	var runs [][2]string
	for _, r := range accepted {
		path := "/api/v1/techniques/" + r.slug + "/runs"
		requireFloraValid(t, floraSpec, http.MethodPost, path, r.body, r.header)
		status, body := b.send(t, http.MethodPost, path, b.key, []byte(r.body), r.header)
		require.Equal(t, http.StatusOK, status, "FLORA's document accepts %s; florad answered %s", r.body, body)
		if strings.Contains(r.body, `"stream"`) {
			require.Contains(t, string(body), "event: run.snapshot")
			continue
		}
		var run struct {
			RunID string `json:"run_id"`
		}
		require.NoError(t, json.Unmarshal(body, &run))
		runs = append(runs, [2]string{r.slug, run.RunID})
	}
	for _, r := range runs {
		b.wait(t, b.client, r[0], r[1])
		path := "/api/v1/techniques/" + r[0] + "/runs/" + r[1]
		requireFloraValid(t, floraSpec, http.MethodGet, path, "", nil)
		status, body := b.send(t, http.MethodGet, path, b.key, nil, nil)
		require.Equal(t, http.StatusOK, status, "%s", body)
	}

	// FLORA's error answers, in FLORA's error shape: FLORA's document
	// lists 400, 401, 402, 403, 404 and 429 for these operations.
	ok := `{"inputs":[{"id":"prompt","type":"text","value":"x"}],"mode":"async"}`
	broke := b.newWorkspaceClientKey(t, 0)
	for _, e := range []struct {
		method, path, key, body string
		status                  int
	}{
		{http.MethodPost, "/api/v1/techniques/prompt-expander/runs", b.key, `{"inputs":[],"mode":"async"}`, 400},
		{http.MethodPost, "/api/v1/techniques/prompt-expander/runs", b.key, `{"inputs":`, 400},
		{http.MethodPost, "/api/v1/techniques/prompt-expander/runs", "", ok, 401},
		{http.MethodPost, "/api/v1/techniques/prompt-expander/runs", "sk_live_nope", ok, 401},
		{http.MethodPost, "/api/v1/techniques/prompt-expander/runs", broke, ok, 402},
		{http.MethodPost, "/api/v1/techniques/prompt-expander/runs?workspace_id=ws_other", b.key, ok, 403},
		{http.MethodPost, "/api/v1/techniques/no-such-technique/runs", b.key, ok, 404},
		{http.MethodGet, "/api/v1/techniques/prompt-expander/runs/run_missing", b.key, "", 404},
		{http.MethodGet, "/api/v1/techniques/prompt-expander/runs/" + runs[0][1], "", "", 401},
	} {
		var body []byte
		if e.body != "" {
			body = []byte(e.body)
		}
		status, got := b.send(t, e.method, e.path, e.key, body, nil)
		require.Equal(t, e.status, status, "%s %s: %s", e.method, e.path, got)
	}
	require.GreaterOrEqual(t, b.openapi.FloraChecked(), len(accepted)+len(runs)+9)
}

// requireFloraValid fails the test when FLORA's document refuses the
// request: the test's premise.
func requireFloraValid(t *testing.T, flora *openapitest.Spec, method, path, body string, header map[string]string) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://florad.test"+path, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer sk_live_x")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	route, params, err := flora.Route(req)
	require.NoError(t, err, "FLORA's document has no %s %s", method, path)
	x := &openapitest.Exchange{Req: req, ReqBody: []byte(body)}
	require.NoError(t, flora.ValidateRequest(x, route, params), "FLORA's document refuses %s %s %s", method, path, body)
}

// newWorkspaceClientKey makes another workspace with credits and returns
// its key.
func (b *testBundle) newWorkspaceClientKey(t *testing.T, credits int64) string {
	t.Helper()
	_, _, key := b.newWorkspace(t, credits)
	return key
}
