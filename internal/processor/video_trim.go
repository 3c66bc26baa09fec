package processor

import (
	"context"
	"errors"
	"fmt"

	"github.com/florad/florad/internal/technique"
)

// VideoTrim cuts a clip out of a video and encodes it as an MP4 (output
// "video"), cut at the exact frame rather than the nearest keyframe.
//
// Parameters:
//   - start: where the clip begins, in seconds. Defaults to 0. A start at
//     or past the end of the video fails the step with input_invalid.
//   - duration: the clip's length in seconds, more than 0 and at most 3600;
//     required. A clip running past the end stops there.
//   - the encoding options of video.transcode: max_width, max_height, crf,
//     preset, audio, max_fps.
type VideoTrim struct{ FF *FFmpeg }

type videoTrimParams struct {
	Start    float64 `json:"start"`
	Duration float64 `json:"duration"`
	mp4Params
}

func parseVideoTrim(params map[string]any) (*videoTrimParams, error) {
	var p videoTrimParams
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	if p.Start < 0 {
		return nil, errors.New("start must not be negative")
	}
	if p.Duration <= 0 || p.Duration > 3600 {
		return nil, errors.New("duration is required: seconds, more than 0 and at most 3600")
	}
	return &p, p.check()
}

func (VideoTrim) InputPorts() []technique.Port { return videoInputPorts() }

func (VideoTrim) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "video", Type: technique.TypeVideoURL}}
}

func (m VideoTrim) Unavailable() string { return m.FF.Unavailable() }

func (VideoTrim) CheckParams(params map[string]any) error {
	_, err := parseVideoTrim(params)
	return err
}

func (m VideoTrim) Run(ctx context.Context, call *Call) (map[string]Value, error) {
	p, err := parseVideoTrim(call.Params)
	if err != nil {
		return nil, Permanent(CodeInternalError, "The technique's trim parameters are invalid.", err)
	}
	var v Value
	err = m.FF.withVideo(call, func(input, dir string) error {
		info, err := m.FF.Probe(ctx, input)
		if err != nil {
			return err
		}
		if info.DurationSeconds > 0 && p.Start >= info.DurationSeconds {
			return Permanent(CodeInputInvalid,
				fmt.Sprintf("The clip starts at %s s but the video is only %s s long.", seconds(p.Start), seconds(info.DurationSeconds)),
				errors.New("trim start past the end"))
		}
		v, err = m.FF.encodeMP4(ctx, call, input, dir, info, clip{start: p.Start, length: p.Duration}, &p.mp4Params)
		return err
	})
	if err != nil {
		return nil, err
	}
	call.progress(1)
	return map[string]Value{"video": v}, nil
}
