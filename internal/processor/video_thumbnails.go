package processor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/florad/florad/internal/technique"
)

// VideoThumbnails tiles frames taken at even intervals into one image
// (output "image"): a strip by default, a grid with columns.
//
// Parameters:
//   - count: how many frames, 1 to 60. Defaults to 6. Frame i is taken at
//     (i + ½)/count of the duration, so neither the first nor the last
//     frame of the video is used.
//   - columns: frames per row, 1 to count. Defaults to count (one row).
//   - width: the width of each frame, 16 to 1920, never larger than the
//     video. Defaults to 240. The height follows the video's aspect ratio.
//   - padding: pixels between and around frames, 0 to 64, black.
//     Defaults to 0.
//   - format (jpeg or png, default jpeg) and quality (JPEG, default 90).
type VideoThumbnails struct{ FF *FFmpeg }

type videoThumbnailsParams struct {
	Count   int `json:"count"`
	Columns int `json:"columns"`
	Width   int `json:"width"`
	Padding int `json:"padding"`
	imageFormatParams
}

func parseVideoThumbnails(params map[string]any) (*videoThumbnailsParams, error) {
	var p videoThumbnailsParams
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	if p.Count == 0 {
		p.Count = 6
	}
	if p.Count < 1 || p.Count > 60 {
		return nil, errors.New("count must be from 1 to 60")
	}
	if p.Columns == 0 {
		p.Columns = p.Count
	}
	if p.Columns < 1 || p.Columns > p.Count {
		return nil, errors.New("columns must be from 1 to count")
	}
	if p.Width == 0 {
		p.Width = 240
	}
	if p.Width < 16 || p.Width > 1920 {
		return nil, errors.New("width must be from 16 to 1920")
	}
	if p.Padding < 0 || p.Padding > 64 {
		return nil, errors.New("padding must be from 0 to 64")
	}
	return &p, p.check()
}

func (VideoThumbnails) InputPorts() []technique.Port { return videoInputPorts() }

func (VideoThumbnails) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "image", Type: technique.TypeImageURL}}
}

func (m VideoThumbnails) Unavailable() string { return m.FF.Unavailable() }

func (VideoThumbnails) CheckParams(params map[string]any) error {
	_, err := parseVideoThumbnails(params)
	return err
}

// Run opens the video once per frame, each opening seeking straight to its
// time: on a long video this decodes a few frames around each point
// instead of the whole film, as a frame-rate filter would.
func (m VideoThumbnails) Run(ctx context.Context, call *Call) (map[string]Value, error) {
	p, err := parseVideoThumbnails(call.Params)
	if err != nil {
		return nil, Permanent(CodeInternalError, "The technique's thumbnail parameters are invalid.", err)
	}
	var out map[string]Value
	err = m.FF.withVideo(call, func(input, dir string) error {
		info, err := m.FF.Probe(ctx, input)
		if err != nil {
			return err
		}
		call.progress(0.2)
		w, h := fitEven(info.Width, info.Height, p.Width, 0)
		fps := info.FPS
		if fps <= 0 {
			fps = 25
		}
		// Each opening reads a little past its time: enough for one frame
		// at the video's frame rate, bounded for the slowest slideshow.
		window := min(max(3/fps, 0.5), 10)
		var args []string
		var graph strings.Builder
		for i := range p.Count {
			at := info.DurationSeconds * (float64(i) + 0.5) / float64(p.Count)
			args = append(args, "-ss", seconds(at), "-t", seconds(window))
			args = append(args, untrustedInput(input)...)
			fmt.Fprintf(&graph, "[%d:v:0]trim=end_frame=1,scale=%d:%d:flags=lanczos,setsar=1,format=yuv420p[f%d];", i, w, h, i)
		}
		for i := range p.Count {
			fmt.Fprintf(&graph, "[f%d]", i)
		}
		rows := (p.Count + p.Columns - 1) / p.Columns
		fmt.Fprintf(&graph, "concat=n=%d:v=1:a=0,tile=%dx%d:padding=%d:margin=%d:color=black[out]",
			p.Count, p.Columns, rows, p.Padding, p.Padding)
		enc, file, ct := p.encoderArgs()
		args = append(args, "-filter_complex", graph.String(), "-map", "[out]", "-frames:v", "1")
		args = append(append(args, enc...), "file:"+filepath.Join(dir, file))
		if err := m.FF.runFFmpeg(ctx, args, 0, nil); err != nil {
			return err
		}
		data, err := readOutput(filepath.Join(dir, file), "thumbnails")
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
