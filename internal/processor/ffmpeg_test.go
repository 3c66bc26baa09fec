package processor

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReadProgress(t *testing.T) {
	t.Parallel()

	// Two blocks as ffmpeg writes them, with the N/A of a start, a
	// repeated value and an overshoot past the expected length (a clip
	// may end a frame late).
	stream := strings.Join([]string{
		"frame=0", "out_time_us=N/A", "progress=continue",
		"frame=12", "out_time_us=500000", "out_time=00:00:00.500000", "progress=continue",
		"frame=12", "out_time_us=500000", "progress=continue",
		"frame=25", "out_time_us=1000000", "progress=continue",
		"frame=60", "out_time_us=2500000", "progress=end",
	}, "\n")
	var got []float64
	readProgress(strings.NewReader(stream), 2*time.Second, func(f float64) { got = append(got, f) })
	require.Equal(t, []float64{0.25, 0.5, 0.99}, got)

	got = nil
	readProgress(strings.NewReader(stream), 0, func(f float64) { got = append(got, f) })
	require.Empty(t, got, "no expected length, no in-step progress")
	readProgress(strings.NewReader(stream), time.Second, nil) // must not panic
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	t.Parallel()

	b := &tailBuffer{max: 16}
	_, _ = b.Write([]byte("first line that is long\n"))
	_, _ = b.Write([]byte("x: err\nlast\n"))
	require.LessOrEqual(t, len(b.b), 16)
	require.Equal(t, "x: err | last", b.lastLines(2))
	require.Equal(t, "(no error output)", (&tailBuffer{max: 8}).lastLines(3))
}

func TestFitEven(t *testing.T) {
	t.Parallel()

	tests := []struct{ w, h, maxW, maxH, wantW, wantH int }{
		{1920, 1080, 1280, 720, 1280, 720},
		{640, 480, 1920, 1080, 640, 480},    // never up
		{641, 481, 0, 0, 640, 480},          // even sides
		{1080, 1920, 1920, 1080, 606, 1080}, // height bound
		{4000, 10, 100, 0, 100, 2},          // at least 2
	}
	for _, tt := range tests {
		w, h := fitEven(tt.w, tt.h, tt.maxW, tt.maxH)
		require.Equal(t, [2]int{tt.wantW, tt.wantH}, [2]int{w, h}, "%+v", tt)
	}
}

func TestMP4SizeTurnsTheBox(t *testing.T) {
	t.Parallel()

	p := &mp4Params{}
	require.NoError(t, p.check())
	tests := []struct{ w, h, wantW, wantH int }{
		{3840, 2160, 1920, 1080}, // landscape 4K into 1920×1080
		{2160, 3840, 1080, 1920}, // portrait 4K into 1080×1920
		{1080, 1920, 1080, 1920}, // portrait HD stays
		{2000, 2000, 1080, 1080}, // square: the short side bounds
	}
	for _, tt := range tests {
		w, h := p.size(&VideoInfo{Width: tt.w, Height: tt.h})
		require.Equal(t, [2]int{tt.wantW, tt.wantH}, [2]int{w, h}, "%dx%d", tt.w, tt.h)
	}
}

func TestParseProbe(t *testing.T) {
	t.Parallel()

	report := `{"streams":[
		{"codec_type":"video","codec_name":"mjpeg","width":600,"height":600,"disposition":{"attached_pic":1}},
		{"codec_type":"audio","codec_name":"opus"},
		{"codec_type":"video","codec_name":"hevc","width":1920,"height":1080,"sample_aspect_ratio":"1:1",
		 "avg_frame_rate":"30000/1001","r_frame_rate":"30/1","duration":"9.5",
		 "side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}],
		"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"10.010000","bit_rate":"8000000"}}`
	info, err := parseProbe([]byte(report))
	require.NoError(t, err)
	require.Equal(t, &VideoInfo{DurationSeconds: 10.01, Width: 1080, Height: 1920, Codec: "hevc", FPS: 30000.0 / 1001,
		Rotation: 90, HasAudio: true, AudioCodec: "opus", Container: "mov,mp4,m4a,3gp,3g2,mj2", BitRate: 8000000}, info)

	// Anamorphic DVD video: 720 stored pixels shown 16:9 wide.
	info, err = parseProbe([]byte(`{"streams":[{"codec_type":"video","codec_name":"mpeg2video","width":720,"height":576,
		"sample_aspect_ratio":"64:45","avg_frame_rate":"0/0","r_frame_rate":"25/1","tags":{"rotate":"180"}}],"format":{"duration":"N/A"}}`))
	require.NoError(t, err)
	require.Equal(t, 1024, info.Width)
	require.Equal(t, 576, info.Height)
	require.InDelta(t, 25.0, info.FPS, 0)
	require.Equal(t, 180, info.Rotation)
	require.Zero(t, info.DurationSeconds)

	_, err = parseProbe([]byte(`{"streams":[{"codec_type":"audio","codec_name":"mp3"}],"format":{}}`))
	pe := AsError(err)
	require.Equal(t, CodeInputInvalid, pe.Code)
	require.Equal(t, "The input has no video stream.", pe.Message)
}

func TestExitErrorClassifies(t *testing.T) {
	t.Parallel()

	exit1 := exec.Command("sh", "-c", "exit 1").Run()
	require.Error(t, exit1)
	f := &FFmpeg{}
	tail := func(s string) *tailBuffer {
		b := &tailBuffer{max: 1024}
		_, _ = b.Write([]byte(s))
		return b
	}

	pe := AsError(f.exitError(t.Context(), "ffmpeg", exit1, tail("/tmp/florad-video-1/input: Invalid data found when processing input\n")))
	require.Equal(t, CodeInputInvalid, pe.Code)
	require.False(t, pe.Transient)
	require.NotContains(t, pe.Message, "/tmp", "scratch paths stay in the log")
	require.ErrorContains(t, pe, "Invalid data found", "ffmpeg's words reach the log")

	pe = AsError(f.exitError(t.Context(), "ffmpeg", exit1, tail("av_interleaved_write_frame(): No space left on device\n")))
	require.Equal(t, CodeInternalError, pe.Code)
	require.True(t, pe.Transient, "a full disk is not the input's fault")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, f.exitError(ctx, "ffmpeg", exit1, tail("")), context.Canceled)
	require.NoError(t, f.exitError(t.Context(), "ffmpeg", nil, tail("")))
}
