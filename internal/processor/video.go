package processor

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/florad/florad/internal/technique"
)

// VideoModels returns the video models, all running through ff. When ff
// found no ffmpeg they still load (a technique naming them is checked as
// usual) but report themselves unavailable, and so do their techniques.
func VideoModels(ff *FFmpeg) Registry {
	return Registry{
		"video.probe":      VideoProbe{FF: ff},
		"video.poster":     VideoPoster{FF: ff},
		"video.thumbnails": VideoThumbnails{FF: ff},
		"video.trim":       VideoTrim{FF: ff},
		"video.transcode":  VideoTranscode{FF: ff},
		"video.preview":    VideoPreview{FF: ff},
	}
}

// videoInputPorts is the one input every video model has.
func videoInputPorts() []technique.Port {
	return []technique.Port{{Name: "video", Type: technique.TypeVideoURL}}
}

// withVideo gives fn a file holding the call's "video" input and a scratch
// folder for outputs, removed when fn returns. The engine usually hands
// videos over already on disk (Value.Path); bytes are written out first.
func (f *FFmpeg) withVideo(call *Call, fn func(input, dir string) error) error {
	if f.unavailable != "" {
		return Permanent(CodeInternalError, "Video processing is not available: "+f.unavailable+".", errors.New(f.unavailable))
	}
	v := call.Inputs["video"]
	if v.Path == "" && len(v.Data) == 0 {
		return Permanent(CodeInputInvalid, "The video input is empty.", errors.New("no video data"))
	}
	dir, cleanup, err := f.scratch()
	if err != nil {
		return err
	}
	defer cleanup()
	input := v.Path
	if input == "" {
		input = filepath.Join(dir, "input")
		if err := os.WriteFile(input, v.Data, 0o600); err != nil {
			return fmt.Errorf("error writing video to scratch file: %w", err)
		}
	}
	return fn(input, dir)
}

// fitEven returns the largest size within maxW×maxH (0 means no bound)
// with w×h's aspect ratio, never larger than w×h, and with even sides as
// H.264 in 4:2:0 needs.
func fitEven(w, h, maxW, maxH int) (int, int) {
	scale := 1.0
	if maxW > 0 && w > maxW {
		scale = float64(maxW) / float64(w)
	}
	if maxH > 0 && float64(h)*scale > float64(maxH) {
		scale = float64(maxH) / float64(h)
	}
	return even(float64(w) * scale), even(float64(h) * scale)
}

// even rounds down to an even number, at least 2.
func even(v float64) int {
	return max(2, int(math.Floor(v))&^1)
}

// seconds formats a time for ffmpeg's -ss and -t, to the millisecond.
func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }

// imageFormatParams are the still-image output options of the poster and
// thumbnail models.
type imageFormatParams struct {
	// Format is jpeg or png. Defaults to jpeg.
	Format string `json:"format"`
	// Quality is the JPEG quality, 1 to 100. Defaults to 90.
	Quality int `json:"quality"`
}

func (p *imageFormatParams) check() error {
	if p.Format == "" {
		p.Format = "jpeg"
	}
	if p.Format != "jpeg" && p.Format != "png" {
		return fmt.Errorf("format must be jpeg or png, not %q", p.Format)
	}
	if p.Quality == 0 {
		p.Quality = 90
	}
	if p.Quality < 1 || p.Quality > 100 {
		return errors.New("quality must be from 1 to 100")
	}
	return nil
}

// encoderArgs are ffmpeg's output options for the format; file is the
// name of the output in the scratch folder.
func (p *imageFormatParams) encoderArgs() (args []string, file, contentType string) {
	if p.Format == "png" {
		return []string{"-c:v", "png", "-f", "image2"}, "out.png", "image/png"
	}
	// ffmpeg's JPEG quality is a quantizer from 2 (best) to 31; map
	// 100..1 onto it linearly.
	q := 2 + int(math.Round(float64(100-p.Quality)*29/99))
	return []string{"-c:v", "mjpeg", "-q:v", strconv.Itoa(q), "-f", "image2"}, "out.jpg", "image/jpeg"
}
