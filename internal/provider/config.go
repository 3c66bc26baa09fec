package provider

import (
	"cmp"
	"net/http"
	"strings"
	"time"

	"github.com/florad/florad/internal/processor"
)

// Config says which providers this deployment can reach. A provider left
// unconfigured still has its models registered, unavailable with the
// reason, so techniques using them are listed available: false and refuse
// runs.
type Config struct {
	OpenAI    OpenAIConfig
	Fal       FalConfig
	Replicate ReplicateConfig
	ComfyUI   ComfyUIConfig
	// Client makes the requests to providers (which the operator chose, so
	// they are not SSRF-guarded: a local model server on loopback is the
	// point). Defaults to a client with a 10-minute overall timeout.
	Client *http.Client
}

// OpenAIConfig configures the OpenAI-compatible adapter: OpenAI itself, or
// a local server speaking its API (stable-diffusion.cpp's server, llama.cpp
// server, Ollama, vLLM, LocalAI).
type OpenAIConfig struct {
	// BaseURL is the API's base, ending in /v1. Defaults to
	// https://api.openai.com/v1 when APIKey is set.
	BaseURL string
	APIKey  string
	// ImageModel and ChatModel are the default models of the image and
	// chat steps ("gpt-image-1", "gpt-4o-mini"); a step's model param
	// overrides them.
	ImageModel string
	ChatModel  string
	// Concurrency caps the requests in flight at once across the
	// deployment; 0 means none. Defaults (in the CLI) to 4.
	Concurrency int
}

// FalConfig configures the fal queue API adapter.
type FalConfig struct {
	// QueueURL defaults to https://queue.fal.run.
	QueueURL string
	Key      string
	// Concurrency caps the requests in flight at once across the
	// deployment; 0 means none.
	Concurrency int
}

// ReplicateConfig configures the Replicate predictions adapter.
type ReplicateConfig struct {
	// BaseURL defaults to https://api.replicate.com.
	BaseURL string
	Token   string
	// WebhookURL, when set, is sent with each prediction so that Replicate
	// tells florad when it completes; florad sets it from its public URL
	// when WebhookSecret is set.
	WebhookURL string
	// WebhookSecret is the whsec_ secret Replicate signs webhooks with
	// (GET /v1/webhooks/default/secret).
	WebhookSecret string
	// Concurrency caps the requests in flight at once across the
	// deployment; 0 means none.
	Concurrency int
}

// Defaults.
const (
	OpenAIBaseURLDefault    = "https://api.openai.com/v1"
	OpenAIImageModelDefault = "gpt-image-1"
	OpenAIChatModelDefault  = "gpt-4o-mini"
	FalQueueURLDefault      = "https://queue.fal.run"
	ReplicateBaseURLDefault = "https://api.replicate.com"
)

// configured reports whether the OpenAI adapter may be used: a key (for
// OpenAI) or an explicit base URL (a local server needs no key).
func (c OpenAIConfig) configured() bool { return c.APIKey != "" || c.BaseURL != "" }

func (c OpenAIConfig) base() string {
	return strings.TrimRight(cmp.Or(c.BaseURL, OpenAIBaseURLDefault), "/")
}

func (c ReplicateConfig) base() string {
	return strings.TrimRight(cmp.Or(c.BaseURL, ReplicateBaseURLDefault), "/")
}

func (c FalConfig) base() string {
	return strings.TrimRight(cmp.Or(c.QueueURL, FalQueueURLDefault), "/")
}

// Models returns every provider model, configured or not.
func Models(cfg Config) processor.Registry {
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
	}
	oa := &openAI{cfg: cfg.OpenAI, client: client}
	fal := &falClient{cfg: cfg.Fal, client: client}
	return processor.Registry{
		"openai.image":      &OpenAIImage{c: oa},
		"openai.chat":       &OpenAIChat{c: oa},
		"fal.queue":         &FalQueue{c: fal},
		"replicate.predict": &ReplicatePredict{c: &replicateClient{cfg: cfg.Replicate, client: client}},
		"comfyui.workflow":  &ComfyWorkflow{c: &comfyClient{cfg: cfg.ComfyUI, client: client}},
	}
}

// Registry is every model a deployment has: the local ones
// (processor.Builtin) and the providers'.
func Registry(cfg Config) processor.Registry {
	procs := processor.Builtin()
	for name, p := range Models(cfg) {
		procs[name] = p
	}
	return procs
}
