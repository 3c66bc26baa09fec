package provider

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/technique"
)

const providerOpenAI = "openai"

// openAI is the shared client of the OpenAI-compatible models.
type openAI struct {
	cfg    OpenAIConfig
	client *http.Client
}

func (o *openAI) unavailable() string {
	if o.cfg.configured() {
		return ""
	}
	return "The OpenAI-compatible provider is not configured on this server (set FLORA_OPENAI_API_KEY, or FLORA_OPENAI_BASE_URL for a local server)."
}

func (o *openAI) authorize(req *http.Request) {
	if o.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.cfg.APIKey)
	}
}

// OpenAIImage is "openai.image": an image from a prompt
// (POST /images/generations), or an edit of an input image by a prompt
// (POST /images/edits, multipart) when the image port is bound. Both
// response shapes are read: b64_json (OpenAI's gpt-image models always
// answer so) and url (downloaded at once: such URLs expire).
type OpenAIImage struct{ c *openAI }

type openAIImageParams struct {
	Model string `json:"model"`
	// Size is "1024x1024", "1536x1024", ...; the provider checks it.
	Size    string `json:"size"`
	Quality string `json:"quality"`
	// ResponseFormat is sent when set ("b64_json" or "url"): gpt-image
	// models refuse it, dall-e and most local servers take it.
	ResponseFormat string `json:"response_format"`
	// PromptTemplate, when set, wraps the prompt: "%s" stands for it.
	PromptTemplate string `json:"prompt_template"`
}

func (OpenAIImage) InputPorts() []technique.Port {
	return []technique.Port{{Name: "prompt", Type: technique.TypeText},
		{Name: "image", Type: technique.TypeImageURL, Optional: true}}
}
func (OpenAIImage) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "image", Type: technique.TypeImageURL}}
}
func (m *OpenAIImage) Unavailable() string { return m.c.unavailable() }
func (m *OpenAIImage) Provider() string    { return providerOpenAI }
func (m *OpenAIImage) Limit() int          { return m.c.cfg.Concurrency }

func (OpenAIImage) CheckParams(params map[string]any) error {
	var p openAIImageParams
	if err := decode(params, &p); err != nil {
		return err
	}
	switch p.ResponseFormat {
	case "", "b64_json", "url":
	default:
		return fmt.Errorf("response_format: must be b64_json or url")
	}
	if p.PromptTemplate != "" && strings.Count(p.PromptTemplate, "%s") != 1 {
		return fmt.Errorf("prompt_template: must contain %%s exactly once")
	}
	return nil
}

func (m *OpenAIImage) Run(ctx context.Context, call *processor.Call) (map[string]processor.Value, error) {
	var p openAIImageParams
	if err := decode(call.Params, &p); err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The step's parameters are invalid.", err)
	}
	prompt := strings.TrimSpace(call.Inputs["prompt"].Text)
	if prompt == "" {
		return nil, processor.Permanent(processor.CodeInputInvalid, "The prompt is empty.", nil)
	}
	if p.PromptTemplate != "" {
		prompt = fmt.Sprintf(p.PromptTemplate, prompt)
	}
	model := cmp.Or(p.Model, m.c.cfg.ImageModel, OpenAIImageModelDefault)
	var req *http.Request
	var err error
	if img := call.Inputs["image"]; len(img.Data) > 0 {
		req, err = m.editRequest(model, prompt, img, p)
	} else {
		body := map[string]any{"model": model, "prompt": prompt, "n": 1}
		for k, v := range map[string]string{"size": p.Size, "quality": p.Quality, "response_format": p.ResponseFormat} {
			if v != "" {
				body[k] = v
			}
		}
		req, err = jsonRequest(http.MethodPost, m.c.cfg.base()+"/images/generations", body)
	}
	if err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The provider request could not be built.", err)
	}
	m.c.authorize(req)
	var out struct {
		Data []struct {
			B64JSON       string `json:"b64_json"`
			URL           string `json:"url"`
			RevisedPrompt string `json:"revised_prompt"`
		} `json:"data"`
	}
	if err := call0(ctx, m.c.client, req, providerOpenAI, &out); err != nil {
		return nil, err
	}
	if len(out.Data) == 0 {
		return nil, processor.Permanent(processor.CodeProviderError, "The openai provider returned no image.", nil)
	}
	d := out.Data[0]
	var v processor.Value
	switch {
	case d.B64JSON != "":
		data, err := base64.StdEncoding.DecodeString(d.B64JSON)
		if err != nil {
			return nil, processor.Permanent(processor.CodeProviderError, "The openai provider returned an undecodable image.", err)
		}
		v = imageValue(data, "")
	case d.URL != "":
		if v, err = download(ctx, m.c.client, d.URL, providerOpenAI, nil); err != nil {
			return nil, err
		}
	default:
		return nil, processor.Permanent(processor.CodeProviderError, "The openai provider returned no image.", nil)
	}
	if !strings.HasPrefix(v.ContentType, "image/") {
		return nil, processor.Permanent(processor.CodeProviderError, "The openai provider returned something that is not an image.", nil)
	}
	return map[string]processor.Value{"image": v}, nil
}

func (m *OpenAIImage) editRequest(model, prompt string, img processor.Value, p openAIImageParams) (*http.Request, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fields := map[string]string{"model": model, "prompt": prompt, "n": "1", "size": p.Size, "quality": p.Quality,
		"response_format": p.ResponseFormat}
	for k, v := range fields {
		if v != "" {
			if err := w.WriteField(k, v); err != nil {
				return nil, err
			}
		}
	}
	ct := cmp.Or(img.ContentType, http.DetectContentType(img.Data))
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="image"; filename="image`+extension(ct)+`"`)
	h.Set("Content-Type", ct)
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, err
	}
	if _, err := part.Write(img.Data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, m.c.cfg.base()+"/images/edits", &buf)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	return req, nil
}

func extension(ct string) string {
	switch ct {
	case "image/png":
		return ".png"
	case "image/webp":
		return ".webp"
	}
	return ".jpg"
}

// OpenAIChat is "openai.chat": text from a prompt through Chat Completions
// (POST /chat/completions), with an optional system message.
type OpenAIChat struct{ c *openAI }

type openAIChatParams struct {
	Model       string   `json:"model"`
	System      string   `json:"system"`
	Temperature *float64 `json:"temperature"`
	MaxTokens   int      `json:"max_tokens"`
}

func (OpenAIChat) InputPorts() []technique.Port {
	return []technique.Port{{Name: "text", Type: technique.TypeText}}
}
func (OpenAIChat) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "text", Type: technique.TypeText}}
}
func (m *OpenAIChat) Unavailable() string { return m.c.unavailable() }
func (m *OpenAIChat) Provider() string    { return providerOpenAI }
func (m *OpenAIChat) Limit() int          { return m.c.cfg.Concurrency }

func (OpenAIChat) CheckParams(params map[string]any) error {
	var p openAIChatParams
	if err := decode(params, &p); err != nil {
		return err
	}
	if p.Temperature != nil && (*p.Temperature < 0 || *p.Temperature > 2) {
		return fmt.Errorf("temperature: must be between 0 and 2")
	}
	if p.MaxTokens < 0 {
		return fmt.Errorf("max_tokens: must not be negative")
	}
	return nil
}

func (m *OpenAIChat) Run(ctx context.Context, call *processor.Call) (map[string]processor.Value, error) {
	var p openAIChatParams
	if err := decode(call.Params, &p); err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The step's parameters are invalid.", err)
	}
	text := strings.TrimSpace(call.Inputs["text"].Text)
	if text == "" {
		return nil, processor.Permanent(processor.CodeInputInvalid, "The text is empty.", nil)
	}
	var msgs []map[string]string
	if p.System != "" {
		msgs = append(msgs, map[string]string{"role": "system", "content": p.System})
	}
	msgs = append(msgs, map[string]string{"role": "user", "content": text})
	body := map[string]any{"model": cmp.Or(p.Model, m.c.cfg.ChatModel, OpenAIChatModelDefault), "messages": msgs}
	if p.Temperature != nil {
		body["temperature"] = *p.Temperature
	}
	if p.MaxTokens > 0 {
		body["max_tokens"] = p.MaxTokens
	}
	req, err := jsonRequest(http.MethodPost, m.c.cfg.base()+"/chat/completions", body)
	if err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The provider request could not be built.", err)
	}
	m.c.authorize(req)
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
				Refusal string `json:"refusal"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := call0(ctx, m.c.client, req, providerOpenAI, &out); err != nil {
		return nil, err
	}
	if len(out.Choices) == 0 {
		return nil, processor.Permanent(processor.CodeProviderError, "The openai provider returned no text.", nil)
	}
	c := out.Choices[0]
	if c.FinishReason == "content_filter" || c.Message.Refusal != "" {
		return nil, &processor.Error{Code: processor.CodeSafetyBlocked, Detail: c.Message.Refusal,
			Message: "The openai provider refused the request on content-safety grounds."}
	}
	content := strings.TrimSpace(c.Message.Content)
	if content == "" {
		return nil, processor.Permanent(processor.CodeProviderError, "The openai provider returned no text.", nil)
	}
	return map[string]processor.Value{"text": {Type: technique.TypeText, Text: content}}, nil
}
