// Package provider holds the models that run at remote AI providers and at
// local model servers speaking the same protocols: OpenAI-compatible APIs
// (images and chat completions) and fal's queue API. Each adapter is a
// processor (internal/processor) the engine drives: synchronous ones hold a
// provider slot while they call, queue-based ones (processor.Async) submit,
// let go of the worker, and are polled. Provider failures become run error
// codes here (provider_error, provider_timeout, safety_blocked), with the
// provider's own message kept for operators' logs.
package provider

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/technique"
)

// Limits on what florad reads from a provider.
const (
	maxResponseBytes = 64 << 20  // one JSON answer (base64 images included)
	maxOutputBytes   = 100 << 20 // one downloaded output file
	// retryAfterDefault is the wait after a 429 that says nothing about
	// when to come back.
	retryAfterDefault = 5 * time.Second
	retryAfterMax     = 10 * time.Minute
)

// call sends one request and decodes a 2xx JSON answer into out (when not
// nil); any other answer becomes a *processor.Error.
func call0(ctx context.Context, c *http.Client, req *http.Request, provider string, out any) error {
	req = req.WithContext(ctx)
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return &processor.Error{Code: processor.CodeProviderTimeout, Transient: true,
				Message: fmt.Sprintf("The %s provider did not answer in time.", provider), Err: err}
		}
		return processor.Transient(processor.CodeProviderError,
			fmt.Sprintf("The %s provider could not be reached.", provider), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return processor.Transient(processor.CodeProviderError,
			fmt.Sprintf("The %s provider's answer could not be read.", provider), err)
	}
	if len(body) > maxResponseBytes {
		return processor.Permanent(processor.CodeProviderError,
			fmt.Sprintf("The %s provider's answer is too large.", provider), nil)
	}
	if resp.StatusCode/100 != 2 {
		return statusError(provider, resp, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return processor.Permanent(processor.CodeProviderError,
			fmt.Sprintf("The %s provider answered something florad does not understand.", provider),
			fmt.Errorf("decoding %s answer: %w", provider, err))
	}
	return nil
}

// statusError classifies a provider's non-2xx answer: 429 and 5xx are
// worth another try (after Retry-After when it says), a refusal on content
// grounds is safety_blocked, anything else fails the step.
func statusError(provider string, resp *http.Response, body []byte) error {
	detail := providerMessage(body)
	err := fmt.Errorf("%s answered %d: %s", provider, resp.StatusCode, detail)
	pe := &processor.Error{Code: processor.CodeProviderError, Detail: detail, Err: err}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		pe.Transient = true
		pe.RetryAfter = retryAfter(resp.Header, time.Now())
		if pe.RetryAfter == 0 {
			pe.RetryAfter = retryAfterDefault
		}
		pe.Message = fmt.Sprintf("The %s provider is rate limiting florad.", provider)
	case resp.StatusCode >= 500:
		pe.Transient = true
		pe.RetryAfter = retryAfter(resp.Header, time.Now())
		pe.Message = fmt.Sprintf("The %s provider failed on its side.", provider)
		if resp.StatusCode == http.StatusGatewayTimeout {
			pe.Code = processor.CodeProviderTimeout
		}
	case isSafety(detail):
		pe.Code = processor.CodeSafetyBlocked
		pe.Message = fmt.Sprintf("The %s provider refused the request on content-safety grounds.", provider)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		pe.Message = fmt.Sprintf("The %s provider refused florad's credentials.", provider)
	default:
		pe.Message = fmt.Sprintf("The %s provider refused the request (HTTP %d).", provider, resp.StatusCode)
	}
	return pe
}

// isSafety recognises the providers' content-policy refusals.
func isSafety(detail string) bool {
	d := strings.ToLower(detail)
	for _, w := range []string{"content_policy", "content policy", "safety", "nsfw", "moderation"} {
		if strings.Contains(d, w) {
			return true
		}
	}
	return false
}

// providerMessage digs the human-readable message out of the usual error
// shapes ({"error":{"message"}}, {"detail"}, {"error":"..."}), else the
// start of the body.
func providerMessage(body []byte) string {
	var v struct {
		Error  json.RawMessage `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		for _, raw := range []json.RawMessage{v.Error, v.Detail} {
			if len(raw) == 0 {
				continue
			}
			var s string
			if json.Unmarshal(raw, &s) == nil {
				return s
			}
			var o struct {
				Message string `json:"message"`
				Code    string `json:"code"`
				Msg     string `json:"msg"`
			}
			if json.Unmarshal(raw, &o) == nil && (o.Message != "" || o.Code != "") {
				return strings.TrimSpace(o.Code + " " + o.Message)
			}
			var list []struct {
				Msg string `json:"msg"`
			}
			if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
				return list[0].Msg
			}
			return string(raw)
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}

// retryAfter reads Retry-After, in seconds or as an HTTP date; 0 if absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		d = time.Duration(n * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), retryAfterMax)
}

// jsonRequest builds a POST (or other) request with a JSON body.
func jsonRequest(method, url string, body any) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// download copies an output the provider serves at url (its URLs expire;
// florad keeps its own copy).
func download(ctx context.Context, c *http.Client, url, provider string, header http.Header) (processor.Value, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return processor.Value{}, processor.Permanent(processor.CodeProviderError,
			fmt.Sprintf("The %s provider returned an output URL florad cannot fetch.", provider), err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return processor.Value{}, ctx.Err()
		}
		return processor.Value{}, processor.Transient(processor.CodeProviderError,
			fmt.Sprintf("The %s provider's output could not be downloaded.", provider), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return processor.Value{}, statusError(provider, resp, body)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxOutputBytes+1))
	if err != nil {
		return processor.Value{}, processor.Transient(processor.CodeProviderError,
			fmt.Sprintf("The %s provider's output could not be downloaded.", provider), err)
	}
	if len(data) > maxOutputBytes {
		return processor.Value{}, processor.Permanent(processor.CodeProviderError,
			fmt.Sprintf("The %s provider's output is larger than %d MiB.", provider, maxOutputBytes>>20), nil)
	}
	return imageValue(data, resp.Header.Get("Content-Type")), nil
}

// imageValue types an image's bytes by their content, whatever the
// provider labelled them.
func imageValue(data []byte, declared string) processor.Value {
	ct := http.DetectContentType(data)
	if !strings.HasPrefix(ct, "image/") {
		if mt, _, err := mime.ParseMediaType(declared); err == nil && strings.HasPrefix(mt, "image/") {
			ct = mt
		}
	}
	return processor.Value{Type: technique.TypeImageURL, Data: data, ContentType: ct}
}

// dataURI encodes an input image for providers that take images by URL
// (fal accepts data URIs): florad's inputs are bytes by the time a step
// runs.
func dataURI(v processor.Value) string {
	ct := v.ContentType
	if ct == "" {
		ct = http.DetectContentType(v.Data)
	}
	return "data:" + ct + ";base64," + base64.StdEncoding.EncodeToString(v.Data)
}

func decodeDataURI(u string) (processor.Value, error) {
	_, rest, ok := strings.Cut(u, ",")
	if !ok || !strings.Contains(u[:len(u)-len(rest)], ";base64") {
		return processor.Value{}, processor.Permanent(processor.CodeProviderError, "The provider returned a malformed data URI.", nil)
	}
	data, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return processor.Value{}, processor.Permanent(processor.CodeProviderError, "The provider returned a malformed data URI.", err)
	}
	return imageValue(data, ""), nil
}
