package processor

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"strconv"
	"strings"

	"github.com/florad/florad/internal/imageproc"
)

// opBuilder parses one operation's arguments at load time.
type opBuilder = func(args json.RawMessage) (imageOp, error)

// moreImageOps are the geometry, tone and overlay operations of
// image.pipeline.
func moreImageOps() map[string]opBuilder {
	return map[string]opBuilder{
		"crop": func(args json.RawMessage) (imageOp, error) {
			var a struct{ X, Y, Width, Height int }
			if err := decodeArgs(args, &a); err != nil {
				return nil, err
			}
			if a.X < 0 || a.Y < 0 || a.Width <= 0 || a.Height <= 0 {
				return nil, errors.New("crop: x and y must be ≥ 0, width and height > 0")
			}
			r := image.Rect(a.X, a.Y, a.X+a.Width, a.Y+a.Height)
			return func(img image.Image) (image.Image, error) { return imageproc.Crop(img, r) }, nil
		},
		"crop_aspect": func(args json.RawMessage) (imageOp, error) {
			var a struct{ Ratio string }
			if err := decodeArgs(args, &a); err != nil {
				return nil, err
			}
			w, h, err := parseRatio(a.Ratio)
			if err != nil {
				return nil, fmt.Errorf("crop_aspect: %w", err)
			}
			return func(img image.Image) (image.Image, error) { return imageproc.CropToAspect(img, w, h) }, nil
		},
		"pad_aspect": func(args json.RawMessage) (imageOp, error) {
			var a struct{ Ratio, Background string }
			if err := decodeArgs(args, &a); err != nil {
				return nil, err
			}
			w, h, err := parseRatio(a.Ratio)
			if err != nil {
				return nil, fmt.Errorf("pad_aspect: %w", err)
			}
			bg, err := parseColor(a.Background, color.NRGBA{255, 255, 255, 255})
			if err != nil {
				return nil, fmt.Errorf("pad_aspect: %w", err)
			}
			return func(img image.Image) (image.Image, error) { return imageproc.PadToAspect(img, w, h, bg) }, nil
		},
		"brightness": percentOp("brightness", imageproc.Brightness),
		"contrast":   percentOp("contrast", imageproc.Contrast),
		"saturation": percentOp("saturation", imageproc.Saturation),
		"grayscale": func(args json.RawMessage) (imageOp, error) {
			if err := decodeArgs(args, &struct{}{}); err != nil {
				return nil, err
			}
			return func(img image.Image) (image.Image, error) { return imageproc.Grayscale(img), nil }, nil
		},
		"rotate": func(args json.RawMessage) (imageOp, error) {
			var a struct{ Degrees int }
			if err := decodeArgs(args, &a); err != nil {
				return nil, err
			}
			if a.Degrees%90 != 0 {
				return nil, errors.New("rotate: degrees must be a multiple of 90")
			}
			return func(img image.Image) (image.Image, error) { return imageproc.Rotate(img, a.Degrees) }, nil
		},
		"flip": func(args json.RawMessage) (imageOp, error) {
			var a struct{ Direction string }
			if err := decodeArgs(args, &a); err != nil {
				return nil, err
			}
			switch a.Direction {
			case "horizontal":
				return func(img image.Image) (image.Image, error) { return imageproc.FlipH(img), nil }, nil
			case "vertical":
				return func(img image.Image) (image.Image, error) { return imageproc.FlipV(img), nil }, nil
			}
			return nil, errors.New(`flip: direction must be "horizontal" or "vertical"`)
		},
		"text": func(args json.RawMessage) (imageOp, error) {
			a := struct {
				Text  string
				X, Y  int
				Size  float64
				Color string
			}{Size: 32}
			if err := decodeArgs(args, &a); err != nil {
				return nil, err
			}
			if a.Text == "" || a.Size <= 0 || a.Size > 1000 {
				return nil, errors.New("text: needs text and a size from 1 to 1000")
			}
			c, err := parseColor(a.Color, color.NRGBA{255, 255, 255, 255})
			if err != nil {
				return nil, fmt.Errorf("text: %w", err)
			}
			return func(img image.Image) (image.Image, error) {
				return imageproc.DrawText(img, a.Text, image.Pt(a.X, a.Y), a.Size, c), nil
			}, nil
		},
	}
}

func percentOp(name string, f func(image.Image, float64) *image.NRGBA) opBuilder {
	return func(args json.RawMessage) (imageOp, error) {
		var a struct{ Percent float64 }
		if err := decodeArgs(args, &a); err != nil {
			return nil, err
		}
		if a.Percent < -100 || a.Percent > 100 {
			return nil, fmt.Errorf("%s: percent must be from -100 to 100", name)
		}
		return func(img image.Image) (image.Image, error) { return f(img, a.Percent), nil }, nil
	}
}

// parseRatio reads "W:H", e.g. "4:5".
func parseRatio(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, ":")
	w, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || w <= 0 || h <= 0 || w > 100 || h > 100 {
		return 0, 0, fmt.Errorf("ratio %q must look like 4:5", s)
	}
	return w, h, nil
}

// parseColor reads "#rrggbb" or "#rrggbbaa"; empty gives def.
func parseColor(s string, def color.NRGBA) (color.NRGBA, error) {
	if s == "" {
		return def, nil
	}
	hex := strings.TrimPrefix(s, "#")
	if len(hex) != 6 && len(hex) != 8 {
		return def, fmt.Errorf("color %q must be #rrggbb or #rrggbbaa", s)
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return def, fmt.Errorf("color %q must be #rrggbb or #rrggbbaa", s)
	}
	if len(hex) == 6 {
		v = v<<8 | 0xff
	}
	return color.NRGBA{uint8(v >> 24), uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
}
