package netguard

import (
	"bytes"
	"encoding/binary"
	"mime"
	"net/http"
	"strings"
)

// sniffLen is how many leading bytes decide the content type; it is what
// http.DetectContentType looks at.
const sniffLen = 512

// Kind is a broad class of content Fetch may accept: the top-level part of
// a MIME type.
type Kind string

// Kinds florad fetches.
const (
	KindImage Kind = "image"
	KindVideo Kind = "video"
)

// SniffContentType returns the MIME type of data judged by its leading
// bytes only, never by what a server claims. It extends
// http.DetectContentType with containers that function misses or mislabels:
// ISO base media files (MP4, QuickTime, 3GP, and the HEIF/AVIF images that
// share the format), old QuickTime files without an ftyp box, Matroska
// versus WebM, and every WebP variant.
func SniffContentType(data []byte) string {
	if len(data) > sniffLen {
		data = data[:sniffLen]
	}
	if ct := sniffContainer(data); ct != "" {
		return ct
	}
	return http.DetectContentType(data)
}

// sniffContainer recognises the formats SniffContentType adds; "" means
// none matched.
func sniffContainer(data []byte) string {
	switch {
	case len(data) >= 12 && bytes.Equal(data[:4], []byte("RIFF")) && bytes.Equal(data[8:12], []byte("WEBP")):
		// DetectContentType insists on "WEBPVP", i.e. a known chunk next.
		return "image/webp"
	case len(data) >= 4 && bytes.Equal(data[:4], []byte("\x1A\x45\xDF\xA3")):
		// EBML header. DetectContentType calls all of it WebM; the DocType
		// element near the start tells WebM from generic Matroska.
		head := data[:min(len(data), 64)]
		if bytes.Contains(head, []byte("matroska")) {
			return "video/x-matroska"
		}
		return "video/webm"
	case len(data) >= 12 && bytes.Equal(data[4:8], []byte("ftyp")):
		return sniffFtyp(data)
	case len(data) >= 8 && isQuickTimeAtom(data[4:8]):
		// QuickTime files predating ftyp start straight with an atom.
		return "video/quicktime"
	}
	return ""
}

// sniffFtyp classifies an ISO base media file by its brands. Images (HEIF,
// AVIF) use the same container as video, so "ftyp" alone does not mean
// video.
func sniffFtyp(data []byte) string {
	major := string(data[8:12])
	brands := []string{major}
	size := int(binary.BigEndian.Uint32(data[:4]))
	for off := 16; off+4 <= min(size, len(data)); off += 4 { // 12..16 is the minor version
		brands = append(brands, string(data[off:off+4]))
	}
	switch major {
	case "avif", "avis":
		return "image/avif"
	case "heic", "heix", "heim", "heis":
		return "image/heic"
	case "mif1", "msf1":
		// Generic HEIF; an AVIF may use it as major brand and say avif
		// among the compatible brands.
		for _, b := range brands {
			if b == "avif" {
				return "image/avif"
			}
		}
		return "image/heif"
	case "qt  ":
		return "video/quicktime"
	case "M4A ", "M4B ", "M4P ":
		return "audio/mp4"
	}
	if strings.HasPrefix(major, "3g2") {
		return "video/3gpp2"
	}
	if strings.HasPrefix(major, "3g") {
		return "video/3gpp"
	}
	// isom, iso2, mp41, mp42, avc1, dash, M4V , ...: MP4 video.
	return "video/mp4"
}

// isQuickTimeAtom reports whether typ is a top-level atom that starts an
// old-style QuickTime file.
func isQuickTimeAtom(typ []byte) bool {
	switch string(typ) {
	case "moov", "mdat", "wide", "free", "skip", "pnot":
		return true
	}
	return false
}

// kindOf returns the Kind of a MIME type: its top-level type.
func kindOf(contentType string) Kind {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mediaType = contentType
	}
	top, _, _ := strings.Cut(mediaType, "/")
	return Kind(strings.ToLower(top))
}

// accepts reports whether contentType is one of the kinds; no kinds means
// anything goes.
func accepts(kinds []Kind, contentType string) bool {
	if len(kinds) == 0 {
		return true
	}
	k := kindOf(contentType)
	for _, want := range kinds {
		if k == want {
			return true
		}
	}
	return false
}
