package processor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/florad/florad/internal/technique"
)

// VideoPreview makes a short looping animation of a video (output
// "image", since browsers show it in an <img>): a GIF, or an animated WebP
// that is usually several times smaller.
//
// Parameters:
//   - format: gif or webp. Defaults to gif.
//   - start: seconds into the video. Defaults to 0.
//   - duration: the length in seconds, more than 0 and at most 30.
//     Defaults to 3; a shorter video gives a shorter preview.
//   - fps: frames per second, 1 to 30. Defaults to 10.
//   - width: 16 to 1280 pixels, never larger than the video. Defaults to
//     320. The height follows the aspect ratio.
//   - quality: WebP quality, 1 to 100. Defaults to 75. GIFs always get a
//     palette computed for the clip.
type VideoPreview struct{ FF *FFmpeg }

type videoPreviewParams struct {
	Format   string   `json:"format"`
	Start    float64  `json:"start"`
	Duration *float64 `json:"duration"`
	FPS      int      `json:"fps"`
	Width    int      `json:"width"`
	Quality  *int     `json:"quality"`
}

func parseVideoPreview(params map[string]any) (*videoPreviewParams, error) {
	var p videoPreviewParams
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	if p.Format == "" {
		p.Format = "gif"
	}
	if p.Format != "gif" && p.Format != "webp" {
		return nil, fmt.Errorf("format must be gif or webp, not %q", p.Format)
	}
	if p.Start < 0 {
		return nil, errors.New("start must not be negative")
	}
	if p.Duration == nil {
		d := 3.0
		p.Duration = &d
	}
	if *p.Duration <= 0 || *p.Duration > 30 {
		return nil, errors.New("duration must be more than 0 and at most 30 seconds")
	}
	if p.FPS == 0 {
		p.FPS = 10
	}
	if p.FPS < 1 || p.FPS > 30 {
		return nil, errors.New("fps must be from 1 to 30")
	}
	if p.Width == 0 {
		p.Width = 320
	}
	if p.Width < 16 || p.Width > 1280 {
		return nil, errors.New("width must be from 16 to 1280")
	}
	if p.Quality == nil {
		q := 75
		p.Quality = &q
	} else if p.Format != "webp" {
		return nil, errors.New("quality only applies to webp")
	}
	if *p.Quality < 1 || *p.Quality > 100 {
		return nil, errors.New("quality must be from 1 to 100")
	}
	return &p, nil
}

func (VideoPreview) InputPorts() []technique.Port { return videoInputPorts() }

func (VideoPreview) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "image", Type: technique.TypeImageURL}}
}

func (m VideoPreview) Unavailable() string { return m.FF.Unavailable() }

func (VideoPreview) CheckParams(params map[string]any) error {
	_, err := parseVideoPreview(params)
	return err
}

func (m VideoPreview) Run(ctx context.Context, call *Call) (map[string]Value, error) {
	p, err := parseVideoPreview(call.Params)
	if err != nil {
		return nil, Permanent(CodeInternalError, "The technique's preview parameters are invalid.", err)
	}
	var out map[string]Value
	err = m.FF.withVideo(call, func(input, dir string) error {
		info, err := m.FF.Probe(ctx, input)
		if err != nil {
			return err
		}
		start, length := p.Start, *p.Duration
		if d := info.DurationSeconds; d > 0 {
			if start >= d {
				return Permanent(CodeInputInvalid,
					fmt.Sprintf("The preview starts at %s s but the video is only %s s long.", seconds(start), seconds(d)),
					errors.New("preview start past the end"))
			}
			length = min(length, d-start)
		}
		w, h := fitEven(info.Width, info.Height, p.Width, 0)
		scale := fmt.Sprintf("fps=%d,scale=%d:%d:flags=lanczos,setsar=1", p.FPS, w, h)
		args := append([]string{"-ss", seconds(start), "-t", seconds(length)}, untrustedInput(input)...)
		args = append(args, "-map", "0:v:0", "-an", "-sn", "-dn", "-map_metadata", "-1")
		var file, ct string
		if p.Format == "gif" {
			// One palette for the whole clip, and only changed rectangles
			// re-dithered between frames: far smaller and cleaner than
			// ffmpeg's default fixed palette.
			file, ct = "out.gif", "image/gif"
			args = append(args, "-vf", scale+",split[a][b];[a]palettegen=stats_mode=diff[p];"+
				"[b][p]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle",
				"-loop", "0", "-f", "gif")
		} else {
			file, ct = "out.webp", "image/webp"
			args = append(args, "-vf", scale, "-c:v", "libwebp_anim", "-quality", strconv.Itoa(*p.Quality),
				"-loop", "0", "-f", "webp")
		}
		args = append(args, "file:"+filepath.Join(dir, file))
		if err := m.FF.runFFmpeg(ctx, args, time.Duration(length*float64(time.Second)), call.Progress); err != nil {
			return err
		}
		data, err := readOutput(filepath.Join(dir, file), "a preview")
		if err != nil {
			return err
		}
		out = map[string]Value{"image": {Type: technique.TypeImageURL, Data: data, ContentType: ct}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	call.progress(1)
	return out, nil
}
