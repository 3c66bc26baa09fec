package provider

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/technique"
)

// ProviderComfyUI names ComfyUI's requests.
const ProviderComfyUI = "comfyui"

// ComfyUIConfig configures the ComfyUI adapter: a ComfyUI server, usually
// on the same machine or network.
type ComfyUIConfig struct {
	// URL is the server's base, such as http://127.0.0.1:8188.
	URL string
	// Concurrency caps the prompts in flight at once across the
	// deployment; 0 means none (ComfyUI queues them itself).
	Concurrency int
}

type comfyClient struct {
	cfg    ComfyUIConfig
	client *http.Client
}

// ComfyWorkflow is "comfyui.workflow": a ComfyUI workflow, in ComfyUI's API
// format, carried in the technique, with bindings naming where the step's
// inputs go. Submit uploads the input image (POST /upload/image) and queues
// the workflow (POST /prompt); polls read GET /history/{id} (done: the
// first image of the outputs, fetched from /view), else GET /queue for
// the place in line, and listen on /ws for a moment for the sampler's
// progress; Cancel takes the prompt off the queue and interrupts it
// (POST /queue {"delete"}, POST /interrupt).
type ComfyWorkflow struct{ c *comfyClient }

type comfyParams struct {
	// Workflow is the API-format prompt: node id → {class_type, inputs}.
	Workflow map[string]any `json:"workflow"`
	// Bindings map an input port (prompt, image) to "<node>.inputs.<name>".
	Bindings map[string]string `json:"bindings"`
	// OutputNode, when set, is the node whose first image is the output;
	// otherwise the first image of any output node.
	OutputNode string `json:"output_node"`
}

type comfyHandle struct {
	PromptID string `json:"prompt_id"`
	ClientID string `json:"client_id"`
}

func (ComfyWorkflow) InputPorts() []technique.Port {
	return []technique.Port{{Name: "prompt", Type: technique.TypeText, Optional: true},
		{Name: "image", Type: technique.TypeImageURL, Optional: true}}
}
func (ComfyWorkflow) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "image", Type: technique.TypeImageURL}}
}
func (m *ComfyWorkflow) Unavailable() string {
	if m.c.cfg.URL != "" {
		return ""
	}
	return "The ComfyUI provider is not configured on this server (set FLORA_COMFYUI_URL)."
}
func (m *ComfyWorkflow) Provider() string { return ProviderComfyUI }
func (m *ComfyWorkflow) Limit() int       { return m.c.cfg.Concurrency }

func (ComfyWorkflow) CheckParams(params map[string]any) error {
	var p comfyParams
	if err := decode(params, &p); err != nil {
		return err
	}
	if len(p.Workflow) == 0 {
		return errors.New("workflow: required (a ComfyUI workflow in API format)")
	}
	for port, target := range p.Bindings {
		if port != "prompt" && port != "image" {
			return fmt.Errorf("bindings: %q is not an input port (prompt, image)", port)
		}
		if _, err := bindingNode(p.Workflow, target); err != nil {
			return fmt.Errorf("bindings.%s: %w", port, err)
		}
	}
	if p.OutputNode != "" {
		if _, ok := p.Workflow[p.OutputNode]; !ok {
			return fmt.Errorf("output_node: the workflow has no node %q", p.OutputNode)
		}
	}
	return nil
}

// bindingNode resolves "<node>.inputs.<name>" to the node's inputs map and
// checks the shape.
func bindingNode(workflow map[string]any, target string) (map[string]any, error) {
	node, rest, ok := strings.Cut(target, ".inputs.")
	if !ok || node == "" || rest == "" || strings.Contains(rest, ".") {
		return nil, fmt.Errorf("%q must be <node>.inputs.<name>", target)
	}
	n, _ := workflow[node].(map[string]any)
	if n == nil {
		return nil, fmt.Errorf("the workflow has no node %q", node)
	}
	inputs, _ := n["inputs"].(map[string]any)
	if inputs == nil {
		inputs = map[string]any{}
		n["inputs"] = inputs
	}
	return inputs, nil
}

func (m *ComfyWorkflow) Run(context.Context, *processor.Call) (map[string]processor.Value, error) {
	return nil, processor.Permanent(processor.CodeInternalError, "comfyui.workflow runs only as an asynchronous step.", nil)
}

func (m *ComfyWorkflow) url(path string) string { return strings.TrimRight(m.c.cfg.URL, "/") + path }

func (m *ComfyWorkflow) Submit(ctx context.Context, call *processor.Call) (*processor.Submission, error) {
	var p comfyParams
	if err := decode(call.Params, &p); err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The step's parameters are invalid.", err)
	}
	// A deep copy: the technique's own params stay untouched.
	raw, _ := json.Marshal(p.Workflow)
	var wf map[string]any
	if err := json.Unmarshal(raw, &wf); err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The step's workflow is invalid.", err)
	}
	for port, target := range p.Bindings {
		inputs, err := bindingNode(wf, target)
		if err != nil {
			return nil, processor.Permanent(processor.CodeInternalError, "The step's bindings are invalid.", err)
		}
		name := target[strings.LastIndex(target, ".")+1:]
		switch port {
		case "prompt":
			inputs[name] = call.Inputs["prompt"].Text
		case "image":
			img := call.Inputs["image"]
			if len(img.Data) == 0 {
				continue
			}
			uploaded, err := m.upload(ctx, img)
			if err != nil {
				return nil, err
			}
			inputs[name] = uploaded
		}
	}
	clientID := randomID()
	req, err := jsonRequest(http.MethodPost, m.url("/prompt"), map[string]any{"prompt": wf, "client_id": clientID})
	if err != nil {
		return nil, processor.Permanent(processor.CodeInternalError, "The provider request could not be built.", err)
	}
	var out struct {
		PromptID   string         `json:"prompt_id"`
		NodeErrors map[string]any `json:"node_errors"`
	}
	if err := call0(ctx, m.c.client, req, ProviderComfyUI, &out); err != nil {
		return nil, err
	}
	if out.PromptID == "" {
		return nil, processor.Permanent(processor.CodeProviderError, "The comfyui server returned no prompt id.", nil)
	}
	h, _ := json.Marshal(comfyHandle{PromptID: out.PromptID, ClientID: clientID})
	return &processor.Submission{RequestID: out.PromptID, Handle: string(h)}, nil
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// upload sends the input image to POST /upload/image and returns the name
// the workflow's LoadImage node reads it by.
func (m *ComfyWorkflow) upload(ctx context.Context, img processor.Value) (string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	ct := cmp.Or(img.ContentType, http.DetectContentType(img.Data))
	part, err := w.CreateFormFile("image", "florad-"+randomID()+extension(ct))
	if err == nil {
		_, err = part.Write(img.Data)
	}
	if err == nil {
		err = w.WriteField("overwrite", "true")
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return "", processor.Permanent(processor.CodeInternalError, "The provider request could not be built.", err)
	}
	req, err := http.NewRequest(http.MethodPost, m.url("/upload/image"), &buf)
	if err != nil {
		return "", processor.Permanent(processor.CodeInternalError, "The provider request could not be built.", err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	var out struct {
		Name      string `json:"name"`
		Subfolder string `json:"subfolder"`
	}
	if err := call0(ctx, m.c.client, req, ProviderComfyUI, &out); err != nil {
		return "", err
	}
	if out.Subfolder != "" {
		return out.Subfolder + "/" + out.Name, nil
	}
	return out.Name, nil
}

func (m *ComfyWorkflow) handle(raw string) (comfyHandle, error) {
	var h comfyHandle
	if err := json.Unmarshal([]byte(raw), &h); err != nil || h.PromptID == "" {
		return h, processor.Permanent(processor.CodeInternalError, "The step's provider request record is damaged.", err)
	}
	return h, nil
}

type comfyImage struct {
	Filename  string `json:"filename"`
	Subfolder string `json:"subfolder"`
	Type      string `json:"type"`
}

func (m *ComfyWorkflow) Poll(ctx context.Context, raw string, call *processor.Call) (*processor.Poll, error) {
	h, err := m.handle(raw)
	if err != nil {
		return nil, err
	}
	req, err := jsonRequest(http.MethodGet, m.url("/history/"+url.PathEscape(h.PromptID)), nil)
	if err != nil {
		return nil, err
	}
	var hist map[string]struct {
		Outputs map[string]struct {
			Images []comfyImage `json:"images"`
		} `json:"outputs"`
		Status struct {
			StatusStr string  `json:"status_str"`
			Completed bool    `json:"completed"`
			Messages  [][]any `json:"messages"`
		} `json:"status"`
	}
	if err := call0(ctx, m.c.client, req, ProviderComfyUI, &hist); err != nil {
		return nil, err
	}
	entry, done := hist[h.PromptID]
	if !done {
		return m.pending(ctx, h)
	}
	if entry.Status.StatusStr == "error" {
		detail := "execution error"
		for _, msg := range entry.Status.Messages {
			if len(msg) == 2 && msg[0] == "execution_error" {
				if d, ok := msg[1].(map[string]any); ok {
					detail = fmt.Sprint(d["exception_message"])
				}
			}
		}
		return nil, &processor.Error{Code: processor.CodeProviderError, Message: "The comfyui workflow failed.",
			Detail: detail, Err: fmt.Errorf("comfyui: %s", detail)}
	}
	var p comfyParams
	_ = decode(call.Params, &p)
	var img *comfyImage
	for node, out := range entry.Outputs {
		if len(out.Images) > 0 && (p.OutputNode == "" || node == p.OutputNode) {
			img = &out.Images[0]
			break
		}
	}
	if img == nil {
		return nil, processor.Permanent(processor.CodeProviderError, "The comfyui workflow produced no image.", nil)
	}
	q := url.Values{"filename": {img.Filename}, "subfolder": {img.Subfolder}, "type": {img.Type}}
	v, err := download(ctx, m.c.client, m.url("/view?"+q.Encode()), ProviderComfyUI, nil)
	if err != nil {
		return nil, err
	}
	return &processor.Poll{Done: true, Outputs: map[string]processor.Value{"image": v}}, nil
}

// pending reports a prompt not finished: its place in GET /queue, and,
// while it runs, the sampler's progress heard on /ws for a moment.
func (m *ComfyWorkflow) pending(ctx context.Context, h comfyHandle) (*processor.Poll, error) {
	req, err := jsonRequest(http.MethodGet, m.url("/queue"), nil)
	if err != nil {
		return nil, err
	}
	var q struct {
		Running [][]any `json:"queue_running"`
		Pending [][]any `json:"queue_pending"`
	}
	if err := call0(ctx, m.c.client, req, ProviderComfyUI, &q); err != nil {
		return nil, err
	}
	for _, item := range q.Running {
		if len(item) > 1 && item[1] == h.PromptID {
			return &processor.Poll{Status: "IN_PROGRESS", QueuePosition: -1, Progress: m.progress(ctx, h)}, nil
		}
	}
	// Pending items carry their queue number first; their place is how many
	// pending ones have a lower number.
	var mine float64 = -1
	for _, item := range q.Pending {
		if len(item) > 1 && item[1] == h.PromptID {
			mine, _ = item[0].(float64)
		}
	}
	if mine < 0 {
		// Neither queued nor running nor in the history: finished between
		// the two reads; the next poll reads its history.
		return &processor.Poll{Status: "IN_PROGRESS", QueuePosition: -1, Progress: -1, After: 100 * time.Millisecond}, nil
	}
	pos := 0
	for _, item := range q.Pending {
		if n, _ := item[0].(float64); n < mine {
			pos++
		}
	}
	return &processor.Poll{Status: "IN_QUEUE", QueuePosition: pos, Progress: -1}, nil
}

// progressListen is how long a poll listens on /ws for progress.
const progressListen = 700 * time.Millisecond

// progress listens on /ws with the prompt's client id (ComfyUI sends a
// client's progress to the socket of that id) for the first progress
// message of the prompt; -1 when none comes.
func (m *ComfyWorkflow) progress(ctx context.Context, h comfyHandle) float64 {
	ctx, cancel := context.WithTimeout(ctx, progressListen)
	defer cancel()
	u := strings.Replace(m.url("/ws?clientId="+url.QueryEscape(h.ClientID)), "http", "ws", 1)
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: m.c.client})
	if err != nil {
		return -1
	}
	defer func() { _ = conn.CloseNow() }()
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return -1
		}
		if typ != websocket.MessageText {
			continue // previews
		}
		var msg struct {
			Type string `json:"type"`
			Data struct {
				Value    float64 `json:"value"`
				Max      float64 `json:"max"`
				PromptID string  `json:"prompt_id"`
			} `json:"data"`
		}
		if json.Unmarshal(data, &msg) == nil && msg.Type == "progress" && msg.Data.Max > 0 &&
			(msg.Data.PromptID == "" || msg.Data.PromptID == h.PromptID) {
			return msg.Data.Value / msg.Data.Max
		}
	}
}

// Cancel takes the prompt off the queue (POST /queue {"delete"}), and
// interrupts it (POST /interrupt) if it is the one running.
func (m *ComfyWorkflow) Cancel(ctx context.Context, raw string) error {
	h, err := m.handle(raw)
	if err != nil {
		return err
	}
	req, err := jsonRequest(http.MethodPost, m.url("/queue"), map[string]any{"delete": []string{h.PromptID}})
	if err != nil {
		return err
	}
	if err := call0(ctx, m.c.client, req, ProviderComfyUI, nil); err != nil {
		return err
	}
	// /interrupt stops whatever runs now (older servers ignore prompt_id):
	// only when it is this prompt.
	req, err = jsonRequest(http.MethodGet, m.url("/queue"), nil)
	if err != nil {
		return err
	}
	var q struct {
		Running [][]any `json:"queue_running"`
	}
	if err := call0(ctx, m.c.client, req, ProviderComfyUI, &q); err != nil {
		return err
	}
	for _, item := range q.Running {
		if len(item) > 1 && item[1] == h.PromptID {
			req, err = jsonRequest(http.MethodPost, m.url("/interrupt"), map[string]any{"prompt_id": h.PromptID})
			if err != nil {
				return err
			}
			return call0(ctx, m.c.client, req, ProviderComfyUI, nil)
		}
	}
	return nil
}
