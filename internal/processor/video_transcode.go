package processor

import (
	"context"

	"github.com/florad/florad/internal/technique"
)

// VideoTranscode re-encodes a whole video as an MP4 that plays everywhere
// (output "video"): H.264 High profile, yuv420p, AAC stereo, faststart, no
// source metadata, and no larger than a box.
//
// Parameters, all optional:
//   - max_width, max_height: the box, turned to match the video's
//     orientation; never scales up. Default 1920×1080.
//   - crf: x264's constant rate factor, 0 to 51. Defaults to 23.
//   - preset: x264's speed, ultrafast to veryslow. Defaults to veryfast.
//   - audio: keep the first audio track. Defaults to true.
//   - max_fps: lower the frame rate to at most this. Defaults to keeping it.
type VideoTranscode struct{ FF *FFmpeg }

func parseVideoTranscode(params map[string]any) (*mp4Params, error) {
	var p mp4Params
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	return &p, p.check()
}

func (VideoTranscode) InputPorts() []technique.Port { return videoInputPorts() }

func (VideoTranscode) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "video", Type: technique.TypeVideoURL}}
}

func (m VideoTranscode) Unavailable() string { return m.FF.Unavailable() }

func (VideoTranscode) CheckParams(params map[string]any) error {
	_, err := parseVideoTranscode(params)
	return err
}

func (m VideoTranscode) Run(ctx context.Context, call *Call) (map[string]Value, error) {
	p, err := parseVideoTranscode(call.Params)
	if err != nil {
		return nil, Permanent(CodeInternalError, "The technique's transcode parameters are invalid.", err)
	}
	var v Value
	err = m.FF.withVideo(call, func(input, dir string) error {
		info, err := m.FF.Probe(ctx, input)
		if err != nil {
			return err
		}
		v, err = m.FF.encodeMP4(ctx, call, input, dir, info, clip{}, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	call.progress(1)
	return map[string]Value{"video": v}, nil
}
