package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"

	"github.com/florad/florad/internal/imageproc"
	"github.com/florad/florad/internal/technique"
)

// ImageComposite lays one image over another: a logo on a product shot, a
// watermark, a frame.
type ImageComposite struct {
	// Slots, when set, bounds the image steps processing at once.
	Slots imageSlots
}

type compositeParams struct {
	X       int     `json:"x"`
	Y       int     `json:"y"`
	Opacity float64 `json:"opacity"`
	// OverlayWidth scales the overlay to this width first, keeping its
	// aspect ratio; 0 keeps its size.
	OverlayWidth int    `json:"overlay_width"`
	Format       string `json:"format"`
	Quality      int    `json:"quality"`
}

func (ImageComposite) InputPorts() []technique.Port {
	return []technique.Port{{Name: "base", Type: technique.TypeImageURL}, {Name: "overlay", Type: technique.TypeImageURL}}
}

func (ImageComposite) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "image", Type: technique.TypeImageURL}}
}

func (ImageComposite) Unavailable() string { return "" }

func (ImageComposite) CheckParams(params map[string]any) error {
	_, err := parseComposite(params)
	return err
}

func parseComposite(params map[string]any) (compositeParams, error) {
	p := compositeParams{Opacity: 1, Format: "png", Quality: 90}
	if err := decodeParams(params, &p); err != nil {
		return p, err
	}
	switch {
	case p.Opacity < 0 || p.Opacity > 1:
		return p, errors.New("opacity must be from 0 to 1")
	case p.OverlayWidth < 0 || p.OverlayWidth > 16384:
		return p, errors.New("overlay_width must be from 0 to 16384")
	case p.Format != "jpeg" && p.Format != "png":
		return p, fmt.Errorf("format must be jpeg or png, not %q", p.Format)
	case p.Quality < 1 || p.Quality > 100:
		return p, errors.New("quality must be from 1 to 100")
	}
	return p, nil
}

func (ic ImageComposite) Run(ctx context.Context, call *Call) (map[string]Value, error) {
	p, err := parseComposite(call.Params)
	if err != nil {
		return nil, Permanent(CodeInternalError, "The technique's composite parameters are invalid.", err)
	}
	release, err := ic.Slots.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	decode := func(port string) (image.Image, error) {
		img, _, err := imageproc.Decode(bytes.NewReader(call.Inputs[port].Data), MaxPixelsDefault)
		if err != nil {
			return nil, Permanent(CodeInputInvalid, fmt.Sprintf("The %s image could not be decoded.", port), err)
		}
		return img, nil
	}
	base, err := decode("base")
	if err != nil {
		return nil, err
	}
	overlay, err := decode("overlay")
	if err != nil {
		return nil, err
	}
	if p.OverlayWidth > 0 {
		b := overlay.Bounds()
		h := max(1, b.Dy()*p.OverlayWidth/max(1, b.Dx()))
		if overlay, err = imageproc.Resize(overlay, p.OverlayWidth, h); err != nil {
			return nil, Permanent(CodeInputInvalid, "The overlay could not be resized.", err)
		}
	}
	call.progress(0.5)
	out := imageproc.Composite(base, overlay, image.Pt(p.X, p.Y), p.Opacity)
	var buf bytes.Buffer
	ct, err := imageproc.Encode(&buf, out, p.Format, p.Quality)
	if err != nil {
		return nil, fmt.Errorf("error encoding image: %w", err)
	}
	call.progress(1)
	return map[string]Value{"image": {Type: technique.TypeImageURL, Data: buf.Bytes(), ContentType: ct}}, nil
}
