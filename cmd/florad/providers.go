package main

import (
	"flag"
	"os"
	"strconv"
	"time"

	"github.com/florad/florad/internal/engine"
	"github.com/florad/florad/internal/provider"
)

// Provider concurrency caps by default: a few requests at once, so that a
// burst of runs queues at florad instead of being rate limited.
const (
	openAIConcurrencyDefault = 4
	falConcurrencyDefault    = 10
)

// providerFlags registers the provider settings on fs, each with its
// environment variable, and returns a function giving the config once fs
// is parsed. Keys come only from the environment: flags show in ps.
func providerFlags(fs *flag.FlagSet) (cfg func() provider.Config, pollMin, pollMax *time.Duration) {
	oaURL := fs.String("openai-base-url", os.Getenv("FLORA_OPENAI_BASE_URL"), "OpenAI-compatible API base ending in /v1, e.g. a local stable-diffusion.cpp, llama.cpp, Ollama, vLLM or LocalAI server; default https://api.openai.com/v1 when FLORA_OPENAI_API_KEY is set (env FLORA_OPENAI_BASE_URL)")
	oaImage := fs.String("openai-image-model", envOr("FLORA_OPENAI_IMAGE_MODEL", provider.OpenAIImageModelDefault), "default model of openai.image steps (env FLORA_OPENAI_IMAGE_MODEL)")
	oaChat := fs.String("openai-chat-model", envOr("FLORA_OPENAI_CHAT_MODEL", provider.OpenAIChatModelDefault), "default model of openai.chat steps (env FLORA_OPENAI_CHAT_MODEL)")
	oaConc := fs.Int("openai-concurrency", envCap("FLORA_OPENAI_CONCURRENCY", openAIConcurrencyDefault), "OpenAI-compatible requests in flight at once across the deployment (env FLORA_OPENAI_CONCURRENCY)")
	falURL := fs.String("fal-queue-url", envOr("FLORA_FAL_QUEUE_URL", provider.FalQueueURLDefault), "fal queue API base (env FLORA_FAL_QUEUE_URL)")
	falConc := fs.Int("fal-concurrency", envCap("FLORA_FAL_CONCURRENCY", falConcurrencyDefault), "fal requests in flight at once across the deployment; 0 for no cap (env FLORA_FAL_CONCURRENCY)")
	repURL := fs.String("replicate-base-url", envOr("FLORA_REPLICATE_BASE_URL", provider.ReplicateBaseURLDefault), "Replicate API base (env FLORA_REPLICATE_BASE_URL)")
	repConc := fs.Int("replicate-concurrency", envCap("FLORA_REPLICATE_CONCURRENCY", falConcurrencyDefault), "Replicate predictions in flight at once across the deployment; 0 for no cap (env FLORA_REPLICATE_CONCURRENCY)")
	comfyURL := fs.String("comfyui-url", os.Getenv("FLORA_COMFYUI_URL"), "ComfyUI server base, such as http://127.0.0.1:8188 (env FLORA_COMFYUI_URL)")
	comfyConc := fs.Int("comfyui-concurrency", envCap("FLORA_COMFYUI_CONCURRENCY", 0), "ComfyUI prompts in flight at once across the deployment; 0 for no cap: ComfyUI queues them (env FLORA_COMFYUI_CONCURRENCY)")
	pollMin = fs.Duration("provider-poll-min", envDuration("FLORA_PROVIDER_POLL_MIN", engine.PollMinDefault), "shortest wait between two polls of a provider request; the wait grows with the request's age up to --provider-poll-max (env FLORA_PROVIDER_POLL_MIN)")
	pollMax = fs.Duration("provider-poll-max", envDuration("FLORA_PROVIDER_POLL_MAX", engine.PollMaxDefault), "longest wait between two polls of a provider request (env FLORA_PROVIDER_POLL_MAX)")
	return func() provider.Config {
		return provider.Config{
			OpenAI: provider.OpenAIConfig{BaseURL: *oaURL, APIKey: os.Getenv("FLORA_OPENAI_API_KEY"),
				ImageModel: *oaImage, ChatModel: *oaChat, Concurrency: *oaConc},
			Fal: provider.FalConfig{QueueURL: *falURL, Key: os.Getenv("FLORA_FAL_KEY"), Concurrency: *falConc},
			Replicate: provider.ReplicateConfig{BaseURL: *repURL, Token: os.Getenv("FLORA_REPLICATE_API_TOKEN"),
				WebhookSecret: os.Getenv("FLORA_REPLICATE_WEBHOOK_SECRET"), Concurrency: *repConc},
			ComfyUI: provider.ComfyUIConfig{URL: *comfyURL, Concurrency: *comfyConc},
		}
	}, pollMin, pollMax
}

// providersFromEnv is the provider config of admin commands, which only
// need to know what is configured.
func providersFromEnv() provider.Config {
	cfg, _, _ := providerFlags(flag.NewFlagSet("providers", flag.ContinueOnError))
	return cfg()
}

// envCap reads a concurrency cap, where 0 (no cap) is a value.
func envCap(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return n
	}
	return def
}
