package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"sort"
	"strings"

	"github.com/florad/florad/internal/imageproc"
	"github.com/florad/florad/internal/technique"
)

// ImagePipeline decodes one image, applies a list of operations in order and
// encodes the result once. Chaining operations inside one step avoids
// encoding and decoding a large image between them.
type ImagePipeline struct {
	// MaxPixels bounds decoded images (and so memory). Defaults to 50 MP.
	MaxPixels int
	// Slots, when set, bounds the image steps processing at once.
	Slots imageSlots
}

// ImageSlotsDefault is how many image steps run at once per process.
const ImageSlotsDefault = 2

// imageSlots is a counting semaphore shared by the image models.
type imageSlots chan struct{}

// acquire waits for a slot; the returned function gives it back. A nil
// semaphore does not limit.
func (s imageSlots) acquire(ctx context.Context) (func(), error) {
	if s == nil {
		return func() {}, nil
	}
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// MaxPixelsDefault is the default of ImagePipeline.MaxPixels.
const MaxPixelsDefault = 50_000_000

type imagePipelineParams struct {
	Ops     []map[string]json.RawMessage `json:"ops"`
	Format  string                       `json:"format"`
	Quality int                          `json:"quality"`
}

// imageOp applies one operation.
type imageOp func(img image.Image) (image.Image, error)

// imageOpBuilders parse an operation's arguments at load time into the
// function that applies it.
func imageOpBuilders() map[string]func(args json.RawMessage) (imageOp, error) {
	ops := map[string]func(json.RawMessage) (imageOp, error){
		"auto_levels": func(args json.RawMessage) (imageOp, error) {
			if err := decodeArgs(args, &struct{}{}); err != nil {
				return nil, err
			}
			return func(img image.Image) (image.Image, error) { return imageproc.AutoLevels(img), nil }, nil
		},
		"enhance_portrait": func(args json.RawMessage) (imageOp, error) {
			if err := decodeArgs(args, &struct{}{}); err != nil {
				return nil, err
			}
			return func(img image.Image) (image.Image, error) { return imageproc.EnhancePortrait(img), nil }, nil
		},
		"sharpen": func(args json.RawMessage) (imageOp, error) {
			a := struct {
				Sigma  float64 `json:"sigma"`
				Amount float64 `json:"amount"`
			}{Sigma: 1, Amount: 1}
			if err := decodeArgs(args, &a); err != nil {
				return nil, err
			}
			if a.Sigma <= 0 || a.Sigma > 10 || a.Amount <= 0 || a.Amount > 5 {
				return nil, errors.New("sharpen: sigma must be in (0, 10] and amount in (0, 5]")
			}
			return func(img image.Image) (image.Image, error) { return imageproc.Sharpen(img, a.Sigma, a.Amount), nil }, nil
		},
		"upscale": func(args json.RawMessage) (imageOp, error) {
			a := struct {
				Factor int `json:"factor"`
			}{Factor: 2}
			if err := decodeArgs(args, &a); err != nil {
				return nil, err
			}
			if a.Factor != 2 && a.Factor != 4 {
				return nil, errors.New("upscale: factor must be 2 or 4")
			}
			return func(img image.Image) (image.Image, error) { return imageproc.Upscale(img, a.Factor) }, nil
		},
		"resize": sizeOp("resize", imageproc.Resize),
		"fit":    sizeOp("fit", imageproc.Fit),
		"fill":   sizeOp("fill", imageproc.Fill),
	}
	for name, b := range moreImageOps() {
		ops[name] = b
	}
	return ops
}

func sizeOp(name string, f func(image.Image, int, int) (*image.NRGBA, error)) func(json.RawMessage) (imageOp, error) {
	return func(args json.RawMessage) (imageOp, error) {
		a := struct {
			Width  int `json:"width"`
			Height int `json:"height"`
		}{}
		if err := decodeArgs(args, &a); err != nil {
			return nil, err
		}
		if a.Width <= 0 || a.Height <= 0 || a.Width > 16384 || a.Height > 16384 {
			return nil, fmt.Errorf("%s: width and height must be from 1 to 16384", name)
		}
		return func(img image.Image) (image.Image, error) { return f(img, a.Width, a.Height) }, nil
	}
}

func decodeArgs(args json.RawMessage, dst any) error {
	if len(args) == 0 || string(args) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return errors.New(cleanJSONError(err))
	}
	return nil
}

func (ImagePipeline) InputPorts() []technique.Port {
	return []technique.Port{{Name: "image", Type: technique.TypeImageURL}}
}

func (ImagePipeline) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "image", Type: technique.TypeImageURL}}
}

func (ImagePipeline) Unavailable() string { return "" }

func (ImagePipeline) CheckParams(params map[string]any) error {
	_, _, err := parseImagePipeline(params)
	return err
}

type encodeSpec struct {
	format  string
	quality int
}

func parseImagePipeline(params map[string]any) ([]imageOp, encodeSpec, error) {
	var p imagePipelineParams
	if err := decodeParams(params, &p); err != nil {
		return nil, encodeSpec{}, err
	}
	enc := encodeSpec{format: p.Format, quality: p.Quality}
	if enc.format == "" {
		enc.format = "jpeg"
	}
	if enc.format != "jpeg" && enc.format != "png" {
		return nil, enc, fmt.Errorf("format must be jpeg or png, not %q", enc.format)
	}
	if enc.quality == 0 {
		enc.quality = 90
	}
	if enc.quality < 1 || enc.quality > 100 {
		return nil, enc, errors.New("quality must be from 1 to 100")
	}
	if len(p.Ops) == 0 {
		return nil, enc, errors.New("ops must list at least one operation")
	}
	builders := imageOpBuilders()
	ops := make([]imageOp, 0, len(p.Ops))
	for i, op := range p.Ops {
		if len(op) != 1 {
			return nil, enc, fmt.Errorf("ops[%d] must have exactly one key, the operation's name", i)
		}
		for name, args := range op {
			b, ok := builders[name]
			if !ok {
				return nil, enc, fmt.Errorf("ops[%d]: unknown operation %q (known: %s)", i, name, knownOps(builders))
			}
			f, err := b(args)
			if err != nil {
				return nil, enc, fmt.Errorf("ops[%d]: %w", i, err)
			}
			ops = append(ops, f)
		}
	}
	return ops, enc, nil
}

func knownOps(b map[string]func(json.RawMessage) (imageOp, error)) string {
	names := make([]string, 0, len(b))
	for n := range b {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (ip ImagePipeline) Run(ctx context.Context, call *Call) (map[string]Value, error) {
	ops, enc, err := parseImagePipeline(call.Params)
	if err != nil {
		return nil, Permanent(CodeInternalError, "The technique's image operations are invalid.", err)
	}
	release, err := ip.Slots.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	in := call.Inputs["image"]
	maxPixels := ip.MaxPixels
	if maxPixels <= 0 {
		maxPixels = MaxPixelsDefault
	}
	img, _, err := imageproc.Decode(bytes.NewReader(in.Data), maxPixels)
	switch {
	case errors.Is(err, imageproc.ErrTooLarge):
		return nil, Permanent(CodeInputInvalid, fmt.Sprintf("The image is larger than %d megapixels.", maxPixels/1_000_000), err)
	case err != nil:
		return nil, Permanent(CodeInputInvalid, "The input is not a decodable image (JPEG, PNG, GIF or WebP).", err)
	}
	total := float64(len(ops) + 1)
	for i, op := range ops {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if img, err = op(img); err != nil {
			return nil, Permanent(CodeInputInvalid, "The image could not be processed.", err)
		}
		call.progress(float64(i+1) / total)
	}
	var buf bytes.Buffer
	ct, err := imageproc.Encode(&buf, img, enc.format, enc.quality)
	if err != nil {
		return nil, fmt.Errorf("error encoding image: %w", err)
	}
	call.progress(1)
	return map[string]Value{"image": {Type: technique.TypeImageURL, Data: buf.Bytes(), ContentType: ct}}, nil
}

// Builtin returns the processors every server has. The video models need
// ffmpeg and ffprobe on PATH, looked up here once; without them they still
// load but report themselves (and so their techniques) unavailable.
func Builtin() Registry {
	// Large images take hundreds of megabytes each; bounding how many are
	// decoded at once bounds memory whatever the worker concurrency.
	slots := make(imageSlots, ImageSlotsDefault)
	r := Registry{
		"image.pipeline":  ImagePipeline{Slots: slots},
		"image.composite": ImageComposite{Slots: slots},
		"text.template":   TextTemplate{},
	}
	for name, p := range VideoModels(NewFFmpeg(FFmpegConfig{})) {
		r[name] = p
	}
	return r
}
