package imageproc

import (
	"bytes"
	"encoding/binary"
	"image"
)

// EXIF orientation values (TIFF tag 0x0112). Cameras store pixels in sensor
// order and record how to turn them for display; browsers honour the tag, so
// a stripped re-encode would show phone portraits sideways unless the pixels
// are turned here.
const (
	orientNormal     = 1
	orientFlipH      = 2
	orientRotate180  = 3
	orientFlipV      = 4
	orientTranspose  = 5
	orientRotate90CW = 6
	orientTransverse = 7
	orientRotate270  = 8 // 90° counter-clockwise
)

// jpegOrientation finds the EXIF orientation in the leading bytes of a JPEG
// file, returning orientNormal when there is none or it cannot be read.
// Malformed EXIF is common in the wild and must never fail a decode.
func jpegOrientation(b []byte) int {
	if len(b) < 2 || b[0] != 0xff || b[1] != 0xd8 {
		return orientNormal
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xff {
			return orientNormal
		}
		marker := b[i+1]
		switch {
		case marker == 0xff: // fill byte before a marker
			i++
			continue
		case marker == 0x01 || marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7):
			i += 2 // markers without a length
			continue
		case marker == 0xda || marker == 0xd9:
			return orientNormal // entropy-coded data follows: headers are over
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 {
			return orientNormal
		}
		end := min(i+2+n, len(b))
		if seg := b[i+4 : end]; marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			if o, ok := tiffOrientation(seg[6:]); ok {
				return o
			}
		}
		i += 2 + n
	}
	return orientNormal
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF structure (the body of
// an EXIF segment).
func tiffOrientation(t []byte) (int, bool) {
	if len(t) < 8 {
		return 0, false
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0, false
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0, false
	}
	off := uint64(bo.Uint32(t[4:]))
	if off+2 > uint64(len(t)) {
		return 0, false
	}
	count := int(bo.Uint16(t[off:]))
	for k := range count {
		e := off + 2 + 12*uint64(k)
		if e+12 > uint64(len(t)) {
			return 0, false
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		const typeShort = 3
		if bo.Uint16(t[e+2:]) != typeShort {
			return 0, false
		}
		// A SHORT value sits left-justified in the 4-byte value field.
		v := int(bo.Uint16(t[e+8:]))
		if v < orientNormal || v > orientRotate270 {
			return 0, false
		}
		return v, true
	}
	return 0, false
}

// applyOrientation turns img so it displays as the orientation tag intends.
func applyOrientation(img image.Image, o int) image.Image {
	if o <= orientNormal || o > orientRotate270 {
		return img
	}
	return reorient(img, o)
}
