package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/technique"
)

const providerFal = "fal"

func decode(params map[string]any, dst any) error { return processor.DecodeParams(params, dst) }

type falClient struct {
	cfg    FalConfig
	client *http.Client
}

// FalQueue is "fal.queue": any fal model app through fal's queue API.
// Submit is POST {queue}/{app} (Authorization: Key ...), answered with the
// request id and its status, response and cancel URLs; the step then
// polls GET status (IN_QUEUE with queue_position, IN_PROGRESS, COMPLETED),
// reads the result (images[0].url or image.url, downloaded at once) and can
// be canceled with PUT cancel.
type FalQueue struct{ c *falClient }

type falParams struct {
	// App is the fal model, such as "fal-ai/flux/schnell".
	App string `json:"app"`
	// Arguments are sent with the prompt (image_size, num_inference_steps,
	// seed, ...).
	Arguments map[string]any `json:"arguments"`
	// ImageField names the argument the input image goes in. Defaults to
	// image_url.
	ImageField string `json:"image_field"`
}

// falHandle is what florad records of a submitted request.
type falHandle struct {
	RequestID   string `json:"request_id"`
	StatusURL   string `json:"status_url"`
	ResponseURL string `json:"response_url"`
	CancelURL   string `json:"cancel_url"`
}

func (FalQueue) InputPorts() []technique.Port {
	return []technique.Port{{Name: "prompt", Type: technique.TypeText},
		{Name: "image", Type: technique.TypeImageURL, Optional: true}}
}
func (FalQueue) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "image", Type: technique.TypeImageURL}}
}
func (m *FalQueue) Unavailable() string {
	if m.c.cfg.Key != "" {
		return ""
	}
	return "The fal provider is not configured on this server (set FLORA_FAL_KEY)."
}
func (m *FalQueue) Provider() string { return providerFal }
func (m *FalQueue) Limit() int       { return m.c.cfg.Concurrency }

func (FalQueue) CheckParams(params map[string]any) error {
	var p falParams
	if err := decode(params, &p); err != nil {
		return err
	}
	if p.App == "" {
		return errors.New("app: required (a fal model, such as fal-ai/flux/schnell)")
	}
	if strings.Contains(p.App, "..") || strings.ContainsAny(p.App, "?#") || strings.HasPrefix(p.App, "/") {
		return errors.New("app: must be a fal model path, such as fal-ai/flux/schnell")
	}
	return nil
}

// Run is never called: the engine drives async models through Submit and
// Poll.
func (m *FalQueue) Run(context.Context, *processor.Call) (map[string]processor.Value, error) {
	return nil, processor.Permanent(processor.CodeInternalError, "fal.queue runs only as an asynchronous step.", nil)
}

func (m *FalQueue) authorize(req *http.Request) { req.Header.Set("Authorization", "Key "+m.c.cfg.Key) }

func (m *FalQueue) Submit(ctx context.Context, call *processor.Call) (*processor.Submission, error) {
	var p falParams
	if err := decode(call.Params, &p); err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The step's parameters are invalid.", err)
	}
	body := map[string]any{}
	for k, v := range p.Arguments {
		body[k] = v
	}
	if prompt := strings.TrimSpace(call.Inputs["prompt"].Text); prompt != "" {
		body["prompt"] = prompt
	}
	if img := call.Inputs["image"]; len(img.Data) > 0 {
		field := p.ImageField
		if field == "" {
			field = "image_url"
		}
		body[field] = dataURI(img)
	}
	req, err := jsonRequest(http.MethodPost, m.c.cfg.base()+"/"+p.App, body)
	if err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The provider request could not be built.", err)
	}
	m.authorize(req)
	var h falHandle
	if err := call0(ctx, m.c.client, req, providerFal, &h); err != nil {
		return nil, err
	}
	if h.RequestID == "" {
		return nil, processor.Permanent(processor.CodeProviderError, "The fal provider returned no request id.", nil)
	}
	// The URLs fal answers with are used as given, but only on the queue's
	// own host: the key is never sent elsewhere.
	base := m.c.cfg.base() + "/" + p.App + "/requests/" + url.PathEscape(h.RequestID)
	for _, u := range []*string{&h.StatusURL, &h.ResponseURL, &h.CancelURL} {
		if *u != "" && !m.sameHost(*u) {
			*u = ""
		}
	}
	if h.StatusURL == "" {
		h.StatusURL = base + "/status"
	}
	if h.ResponseURL == "" {
		h.ResponseURL = base
	}
	if h.CancelURL == "" {
		h.CancelURL = base + "/cancel"
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	return &processor.Submission{RequestID: h.RequestID, Handle: string(b)}, nil
}

func (m *FalQueue) sameHost(raw string) bool {
	u, err := url.Parse(raw)
	b, berr := url.Parse(m.c.cfg.base())
	return err == nil && berr == nil && u.Scheme == b.Scheme && u.Host == b.Host
}

func (m *FalQueue) handle(raw string) (falHandle, error) {
	var h falHandle
	if err := json.Unmarshal([]byte(raw), &h); err != nil || h.RequestID == "" {
		return h, processor.Permanent(processor.CodeInternalError, "The step's provider request record is damaged.",
			fmt.Errorf("fal handle %q: %v", raw, err))
	}
	return h, nil
}

func (m *FalQueue) Poll(ctx context.Context, raw string, _ *processor.Call) (*processor.Poll, error) {
	h, err := m.handle(raw)
	if err != nil {
		return nil, err
	}
	req, err := jsonRequest(http.MethodGet, h.StatusURL, nil)
	if err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The provider request could not be built.", err)
	}
	m.authorize(req)
	var st struct {
		Status        string `json:"status"`
		QueuePosition *int   `json:"queue_position"`
		Error         string `json:"error"`
	}
	if err := call0(ctx, m.c.client, req, providerFal, &st); err != nil {
		return nil, err
	}
	switch st.Status {
	case "IN_QUEUE", "IN_PROGRESS":
		pos := -1
		if st.QueuePosition != nil {
			pos = *st.QueuePosition
		}
		return &processor.Poll{Status: st.Status, QueuePosition: pos, Progress: -1}, nil
	case "COMPLETED":
	default:
		return nil, processor.Permanent(processor.CodeProviderError,
			fmt.Sprintf("The fal provider reported an unknown status %q.", st.Status), nil)
	}
	if st.Error != "" {
		return nil, m.failure(st.Error)
	}
	req, err = jsonRequest(http.MethodGet, h.ResponseURL, nil)
	if err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The provider request could not be built.", err)
	}
	m.authorize(req)
	var res struct {
		Images []struct {
			URL string `json:"url"`
		} `json:"images"`
		Image *struct {
			URL string `json:"url"`
		} `json:"image"`
		HasNSFW []bool `json:"has_nsfw_concepts"`
	}
	if err := call0(ctx, m.c.client, req, providerFal, &res); err != nil {
		var pe *processor.Error
		if errors.As(err, &pe) && !pe.Transient {
			// A finished request whose result is an error: the model
			// failed on this input.
			return nil, m.failure(pe.Detail)
		}
		return nil, err
	}
	if len(res.HasNSFW) > 0 && res.HasNSFW[0] {
		return nil, &processor.Error{Code: processor.CodeSafetyBlocked, Detail: "has_nsfw_concepts",
			Message: "The fal provider flagged the result as unsafe."}
	}
	u := ""
	if len(res.Images) > 0 {
		u = res.Images[0].URL
	} else if res.Image != nil {
		u = res.Image.URL
	}
	if u == "" {
		return nil, processor.Permanent(processor.CodeProviderError, "The fal provider returned no image.", nil)
	}
	var v processor.Value
	if strings.HasPrefix(u, "data:") {
		v, err = decodeDataURI(u)
	} else {
		v, err = download(ctx, m.c.client, u, providerFal, nil)
	}
	if err != nil {
		return nil, err
	}
	return &processor.Poll{Done: true, Outputs: map[string]processor.Value{"image": v}}, nil
}

func (m *FalQueue) failure(detail string) error {
	code := processor.CodeProviderError
	msg := "The fal model failed on this request."
	if isSafety(detail) {
		code, msg = processor.CodeSafetyBlocked, "The fal provider refused the request on content-safety grounds."
	}
	return &processor.Error{Code: code, Message: msg, Detail: detail, Err: fmt.Errorf("fal: %s", detail)}
}

// Cancel asks fal to drop the request; one that already finished cannot be
// canceled, which is not an error.
func (m *FalQueue) Cancel(ctx context.Context, raw string) error {
	h, err := m.handle(raw)
	if err != nil {
		return err
	}
	req, err := jsonRequest(http.MethodPut, h.CancelURL, nil)
	if err != nil {
		return err
	}
	m.authorize(req)
	err = call0(ctx, m.c.client, req, providerFal, nil)
	var pe *processor.Error
	if errors.As(err, &pe) && !pe.Transient {
		return nil
	}
	return err
}
