package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/florad/florad/internal/technique"
)

// VideoInfo is what ffprobe says about a video's first video stream.
type VideoInfo struct {
	// DurationSeconds is 0 when the container does not say.
	DurationSeconds float64 `json:"duration_seconds"`
	// Width and Height are the size as displayed: rotation (phone videos)
	// and non-square pixels are applied, as ffmpeg applies them to frames.
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Codec  string `json:"codec"`
	// FPS is the average frame rate, 0 when unknown.
	FPS float64 `json:"fps"`
	// Rotation is the clockwise rotation the player applies, in degrees.
	Rotation   int    `json:"rotation,omitempty"`
	HasAudio   bool   `json:"has_audio"`
	AudioCodec string `json:"audio_codec,omitempty"`
	// Container is ffprobe's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
	Container string `json:"container"`
	BitRate   int64  `json:"bit_rate,omitempty"`
}

// Duration is DurationSeconds as a time.Duration.
func (i *VideoInfo) Duration() time.Duration {
	return time.Duration(i.DurationSeconds * float64(time.Second))
}

type probeReport struct {
	Streams []probeStream `json:"streams"`
	Format  struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
}

type probeStream struct {
	CodecType    string `json:"codec_type"`
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	SAR          string `json:"sample_aspect_ratio"`
	AvgFrameRate string `json:"avg_frame_rate"`
	RFrameRate   string `json:"r_frame_rate"`
	Duration     string `json:"duration"`
	Disposition  struct {
		AttachedPic int `json:"attached_pic"`
	} `json:"disposition"`
	Tags struct {
		Rotate string `json:"rotate"`
	} `json:"tags"`
	SideData []struct {
		Rotation *float64 `json:"rotation"`
	} `json:"side_data_list"`
}

// Probe describes the video in the file at path. Answers are remembered
// for the same file (path, size and modification time): the steps of a run
// all read the one file the engine downloaded, and each would otherwise
// start ffprobe on it again.
func (f *FFmpeg) Probe(ctx context.Context, path string) (*VideoInfo, error) {
	key, keyed := probeKeyOf(path)
	if keyed {
		if info, ok := f.probes.get(key); ok {
			return info, nil
		}
	}
	args := append([]string{"-print_format", "json", "-show_format", "-show_streams"}, untrustedInput(path)...)
	out, err := f.runFFprobe(ctx, args)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) && pe.Code == CodeInputInvalid {
			pe.Message = "The input is not a video this server can read."
		}
		return nil, err
	}
	info, err := parseProbe(out)
	if err == nil && keyed {
		f.probes.put(key, info)
	}
	return info, err
}

// probeCacheSize bounds the remembered probes; a few per running step is
// plenty.
const probeCacheSize = 64

type probeKey struct {
	path    string
	size    int64
	modTime int64
}

func probeKeyOf(path string) (probeKey, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return probeKey{}, false
	}
	return probeKey{path: path, size: fi.Size(), modTime: fi.ModTime().UnixNano()}, true
}

// probeCache is a small first-in-first-out memory of probes.
type probeCache struct {
	mu      sync.Mutex
	entries map[probeKey]VideoInfo
	order   []probeKey
}

func (c *probeCache) get(k probeKey) (*VideoInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ok := c.entries[k]
	return &info, ok
}

func (c *probeCache) put(k probeKey, info *VideoInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[probeKey]VideoInfo{}
	}
	if _, ok := c.entries[k]; !ok {
		c.order = append(c.order, k)
	}
	c.entries[k] = *info
	if len(c.order) > probeCacheSize {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
}

func parseProbe(out []byte) (*VideoInfo, error) {
	var r probeReport
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("error reading ffprobe report: %w", err)
	}
	info := &VideoInfo{Container: r.Format.FormatName}
	info.BitRate, _ = strconv.ParseInt(r.Format.BitRate, 10, 64)
	var video *probeStream
	for i := range r.Streams {
		s := &r.Streams[i]
		switch {
		case s.CodecType == "audio" && !info.HasAudio:
			info.HasAudio, info.AudioCodec = true, s.CodecName
		case s.CodecType == "video" && video == nil && s.Disposition.AttachedPic == 0:
			// Cover art in an audio file is a one-frame "video" stream.
			video = s
		}
	}
	if video == nil || video.Width <= 0 || video.Height <= 0 {
		return nil, Permanent(CodeInputInvalid, "The input has no video stream.", errors.New("ffprobe found no video stream"))
	}
	info.Codec = video.CodecName
	info.DurationSeconds = parseSeconds(r.Format.Duration)
	if info.DurationSeconds == 0 {
		info.DurationSeconds = parseSeconds(video.Duration)
	}
	info.FPS = parseRate(video.AvgFrameRate)
	if info.FPS == 0 {
		info.FPS = parseRate(video.RFrameRate)
	}
	w, h := video.Width, video.Height
	if sar := parseRate(video.SAR); sar > 0 && sar != 1 {
		w = int(math.Round(float64(w) * sar))
	}
	info.Rotation = rotationOf(video)
	if info.Rotation == 90 || info.Rotation == 270 {
		w, h = h, w
	}
	info.Width, info.Height = w, h
	return info, nil
}

// rotationOf returns the clockwise display rotation, 0, 90, 180 or 270.
// ffprobe reports the display matrix's angle counter-clockwise (-90 for a
// phone held upright); old files carry a "rotate" tag instead.
func rotationOf(s *probeStream) int {
	deg := 0.0
	found := false
	for _, sd := range s.SideData {
		if sd.Rotation != nil {
			deg, found = -*sd.Rotation, true
			break
		}
	}
	if !found && s.Tags.Rotate != "" {
		if v, err := strconv.ParseFloat(s.Tags.Rotate, 64); err == nil {
			deg = v
		}
	}
	r := int(math.Round(deg/90)) * 90 % 360
	if r < 0 {
		r += 360
	}
	return r
}

func parseSeconds(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// parseRate reads ffprobe's "num/den" (or "num:den") ratios; 0 when
// unknown ("0/0", "N/A").
func parseRate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		num, den, ok = strings.Cut(s, ":")
	}
	if !ok {
		return 0
	}
	n, err1 := strconv.ParseFloat(num, 64)
	d, err2 := strconv.ParseFloat(den, 64)
	if err1 != nil || err2 != nil || d == 0 || n <= 0 {
		return 0
	}
	return n / d
}

// VideoProbe reports a video's duration, size, codec, frame rate and audio
// as JSON on its text output "info" (the fields of VideoInfo).
type VideoProbe struct{ FF *FFmpeg }

func (VideoProbe) InputPorts() []technique.Port { return videoInputPorts() }

func (VideoProbe) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "info", Type: technique.TypeText}}
}

func (m VideoProbe) Unavailable() string { return m.FF.Unavailable() }

// CheckParams accepts no parameters.
func (VideoProbe) CheckParams(params map[string]any) error {
	return decodeParams(params, &struct{}{})
}

func (m VideoProbe) Run(ctx context.Context, call *Call) (map[string]Value, error) {
	var out map[string]Value
	err := m.FF.withVideo(call, func(path, _ string) error {
		info, err := m.FF.Probe(ctx, path)
		if err != nil {
			return err
		}
		b, err := json.Marshal(info)
		if err != nil {
			return fmt.Errorf("error encoding video info: %w", err)
		}
		out = map[string]Value{"info": {Type: technique.TypeText, Text: string(b)}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	call.progress(1)
	return out, nil
}
