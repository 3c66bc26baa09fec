package processor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/florad/florad/internal/technique"
)

// VideoPoster takes one frame of a video as a still image (output
// "image").
//
// Parameters:
//   - at: the time of the frame, in seconds. Defaults to a tenth of the
//     video, past the black frames many videos open with. A time past the
//     end takes the last frame.
//   - width: scales the frame to this width, keeping its aspect ratio
//     (never up). Defaults to the video's own size.
//   - format (jpeg or png, default jpeg) and quality (JPEG, 1 to 100,
//     default 90).
type VideoPoster struct{ FF *FFmpeg }

type videoPosterParams struct {
	At    *float64 `json:"at"`
	Width int      `json:"width"`
	imageFormatParams
}

func parseVideoPoster(params map[string]any) (*videoPosterParams, error) {
	var p videoPosterParams
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	if p.At != nil && *p.At < 0 {
		return nil, errors.New("at must not be negative")
	}
	if p.Width < 0 || p.Width > 8192 {
		return nil, errors.New("width must be from 1 to 8192")
	}
	return &p, p.check()
}

func (VideoPoster) InputPorts() []technique.Port { return videoInputPorts() }

func (VideoPoster) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "image", Type: technique.TypeImageURL}}
}

func (m VideoPoster) Unavailable() string { return m.FF.Unavailable() }

func (VideoPoster) CheckParams(params map[string]any) error {
	_, err := parseVideoPoster(params)
	return err
}

func (m VideoPoster) Run(ctx context.Context, call *Call) (map[string]Value, error) {
	p, err := parseVideoPoster(call.Params)
	if err != nil {
		return nil, Permanent(CodeInternalError, "The technique's poster parameters are invalid.", err)
	}
	var out map[string]Value
	err = m.FF.withVideo(call, func(input, dir string) error {
		info, err := m.FF.Probe(ctx, input)
		if err != nil {
			return err
		}
		call.progress(0.3)
		at := posterTime(p.At, info)
		filter := "setsar=1"
		if p.Width > 0 && p.Width < info.Width {
			w, h := fitEven(info.Width, info.Height, p.Width, 0)
			filter = fmt.Sprintf("scale=%d:%d:flags=lanczos,setsar=1", w, h)
		}
		enc, file, ct := p.encoderArgs()
		args := append([]string{"-ss", seconds(at)}, untrustedInput(input)...)
		args = append(args, "-map", "0:v:0", "-frames:v", "1", "-vf", filter)
		args = append(append(args, enc...), "file:"+filepath.Join(dir, file))
		if err := m.FF.runFFmpeg(ctx, args, 0, nil); err != nil {
			return err
		}
		data, err := readOutput(filepath.Join(dir, file), "a poster")
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

// posterTime picks the frame's time: the one asked for, or a tenth in,
// kept a few frames before the end, where seeking still finds a frame.
func posterTime(at *float64, info *VideoInfo) float64 {
	d := info.DurationSeconds
	if at == nil {
		return d / 10
	}
	if d <= 0 {
		return *at
	}
	fps := info.FPS
	if fps <= 0 {
		fps = 25
	}
	return max(0, min(*at, d-3/fps))
}
