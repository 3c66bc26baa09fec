package providerfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// OpenAI is a fake of the OpenAI API's images and chat completions
// (https://platform.openai.com/docs/api-reference), as OpenAI and the local
// servers that copy it (stable-diffusion.cpp, llama.cpp, Ollama, vLLM,
// LocalAI) answer them, under /v1:
//
//	POST /v1/images/generations  JSON {model, prompt, n, size, response_format}
//	POST /v1/images/edits        multipart: image file, prompt, ...
//	POST /v1/chat/completions    JSON {model, messages}
//
// with Authorization: Bearer <Key> when Key is set. Images come back as
// b64_json, or as a url (served by the fake) when response_format is url.
type OpenAI struct {
	Key string
	// Delay is how long each answer takes.
	Delay time.Duration
	// RateLimit429 answers the next N requests 429 with Retry-After: 1.
	RateLimit429 atomic.Int64

	Requests atomic.Int64
	Server   *httptest.Server

	mu     sync.Mutex
	last   map[string]any // the last request's fields, for tests
	images map[string][]byte
	seq    int
}

// NewOpenAI starts the fake on a loopback port.
func NewOpenAI(key string) *OpenAI {
	o := &OpenAI{Key: key, images: map[string][]byte{}}
	o.Server = httptest.NewServer(o)
	return o
}

// URL is the API's base URL, ending in /v1.
func (o *OpenAI) URL() string { return o.Server.URL + "/v1" }

// Close stops the fake.
func (o *OpenAI) Close() { o.Server.Close() }

// Last returns the fields of the last request the fake answered (the image
// of an edit as "image_bytes").
func (o *OpenAI) Last() map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

func oaError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}

func (o *OpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/files/") {
		o.mu.Lock()
		data := o.images[strings.TrimPrefix(r.URL.Path, "/files/")]
		o.mu.Unlock()
		if data == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(data)
		return
	}
	if o.Key != "" && r.Header.Get("Authorization") != "Bearer "+o.Key {
		oaError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
		return
	}
	if r.Method != http.MethodPost {
		oaError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "Method not allowed.")
		return
	}
	if o.RateLimit429.Add(-1) >= 0 {
		w.Header().Set("Retry-After", "1")
		oaError(w, http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "Rate limit reached for requests.")
		return
	}
	o.Requests.Add(1)
	if o.Delay > 0 {
		select {
		case <-time.After(o.Delay):
		case <-r.Context().Done():
			return
		}
	}
	fields := map[string]any{}
	switch r.URL.Path {
	case "/v1/images/generations", "/v1/chat/completions":
		if err := json.NewDecoder(r.Body).Decode(&fields); err != nil {
			oaError(w, http.StatusBadRequest, "invalid_request_error", "", "We could not parse the JSON body of your request.")
			return
		}
	case "/v1/images/edits":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			oaError(w, http.StatusBadRequest, "invalid_request_error", "", "The body must be multipart/form-data.")
			return
		}
		for k, v := range r.MultipartForm.Value {
			fields[k] = v[0]
		}
		f, _, err := r.FormFile("image")
		if err != nil {
			oaError(w, http.StatusBadRequest, "invalid_request_error", "", "Missing image file.")
			return
		}
		data, _ := io.ReadAll(f)
		_ = f.Close()
		fields["image_bytes"] = len(data)
		fields["image_type"] = http.DetectContentType(data)
	default:
		oaError(w, http.StatusNotFound, "invalid_request_error", "", "Unknown path "+r.URL.Path)
		return
	}
	o.mu.Lock()
	o.last = fields
	o.mu.Unlock()
	if r.URL.Path == "/v1/chat/completions" {
		o.chat(w, fields)
		return
	}
	prompt, _ := fields["prompt"].(string)
	switch {
	case prompt == "":
		oaError(w, http.StatusBadRequest, "invalid_request_error", "", "prompt is required.")
		return
	case wants(prompt, PromptUnsafe):
		oaError(w, http.StatusBadRequest, "invalid_request_error", "content_policy_violation",
			"Your request was rejected as a result of our safety system.")
		return
	case wants(prompt, PromptFail):
		oaError(w, http.StatusBadRequest, "invalid_request_error", "", "The model could not process this prompt.")
		return
	}
	img := PNG(prompt)
	item := map[string]any{"revised_prompt": prompt}
	if fields["response_format"] == "url" {
		o.mu.Lock()
		o.seq++
		name := fmt.Sprintf("img-%d.png", o.seq)
		o.images[name] = img
		o.mu.Unlock()
		item["url"] = "http://" + r.Host + "/files/" + name
	} else {
		item["b64_json"] = base64.StdEncoding.EncodeToString(img)
	}
	writeJSON(w, http.StatusOK, map[string]any{"created": time.Now().Unix(), "data": []any{item}})
}

func (o *OpenAI) chat(w http.ResponseWriter, fields map[string]any) {
	msgs, _ := fields["messages"].([]any)
	var system, user string
	for _, m := range msgs {
		mm, _ := m.(map[string]any)
		c, _ := mm["content"].(string)
		switch mm["role"] {
		case "system":
			system = c
		case "user":
			user = c
		}
	}
	if user == "" {
		oaError(w, http.StatusBadRequest, "invalid_request_error", "", "messages must include a user message.")
		return
	}
	finish, content := "stop", ""
	switch {
	case wants(user, PromptUnsafe):
		finish = "content_filter"
	case wants(user, PromptFail):
		oaError(w, http.StatusBadRequest, "invalid_request_error", "", "The model could not process this prompt.")
		return
	default:
		// The fake "model" elaborates the prompt, so a chain's next step
		// visibly gets the model's words.
		content = user + ", cinematic lighting, highly detailed, 35mm photograph"
		if system != "" {
			content = "[" + fmt.Sprint(len(system)) + "] " + content
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": "chatcmpl-fake", "object": "chat.completion",
		"created": time.Now().Unix(), "model": fields["model"],
		"choices": []any{map[string]any{"index": 0, "finish_reason": finish,
			"message": map[string]any{"role": "assistant", "content": content}}},
		"usage": map[string]any{"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}})
}
