package asset_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/florad/florad/internal/asset"
)

// BenchmarkCreate uploads a 32 MiB image through the service into the local
// blob store: the bytes stream from the request to the file, so memory per
// upload stays a few buffers whatever the size (B/op, far below 32 MiB).
func BenchmarkCreate(b *testing.B) {
	bundle := setup(b)
	const size = 32 << 20
	body := append(bytes.Clone(bundle.pngBytes), bytes.Repeat([]byte{0}, size-len(bundle.pngBytes))...)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		a, _, err := bundle.svc.Create(b.Context(), &asset.CreateParams{WorkspaceID: bundle.ws,
			File: io.MultiReader(bytes.NewReader(body[:512]), bytes.NewReader(body[512:]))})
		if err != nil {
			b.Fatal(err)
		}
		if a.SizeBytes != size {
			b.Fatalf("stored %d bytes", a.SizeBytes)
		}
	}
}
