package provider

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/technique"
)

// ProviderReplicate names Replicate's requests (and its webhooks).
const ProviderReplicate = "replicate"

type replicateClient struct {
	cfg    ReplicateConfig
	client *http.Client
}

// ReplicatePredict is "replicate.predict": a Replicate model through its
// predictions API. Submit is POST /v1/models/{owner}/{name}/predictions (or
// POST /v1/predictions with a version), with florad's webhook for the
// completed event when a public URL and a signing secret are configured:
// the webhook wakes the waiting run at once, and polls (GET
// /v1/predictions/{id}) remain the fallback. Cancel is POST
// /v1/predictions/{id}/cancel.
type ReplicatePredict struct{ c *replicateClient }

type replicateParams struct {
	// Model is "owner/name" of an official model; Version, a model
	// version id, is the alternative.
	Model     string         `json:"model"`
	Version   string         `json:"version"`
	Arguments map[string]any `json:"arguments"`
	// ImageField names the input the image goes in. Defaults to image.
	ImageField string `json:"image_field"`
}

type replicateHandle struct {
	ID string `json:"id"`
}

type replicatePrediction struct {
	ID     string          `json:"id"`
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  json.RawMessage `json:"error"`
	Logs   string          `json:"logs"`
}

func (ReplicatePredict) InputPorts() []technique.Port {
	return []technique.Port{{Name: "prompt", Type: technique.TypeText},
		{Name: "image", Type: technique.TypeImageURL, Optional: true}}
}
func (ReplicatePredict) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "image", Type: technique.TypeImageURL}}
}
func (m *ReplicatePredict) Unavailable() string {
	if m.c.cfg.Token != "" {
		return ""
	}
	return "The Replicate provider is not configured on this server (set FLORA_REPLICATE_API_TOKEN)."
}
func (m *ReplicatePredict) Provider() string { return ProviderReplicate }
func (m *ReplicatePredict) Limit() int       { return m.c.cfg.Concurrency }

var replicateModel = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*$`)

func (ReplicatePredict) CheckParams(params map[string]any) error {
	var p replicateParams
	if err := decode(params, &p); err != nil {
		return err
	}
	switch {
	case (p.Model == "") == (p.Version == ""):
		return errors.New("model or version: exactly one is required")
	case p.Model != "" && !replicateModel.MatchString(p.Model):
		return errors.New("model: must be owner/name, such as black-forest-labs/flux-schnell")
	case p.Version != "" && strings.ContainsAny(p.Version, "/?#"):
		return errors.New("version: must be a model version id")
	}
	return nil
}

func (m *ReplicatePredict) Run(context.Context, *processor.Call) (map[string]processor.Value, error) {
	return nil, processor.Permanent(processor.CodeInternalError, "replicate.predict runs only as an asynchronous step.", nil)
}

func (m *ReplicatePredict) request(method, path string, body any) (*http.Request, error) {
	req, err := jsonRequest(method, m.c.cfg.base()+path, body)
	if err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The provider request could not be built.", err)
	}
	req.Header.Set("Authorization", "Bearer "+m.c.cfg.Token)
	return req, nil
}

func (m *ReplicatePredict) Submit(ctx context.Context, call *processor.Call) (*processor.Submission, error) {
	var p replicateParams
	if err := decode(call.Params, &p); err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The step's parameters are invalid.", err)
	}
	input := map[string]any{}
	for k, v := range p.Arguments {
		input[k] = v
	}
	if prompt := strings.TrimSpace(call.Inputs["prompt"].Text); prompt != "" {
		input["prompt"] = prompt
	}
	if img := call.Inputs["image"]; len(img.Data) > 0 {
		input[cmpOr(p.ImageField, "image")] = dataURI(img)
	}
	body := map[string]any{"input": input}
	path := "/v1/models/" + p.Model + "/predictions"
	if p.Version != "" {
		path, body["version"] = "/v1/predictions", p.Version
	}
	if m.c.cfg.WebhookURL != "" {
		body["webhook"] = m.c.cfg.WebhookURL
		body["webhook_events_filter"] = []string{"completed"}
	}
	req, err := m.request(http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	var pr replicatePrediction
	if err := call0(ctx, m.c.client, req, ProviderReplicate, &pr); err != nil {
		return nil, err
	}
	if pr.ID == "" {
		return nil, processor.Permanent(processor.CodeProviderError, "The replicate provider returned no prediction id.", nil)
	}
	h, err := json.Marshal(replicateHandle{ID: pr.ID})
	if err != nil {
		return nil, err
	}
	return &processor.Submission{RequestID: pr.ID, Handle: string(h)}, nil
}

var logPercent = regexp.MustCompile(`(\d{1,3})%`)

func (m *ReplicatePredict) Poll(ctx context.Context, raw string, _ *processor.Call) (*processor.Poll, error) {
	var h replicateHandle
	if err := json.Unmarshal([]byte(raw), &h); err != nil || h.ID == "" {
		return nil, processor.Permanent(processor.CodeInternalError, "The step's provider request record is damaged.", err)
	}
	req, err := m.request(http.MethodGet, "/v1/predictions/"+url.PathEscape(h.ID), nil)
	if err != nil {
		return nil, err
	}
	var pr replicatePrediction
	if err := call0(ctx, m.c.client, req, ProviderReplicate, &pr); err != nil {
		return nil, err
	}
	switch pr.Status {
	case "starting", "processing":
		progress := -1.0
		if all := logPercent.FindAllStringSubmatch(pr.Logs, -1); len(all) > 0 {
			if n, err := strconv.Atoi(all[len(all)-1][1]); err == nil && n <= 100 {
				progress = float64(n) / 100
			}
		}
		return &processor.Poll{Status: strings.ToUpper(pr.Status), QueuePosition: -1, Progress: progress}, nil
	case "succeeded":
	case "canceled":
		return nil, processor.Permanent(processor.CodeProviderError, "The replicate prediction was canceled at the provider.", nil)
	case "failed":
		detail := providerMessage(append([]byte(`{"error":`), append(pr.Error, '}')...))
		code, msg := processor.CodeProviderError, "The replicate model failed on this request."
		if isSafety(detail) {
			code, msg = processor.CodeSafetyBlocked, "The replicate provider refused the request on content-safety grounds."
		}
		return nil, &processor.Error{Code: code, Message: msg, Detail: detail, Err: fmt.Errorf("replicate: %s", detail)}
	default:
		return nil, processor.Permanent(processor.CodeProviderError,
			fmt.Sprintf("The replicate provider reported an unknown status %q.", pr.Status), nil)
	}
	u := firstURL(pr.Output)
	if u == "" {
		return nil, processor.Permanent(processor.CodeProviderError, "The replicate provider returned no image.", nil)
	}
	var v processor.Value
	if strings.HasPrefix(u, "data:") {
		v, err = decodeDataURI(u)
	} else {
		v, err = download(ctx, m.c.client, u, ProviderReplicate, nil)
	}
	if err != nil {
		return nil, err
	}
	return &processor.Poll{Done: true, Outputs: map[string]processor.Value{"image": v}}, nil
}

// firstURL reads a prediction's output: a URL, or a list whose first item
// is one.
func firstURL(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		return list[0]
	}
	return ""
}

func (m *ReplicatePredict) Cancel(ctx context.Context, raw string) error {
	var h replicateHandle
	if err := json.Unmarshal([]byte(raw), &h); err != nil || h.ID == "" {
		return processor.Permanent(processor.CodeInternalError, "The step's provider request record is damaged.", err)
	}
	req, err := m.request(http.MethodPost, "/v1/predictions/"+url.PathEscape(h.ID)+"/cancel", nil)
	if err != nil {
		return err
	}
	err = call0(ctx, m.c.client, req, ProviderReplicate, nil)
	var pe *processor.Error
	if errors.As(err, &pe) && !pe.Transient {
		return nil // finished already
	}
	return err
}

// Errors of VerifyReplicateWebhook.
var (
	ErrWebhookSignature = errors.New("webhook signature does not verify")
	ErrWebhookStale     = errors.New("webhook timestamp outside the tolerance")
)

// ReplicateWebhookTolerance is how far a webhook's timestamp may be from
// now, against replays.
const ReplicateWebhookTolerance = 5 * time.Minute

// VerifyReplicateWebhook checks a Replicate webhook as Replicate documents
// it (the Standard Webhooks scheme): webhook-signature carries one or more
// "v1,<base64 HMAC-SHA256>" of "<webhook-id>.<webhook-timestamp>.<body>",
// keyed with the base64 part of the whsec_ signing secret. It returns the
// prediction's id.
func VerifyReplicateWebhook(secret string, h http.Header, body []byte, now time.Time) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return "", fmt.Errorf("the Replicate webhook secret is not a whsec_ secret: %w", ErrWebhookSignature)
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil {
		return "", ErrWebhookSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > ReplicateWebhookTolerance || d < -ReplicateWebhookTolerance {
		return "", ErrWebhookStale
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	ok := false
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, b64, found := strings.Cut(sig, ",")
		if !found || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return "", ErrWebhookSignature
	}
	var pr replicatePrediction
	if err := json.Unmarshal(body, &pr); err != nil || pr.ID == "" {
		return "", fmt.Errorf("the webhook carries no prediction: %w", ErrWebhookSignature)
	}
	return pr.ID, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
