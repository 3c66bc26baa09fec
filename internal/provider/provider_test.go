package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/provider/providerfake"
	"github.com/florad/florad/internal/technique"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := http.Header{}
	require.Zero(t, retryAfter(h, now))
	h.Set("Retry-After", "7")
	require.Equal(t, 7*time.Second, retryAfter(h, now))
	h.Set("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat))
	require.Equal(t, 90*time.Second, retryAfter(h, now))
	h.Set("Retry-After", "86400")
	require.Equal(t, retryAfterMax, retryAfter(h, now), "bounded")
	h.Set("Retry-After", "soon")
	require.Zero(t, retryAfter(h, now))
}

func TestStatusErrors(t *testing.T) {
	resp := func(code int, retry string) *http.Response {
		r := &http.Response{StatusCode: code, Header: http.Header{}}
		if retry != "" {
			r.Header.Set("Retry-After", retry)
		}
		return r
	}
	pe := statusError("openai", resp(429, "3"), []byte(`{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}`)).(*processor.Error)
	require.True(t, pe.Transient)
	require.Equal(t, 3*time.Second, pe.RetryAfter)
	require.Equal(t, "rate_limit_exceeded Rate limit reached", pe.Detail)

	pe = statusError("fal", resp(429, ""), nil).(*processor.Error)
	require.Equal(t, retryAfterDefault, pe.RetryAfter, "a 429 without Retry-After still waits")

	pe = statusError("fal", resp(503, ""), []byte(`{"detail":"overloaded"}`)).(*processor.Error)
	require.True(t, pe.Transient)
	require.Equal(t, processor.CodeProviderError, pe.Code)
	require.Equal(t, "overloaded", pe.Detail)

	pe = statusError("fal", resp(504, ""), nil).(*processor.Error)
	require.Equal(t, processor.CodeProviderTimeout, pe.Code)

	pe = statusError("openai", resp(400, ""), []byte(`{"error":{"message":"rejected by our safety system","code":"content_policy_violation"}}`)).(*processor.Error)
	require.False(t, pe.Transient)
	require.Equal(t, processor.CodeSafetyBlocked, pe.Code)

	pe = statusError("openai", resp(401, ""), []byte(`{"error":{"message":"Incorrect API key provided"}}`)).(*processor.Error)
	require.False(t, pe.Transient)
	require.Equal(t, processor.CodeProviderError, pe.Code)
	require.Contains(t, pe.Message, "credentials")
	require.NotContains(t, pe.Message, "Incorrect", "the provider's words stay in Detail, for operators")

	pe = statusError("fal", resp(422, ""), []byte(`{"detail":[{"msg":"field required","loc":["body","prompt"]}]}`)).(*processor.Error)
	require.Equal(t, "field required", pe.Detail)
}

func TestOpenAIImageURLResponse(t *testing.T) {
	oa := providerfake.NewOpenAI("")
	t.Cleanup(oa.Close)
	m := Models(Config{OpenAI: OpenAIConfig{BaseURL: oa.URL()}})["openai.image"]
	require.Empty(t, m.Unavailable(), "a local server needs no key")
	params := map[string]any{"response_format": "url", "model": "sd-turbo"}
	require.NoError(t, m.CheckParams(params))
	out, err := m.Run(context.Background(), &processor.Call{Params: params,
		Inputs: map[string]processor.Value{"prompt": {Type: technique.TypeText, Text: "a tree"}}})
	require.NoError(t, err)
	require.Equal(t, providerfake.PNG("a tree"), out["image"].Data, "downloaded from the url at once")
	require.Equal(t, "image/png", out["image"].ContentType)
	require.Equal(t, "sd-turbo", oa.Last()["model"])

	require.Error(t, m.CheckParams(map[string]any{"response_format": "jpeg"}))
	require.Error(t, m.CheckParams(map[string]any{"prompt_template": "no placeholder"}))
	require.Error(t, m.CheckParams(map[string]any{"sizes": "typo"}))
}

// TestFalKeyStaysOnTheQueueHost: URLs in fal's answer on another host are
// replaced by the queue's own, so the key is never sent elsewhere.
func TestFalKeyStaysOnTheQueueHost(t *testing.T) {
	var other int
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { other++ }))
	t.Cleanup(elsewhere.Close)
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"request_id": "abc", "status_url": elsewhere.URL + "/steal",
			"response_url": elsewhere.URL + "/steal", "cancel_url": elsewhere.URL + "/steal"})
	}))
	t.Cleanup(queue.Close)
	m := Models(Config{Fal: FalConfig{QueueURL: queue.URL, Key: "k"}})["fal.queue"].(processor.Async)
	sub, err := m.Submit(context.Background(), &processor.Call{Params: map[string]any{"app": "fal-ai/x"},
		Inputs: map[string]processor.Value{"prompt": {Text: "p"}}})
	require.NoError(t, err)
	var fh falHandle
	require.Equal(t, "abc", sub.RequestID)
	require.NoError(t, json.Unmarshal([]byte(sub.Handle), &fh))
	require.Equal(t, queue.URL+"/fal-ai/x/requests/abc/status", fh.StatusURL)
	require.Equal(t, queue.URL+"/fal-ai/x/requests/abc", fh.ResponseURL)
	require.Equal(t, queue.URL+"/fal-ai/x/requests/abc/cancel", fh.CancelURL)
	require.Zero(t, other)
}

func TestUnconfiguredProviders(t *testing.T) {
	for name, m := range Models(Config{}) {
		require.NotEmpty(t, m.Unavailable(), name)
	}
}
