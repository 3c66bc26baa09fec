// Package providerfake holds loopback fakes of the paid model providers
// florad talks to, each speaking the provider's documented protocol, for
// tests and benchmarks: fal's queue API and the OpenAI images and chat
// completions API. They make small PNG images that depend on the prompt,
// and can be told to be slow, to fail, to rate limit and to flag content.
package providerfake

import (
	"bytes"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"strings"
)

// Words in a prompt that steer a fake.
const (
	// PromptFail makes the model fail on the request.
	PromptFail = "please-fail"
	// PromptUnsafe makes the provider refuse it on content-safety grounds.
	PromptUnsafe = "please-unsafe"
)

func wants(prompt, word string) bool { return strings.Contains(prompt, word) }

// PNG is the fake model's image for a prompt: 32×32 pixels of a colour
// hashed from it, so that different prompts give different images.
func PNG(prompt string) []byte {
	h := fnv.New32a()
	h.Write([]byte(prompt))
	v := h.Sum32()
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	c := color.RGBA{R: uint8(v), G: uint8(v >> 8), B: uint8(v >> 16), A: 255}
	for y := range 32 {
		for x := range 32 {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}
