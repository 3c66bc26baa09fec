package netguard

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/png"
	"testing"

	"github.com/stretchr/testify/require"
)

// ftyp builds the start of an ISO base media file with the given brands.
func ftyp(major string, compatible ...string) []byte {
	size := 16 + 4*len(compatible)
	b := make([]byte, 0, size+8)
	b = binary.BigEndian.AppendUint32(b, uint32(size))
	b = append(b, "ftyp"+major+"\x00\x00\x02\x00"...)
	for _, c := range compatible {
		b = append(b, c...)
	}
	return append(b, "\x00\x00\x00\x08free"...)
}

// pngBytes returns a real, small PNG.
func pngBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 4, 4))))
	return buf.Bytes()
}

func TestSniffContentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"png", pngBytes(t), "image/png"},
		{"jpeg", []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00"), "image/jpeg"},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), "image/gif"},
		{"webp lossy", []byte("RIFF\x24\x00\x00\x00WEBPVP8 "), "image/webp"},
		{"webp extended", []byte("RIFF\x24\x00\x00\x00WEBPVP8X"), "image/webp"},
		{"webp unknown chunk", []byte("RIFF\x24\x00\x00\x00WEBPXXXX"), "image/webp"},
		{"avi is not webp", []byte("RIFF\x24\x00\x00\x00AVI LIST"), "video/avi"},
		{"mp4 isom", ftyp("isom", "isom", "iso2", "avc1", "mp41"), "video/mp4"},
		{"mp4 without mp4 brand", ftyp("iso5", "iso5", "dash"), "video/mp4"},
		{"m4v", ftyp("M4V ", "M4V ", "M4A ", "mp42"), "video/mp4"},
		{"quicktime", ftyp("qt  ", "qt  "), "video/quicktime"},
		{"old quicktime", []byte("\x00\x00\x00\x08wide\x00\x00\x00\x00mdat"), "video/quicktime"},
		{"3gp", ftyp("3gp4", "3gp4", "isom"), "video/3gpp"},
		{"3g2", ftyp("3g2a", "3g2a"), "video/3gpp2"},
		{"m4a audio", ftyp("M4A ", "M4A ", "mp42", "isom"), "audio/mp4"},
		{"avif", ftyp("avif", "avif", "mif1", "miaf"), "image/avif"},
		{"avif behind mif1", ftyp("mif1", "mif1", "avif", "miaf"), "image/avif"},
		{"heic", ftyp("heic", "mif1", "heic"), "image/heic"},
		{"heif", ftyp("mif1", "mif1", "heic"), "image/heif"},
		{"webm", []byte("\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm"), "video/webm"},
		{"matroska", []byte("\x1A\x45\xDF\xA3\xA3\x42\x86\x81\x01\x42\x82\x88matroska"), "video/x-matroska"},
		{"html", []byte("<!DOCTYPE html><html><body>hi</body></html>"), "text/html; charset=utf-8"},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "text/plain; charset=utf-8"},
		{"svg with prolog", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), "text/xml; charset=utf-8"},
		{"json", []byte(`{"ami-id":"ami-123"}`), "text/plain; charset=utf-8"},
		{"empty", nil, "text/plain; charset=utf-8"},
		{"short ftyp", []byte("\x00\x00\x00\x18ftyp"), "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, SniffContentType(tt.data))
		})
	}
}

func TestSniffContentTypeLooksAtHeadOnly(t *testing.T) {
	t.Parallel()
	// A signature after the first 512 bytes must not count.
	data := append(bytes.Repeat([]byte("a"), sniffLen), pngBytes(t)...)
	require.Equal(t, "text/plain; charset=utf-8", SniffContentType(data))
}

func TestAccepts(t *testing.T) {
	t.Parallel()
	require.True(t, accepts(nil, "text/html"))
	require.True(t, accepts([]Kind{KindImage}, "image/png"))
	require.True(t, accepts([]Kind{KindImage, KindVideo}, "video/mp4"))
	require.False(t, accepts([]Kind{KindImage}, "video/mp4"))
	require.False(t, accepts([]Kind{KindImage}, "text/html; charset=utf-8"))
	require.False(t, accepts([]Kind{KindVideo}, "audio/mp4"))
	require.Equal(t, KindImage, kindOf("IMAGE/PNG"))
	require.Equal(t, Kind("text"), kindOf("text/plain; charset=utf-8"))
}
