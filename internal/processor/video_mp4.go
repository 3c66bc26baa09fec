package processor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/florad/florad/internal/technique"
)

// mp4Params are the encoding options video.trim and video.transcode share.
// The output plays everywhere: H.264 (High profile) in yuv420p, AAC stereo
// audio, the index at the front of the file (faststart) so playback starts
// before the download ends, and no metadata from the source (phone videos
// carry the place they were shot).
type mp4Params struct {
	// MaxWidth and MaxHeight bound the size, keeping the aspect ratio and
	// never scaling up. The box turns with the video: a portrait phone
	// video fits in 1080×1920 instead of being shrunk to 1080 pixels of
	// height. Default 1920×1080.
	MaxWidth  int `json:"max_width"`
	MaxHeight int `json:"max_height"`
	// CRF is x264's constant rate factor, 0 (lossless) to 51; lower is
	// better and bigger. Defaults to 23.
	CRF *int `json:"crf"`
	// Preset is x264's speed/size trade-off, ultrafast to veryslow.
	// Defaults to veryfast.
	Preset string `json:"preset"`
	// Audio keeps the first audio track (as AAC). Defaults to true.
	Audio *bool `json:"audio"`
	// MaxFPS lowers the frame rate to at most this, 0 keeps it. Defaults
	// to 0.
	MaxFPS float64 `json:"max_fps"`
}

// Defaults of mp4Params.
const (
	mp4MaxWidthDefault  = 1920
	mp4MaxHeightDefault = 1080
	mp4CRFDefault       = 23
	mp4PresetDefault    = "veryfast"
)

func (p *mp4Params) check() error {
	if p.MaxWidth == 0 {
		p.MaxWidth = mp4MaxWidthDefault
	}
	if p.MaxHeight == 0 {
		p.MaxHeight = mp4MaxHeightDefault
	}
	if p.MaxWidth < 16 || p.MaxWidth > 7680 || p.MaxHeight < 16 || p.MaxHeight > 7680 {
		return errors.New("max_width and max_height must be from 16 to 7680")
	}
	if p.CRF == nil {
		crf := mp4CRFDefault
		p.CRF = &crf
	}
	if *p.CRF < 0 || *p.CRF > 51 {
		return errors.New("crf must be from 0 to 51")
	}
	if p.Preset == "" {
		p.Preset = mp4PresetDefault
	}
	// placebo is left out: it costs hours for nothing visible.
	presets := []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}
	if !slices.Contains(presets, p.Preset) {
		return fmt.Errorf("preset must be one of %s, not %q", strings.Join(presets, ", "), p.Preset)
	}
	if p.Audio == nil {
		keep := true
		p.Audio = &keep
	}
	if p.MaxFPS < 0 || p.MaxFPS > 240 {
		return errors.New("max_fps must be from 0 to 240")
	}
	return nil
}

// size is the output size for the video: within the box, turned to the
// video's orientation.
func (p *mp4Params) size(info *VideoInfo) (int, int) {
	maxW, maxH := p.MaxWidth, p.MaxHeight
	if (info.Height > info.Width) != (maxH > maxW) {
		maxW, maxH = maxH, maxW
	}
	return fitEven(info.Width, info.Height, maxW, maxH)
}

// clip is a part of the input: start and length in seconds, 0 length for
// all of it from start.
type clip struct{ start, length float64 }

// encodeMP4 encodes the clip of input to an MP4 and returns its bytes,
// reporting progress against the clip's length.
func (f *FFmpeg) encodeMP4(ctx context.Context, call *Call, input, dir string, info *VideoInfo, c clip, p *mp4Params) (Value, error) {
	var args []string
	if c.start > 0 {
		// Before -i: seek the input, then decode from the keyframe before
		// it and drop frames up to the exact time.
		args = append(args, "-ss", seconds(c.start))
	}
	if c.length > 0 {
		args = append(args, "-t", seconds(c.length))
	}
	args = append(args, untrustedInput(input)...)

	w, h := p.size(info)
	filter := fmt.Sprintf("scale=%d:%d:flags=bicubic,setsar=1,format=yuv420p", w, h)
	if p.MaxFPS > 0 && (info.FPS == 0 || info.FPS > p.MaxFPS) {
		filter = "fps=" + strconv.FormatFloat(p.MaxFPS, 'f', -1, 64) + "," + filter
	}
	args = append(args, "-map", "0:v:0", "-vf", filter,
		"-c:v", "libx264", "-preset", p.Preset, "-crf", strconv.Itoa(*p.CRF),
		"-profile:v", "high", "-pix_fmt", "yuv420p")
	if *p.Audio && info.HasAudio {
		args = append(args, "-map", "0:a:0", "-c:a", "aac", "-b:a", "128k", "-ac", "2")
	}
	out := filepath.Join(dir, "out.mp4")
	args = append(args, "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
		"-movflags", "+faststart", "-f", "mp4", "file:"+out)

	expected := c.length
	if rest := info.DurationSeconds - c.start; expected == 0 || (rest > 0 && rest < expected) {
		expected = rest
	}
	if err := f.runFFmpeg(ctx, args, time.Duration(expected*float64(time.Second)), call.Progress); err != nil {
		return Value{}, err
	}
	data, err := readOutput(out, "a video")
	if err != nil {
		return Value{}, err
	}
	return Value{Type: technique.TypeVideoURL, Data: data, ContentType: "video/mp4"}, nil
}
