package providerfake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ComfyUI is a fake ComfyUI server (its routes in server.py):
//
//	POST /upload/image   multipart image → {name, subfolder, type}
//	POST /prompt         {prompt, client_id} → {prompt_id, number, node_errors}
//	GET  /queue          {queue_running: [[number, id, ...]], queue_pending: [...]}
//	POST /queue          {"delete": [ids]}
//	GET  /history/{id}   {id: {outputs: {node: {images: [{filename, subfolder, type}]}}, status}}
//	GET  /view           ?filename=&subfolder=&type= → the image
//	POST /interrupt      stops the running prompt
//	GET  /ws?clientId=   progress messages {type: progress, data: {value, max, prompt_id}}
//
// One prompt runs at a time, for RunTime, in queue order. The image made
// is PNG(the text of the workflow's first CLIPTextEncode node), so a test
// sees its binding took effect (the lowest-numbered text node).
type ComfyUI struct {
	RunTime time.Duration
	// HoldForPolls makes a prompt leave the queue only once a GET /queue
	// has shown it pending, and end only once its progress has been sent
	// to a /ws client: a test then sees both however slowly it polls.
	HoldForPolls bool

	Prompts    atomic.Int64
	Uploads    atomic.Int64
	Interrupts atomic.Int64
	Server     *httptest.Server

	mu      sync.Mutex
	queue   []*comfyPrompt // pending, in order
	running *comfyPrompt
	history map[string]*comfyPrompt
	uploads map[string][]byte
	seq     int
	wake    chan struct{}
	done    chan struct{}
}

type comfyPrompt struct {
	id, clientID, text, image  string
	number                     int
	err                        string
	interrupted                bool
	started                    time.Time
	shownPending, sentProgress bool
}

// NewComfyUI starts the fake and its executor.
func NewComfyUI() *ComfyUI {
	c := &ComfyUI{history: map[string]*comfyPrompt{}, uploads: map[string][]byte{}, wake: make(chan struct{}, 1),
		done: make(chan struct{})}
	c.Server = httptest.NewServer(c)
	go c.execute()
	return c
}

// URL is the server's base URL.
func (c *ComfyUI) URL() string { return c.Server.URL }

// Close stops the fake.
func (c *ComfyUI) Close() {
	close(c.done)
	c.Server.CloseClientConnections()
	c.Server.Close()
}

// Uploaded returns the bytes of an uploaded image by name.
func (c *ComfyUI) Uploaded(name string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uploads[name]
}

func (c *ComfyUI) execute() {
	for {
		c.mu.Lock()
		if c.running == nil && len(c.queue) > 0 && (!c.HoldForPolls || c.queue[0].shownPending) {
			c.running, c.queue = c.queue[0], c.queue[1:]
			c.running.started = time.Now()
		}
		p := c.running
		c.mu.Unlock()
		if p == nil {
			select {
			case <-c.wake:
				continue
			case <-c.done:
				return
			}
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-c.done:
			return
		}
		c.mu.Lock()
		if p.interrupted || time.Since(p.started) >= c.RunTime && (!c.HoldForPolls || p.sentProgress) {
			if p.interrupted {
				p.err = "Processing interrupted"
			} else if wants(p.text, PromptFail) {
				p.err = "CUDA out of memory"
			}
			c.history[p.id] = p
			c.running = nil
		}
		c.mu.Unlock()
	}
}

func (c *ComfyUI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/ws":
		c.ws(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/upload/image":
		c.upload(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/prompt":
		c.prompt(w, r)
	case r.URL.Path == "/queue":
		c.queueRoute(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/history/"):
		c.historyRoute(w, strings.TrimPrefix(r.URL.Path, "/history/"))
	case r.Method == http.MethodGet && r.URL.Path == "/view":
		c.view(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/interrupt":
		c.Interrupts.Add(1)
		c.mu.Lock()
		if c.running != nil {
			c.running.interrupted = true
		}
		c.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

func (c *ComfyUI) upload(w http.ResponseWriter, r *http.Request) {
	f, hdr, err := r.FormFile("image")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	data, _ := io.ReadAll(f)
	_ = f.Close()
	c.Uploads.Add(1)
	c.mu.Lock()
	c.uploads[hdr.Filename] = data
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"name": hdr.Filename, "subfolder": "", "type": "input"})
}

func (c *ComfyUI) prompt(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Prompt   map[string]map[string]any `json:"prompt"`
		ClientID string                    `json:"client_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Prompt) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"type": "no_prompt",
			"message": "No prompt provided"}, "node_errors": map[string]any{}})
		return
	}
	p := &comfyPrompt{clientID: body.ClientID}
	textNode := ""
	for id, node := range body.Prompt {
		inputs, _ := node["inputs"].(map[string]any)
		switch node["class_type"] {
		case "CLIPTextEncode":
			// The lowest-numbered text node is taken as the positive
			// prompt, whatever the map's order.
			if textNode == "" || id < textNode {
				textNode = id
				p.text, _ = inputs["text"].(string)
			}
		case "LoadImage":
			p.image, _ = inputs["image"].(string)
		}
	}
	c.Prompts.Add(1)
	c.mu.Lock()
	c.seq++
	p.number, p.id = c.seq, fmt.Sprintf("00000000-0000-4000-8000-%012d", c.seq)
	c.queue = append(c.queue, p)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	writeJSON(w, http.StatusOK, map[string]any{"prompt_id": p.id, "number": p.number, "node_errors": map[string]any{}})
}

func (c *ComfyUI) queueRoute(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Method == http.MethodPost {
		var body struct {
			Delete []string `json:"delete"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		for _, id := range body.Delete {
			for i, p := range c.queue {
				if p.id == id {
					c.queue = append(c.queue[:i:i], c.queue[i+1:]...)
					break
				}
			}
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	running, pending := [][]any{}, [][]any{}
	if c.running != nil {
		running = append(running, []any{c.running.number, c.running.id, map[string]any{}, map[string]any{}, []string{"9"}})
	}
	for _, p := range c.queue {
		p.shownPending = true
		pending = append(pending, []any{p.number, p.id, map[string]any{}, map[string]any{}, []string{"9"}})
	}
	if len(pending) > 0 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue_running": running, "queue_pending": pending})
}

func (c *ComfyUI) historyRoute(w http.ResponseWriter, id string) {
	c.mu.Lock()
	p := c.history[id]
	c.mu.Unlock()
	if p == nil {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	entry := map[string]any{"prompt": []any{p.number, p.id}, "outputs": map[string]any{}}
	if p.err != "" {
		entry["status"] = map[string]any{"status_str": "error", "completed": false, "messages": []any{
			[]any{"execution_start", map[string]any{"prompt_id": p.id}},
			[]any{"execution_error", map[string]any{"prompt_id": p.id, "exception_message": p.err}}}}
	} else {
		entry["status"] = map[string]any{"status_str": "success", "completed": true, "messages": []any{}}
		entry["outputs"] = map[string]any{"9": map[string]any{"images": []any{
			map[string]any{"filename": "ComfyUI_" + p.id + ".png", "subfolder": "", "type": "output"}}}}
	}
	writeJSON(w, http.StatusOK, map[string]any{p.id: entry})
}

func (c *ComfyUI) view(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("filename")
	id := strings.TrimSuffix(strings.TrimPrefix(name, "ComfyUI_"), ".png")
	c.mu.Lock()
	p := c.history[id]
	c.mu.Unlock()
	if p == nil || r.URL.Query().Get("type") != "output" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(PNG(p.text))
}

// ws sends the client's running prompt's progress every 50 ms.
func (c *ComfyUI) ws(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer func() { _ = conn.CloseNow() }()
	clientID := r.URL.Query().Get("clientId")
	ctx := conn.CloseRead(r.Context())
	_ = writeWS(ctx, conn, map[string]any{"type": "status", "data": map[string]any{"sid": clientID}})
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-time.After(50 * time.Millisecond):
		}
		c.mu.Lock()
		p := c.running
		var msg map[string]any
		if p != nil && p.clientID == clientID && c.RunTime > 0 {
			// Like ComfyUI's sampler hook, counting from step 1.
			steps := 20
			done := min(1+int(float64(steps)*float64(time.Since(p.started))/float64(c.RunTime)), steps)
			msg = map[string]any{"type": "progress", "data": map[string]any{"value": done, "max": steps,
				"prompt_id": p.id, "node": "3"}}
		}
		c.mu.Unlock()
		if msg != nil {
			if err := writeWS(ctx, conn, msg); err != nil {
				return
			}
			c.mu.Lock()
			p.sentProgress = true
			c.mu.Unlock()
		}
	}
}

func writeWS(ctx context.Context, conn *websocket.Conn, v any) error {
	b, _ := json.Marshal(v)
	return conn.Write(ctx, websocket.MessageText, b)
}
