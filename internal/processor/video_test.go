package processor_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/gif"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/techniques"
)

// TestVideoModels runs the models on one generated video, made once:
// starting ffmpeg costs close to a second in some sandboxes, so the tests
// count their ffmpeg runs.
func TestVideoModels(t *testing.T) {
	t.Parallel()
	in := makeVideo(t, videoSpec{width: 320, height: 240, seconds: 4, fps: 25, audio: true})
	ff, scratch := newFFmpeg(t)
	t.Cleanup(func() { requireNoScratchLeft(t, scratch) })

	t.Run("Probe", func(t *testing.T) {
		t.Parallel()
		var progress progressLog
		out, err := run(t, processor.VideoProbe{FF: ff}, videoAt(in), nil, progress.add)
		require.NoError(t, err)
		require.Equal(t, technique.TypeText, out["info"].Type)
		var info processor.VideoInfo
		require.NoError(t, json.Unmarshal([]byte(out["info"].Text), &info))
		require.InDelta(t, 4.0, info.DurationSeconds, 0.1)
		require.Equal(t, 320, info.Width)
		require.Equal(t, 240, info.Height)
		require.Equal(t, "h264", info.Codec)
		require.InDelta(t, 25.0, info.FPS, 0.01)
		require.Zero(t, info.Rotation)
		require.True(t, info.HasAudio)
		require.Equal(t, "aac", info.AudioCodec)
		require.Contains(t, info.Container, "mp4")
		progress.requireGrowsToOne(t, 1)
	})

	t.Run("PosterScaledPNGFromBytesPastTheEnd", func(t *testing.T) {
		t.Parallel()
		// Bytes in memory, as an earlier step's output arrives; a time
		// past the end takes one of the last frames.
		var progress progressLog
		out, err := run(t, processor.VideoPoster{FF: ff}, videoBytes(t, in),
			map[string]any{"at": 3600, "width": 160, "format": "png"}, progress.add)
		require.NoError(t, err)
		img := out["image"]
		require.Equal(t, technique.TypeImageURL, img.Type)
		require.Equal(t, "image/png", img.ContentType)
		cfg, format, err := image.DecodeConfig(bytes.NewReader(img.Data))
		require.NoError(t, err)
		require.Equal(t, "png", format)
		require.Equal(t, [2]int{160, 120}, [2]int{cfg.Width, cfg.Height})
		progress.requireGrowsToOne(t, 2)
	})

	t.Run("ThumbnailGridWithPadding", func(t *testing.T) {
		t.Parallel()
		out, err := run(t, processor.VideoThumbnails{FF: ff}, videoAt(in),
			map[string]any{"count": 3, "columns": 2, "width": 80, "padding": 2, "format": "png"}, nil)
		require.NoError(t, err)
		img, _, err := image.Decode(bytes.NewReader(out["image"].Data))
		require.NoError(t, err)
		// Two columns of 80, two rows of 60, 2 pixels between and around.
		require.Equal(t, [2]int{2*80 + 3*2, 2*60 + 3*2}, [2]int{img.Bounds().Dx(), img.Bounds().Dy()})
		first, third := image.Rect(2, 2, 82, 62), image.Rect(2, 64, 82, 124)
		require.Greater(t, meanAbsDiff(img, first, third), 5.0, "frames from different times must differ")
		require.Less(t, meanLevel(img, image.Rect(84, 64, 164, 124)), 2.0, "the grid's unused fourth cell is black")
		require.Greater(t, meanLevel(img, third), 20.0)
	})

	t.Run("TrimExactClip", func(t *testing.T) {
		t.Parallel()
		var progress progressLog
		out, err := run(t, processor.VideoTrim{FF: ff}, videoAt(in),
			map[string]any{"start": 1.0, "duration": 2.0, "preset": "ultrafast"}, progress.add)
		require.NoError(t, err)
		v := out["video"]
		require.Equal(t, technique.TypeVideoURL, v.Type)
		require.Equal(t, "video/mp4", v.ContentType)
		p := probeData(t, v.Data, "mp4")
		require.InDelta(t, 2.0, p.Duration, 0.15)
		require.Equal(t, "h264", p.Codec)
		require.Equal(t, "yuv420p", p.PixFmt)
		require.True(t, p.HasAudio)
		require.InDelta(t, 50, p.Frames, 2, "two seconds at 25 fps")
		progress.requireGrowsToOne(t, 1)
	})

	t.Run("TrimStartPastTheEndIsInputInvalid", func(t *testing.T) {
		t.Parallel()
		_, err := run(t, processor.VideoTrim{FF: ff}, videoAt(in), map[string]any{"start": 10.0, "duration": 1.0}, nil)
		pe := processor.AsError(err)
		require.Equal(t, processor.CodeInputInvalid, pe.Code)
		require.False(t, pe.Transient)
		require.Equal(t, "The clip starts at 10.000 s but the video is only 4.000 s long.", pe.Message)
	})

	t.Run("PreviewAnimatedWebP", func(t *testing.T) {
		t.Parallel()
		out, err := run(t, processor.VideoPreview{FF: ff}, videoAt(in),
			map[string]any{"format": "webp", "start": 2, "duration": 5, "fps": 5, "width": 160, "quality": 60}, nil)
		require.NoError(t, err)
		img := out["image"]
		require.Equal(t, "image/webp", img.ContentType)
		frames, animated := webpFrames(t, img.Data)
		require.True(t, animated, "the VP8X header must flag an animation")
		require.InDelta(t, 10, frames, 1, "the two seconds left at 5 fps")
	})

	t.Run("RotatedVideoIsTakenUpright", func(t *testing.T) {
		t.Parallel()
		// Encoding drops a rotate tag; a stream copy keeps it, as the
		// display matrix phones write.
		rotated := filepath.Join(t.TempDir(), "rotated.mp4")
		ffmpegCmd(t, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", in, "-c", "copy",
			"-metadata:s:v:0", "rotate=90", rotated)
		info, err := ff.Probe(t.Context(), rotated)
		require.NoError(t, err)
		require.Contains(t, []int{90, 270}, info.Rotation)
		require.Equal(t, [2]int{240, 320}, [2]int{info.Width, info.Height}, "a quarter turn swaps the sides")

		// The poster comes out upright, at the size the probe promised.
		out, err := run(t, processor.VideoPoster{FF: ff}, videoAt(rotated), nil, nil)
		require.NoError(t, err)
		cfg, _, err := image.DecodeConfig(bytes.NewReader(out["image"].Data))
		require.NoError(t, err)
		require.Equal(t, [2]int{240, 320}, [2]int{cfg.Width, cfg.Height})
		_, err = os.Stat(rotated)
		require.NoError(t, err, "the engine owns the input file; a model must not remove it")
	})

	// The built-in techniques' own steps, with the parameters the catalog
	// ships: what their descriptions promise is what they do.
	reg := processor.Builtin()
	for name, m := range processor.VideoModels(ff) {
		reg[name] = m
	}
	catalog, err := technique.LoadDir(techniques.FS, ".", withProviders(reg))
	require.NoError(t, err)
	checks := map[string]func(t *testing.T, v processor.Value, progress []float64){
		"video-poster/poster": func(t *testing.T, v processor.Value, _ []float64) {
			cfg, format, err := image.DecodeConfig(bytes.NewReader(v.Data))
			require.NoError(t, err)
			require.Equal(t, "jpeg", format)
			require.Equal(t, "image/jpeg", v.ContentType)
			require.Equal(t, [2]int{320, 240}, [2]int{cfg.Width, cfg.Height}, "the video's own size")
		},
		"video-poster/strip": func(t *testing.T, v processor.Value, _ []float64) {
			img, format, err := image.Decode(bytes.NewReader(v.Data))
			require.NoError(t, err)
			require.Equal(t, "jpeg", format)
			require.Equal(t, [2]int{6 * 240, 180}, [2]int{img.Bounds().Dx(), img.Bounds().Dy()})
			require.Greater(t, meanAbsDiff(img, image.Rect(0, 0, 240, 180), image.Rect(5*240, 0, 6*240, 180)), 5.0)
		},
		"video-preview/animation": func(t *testing.T, v processor.Value, _ []float64) {
			require.Equal(t, "image/gif", v.ContentType)
			g, err := gif.DecodeAll(bytes.NewReader(v.Data))
			require.NoError(t, err)
			require.InDelta(t, 30, len(g.Image), 2, "three seconds at 10 fps")
			require.Equal(t, 0, g.LoopCount, "loops forever")
			require.Equal(t, [2]int{320, 240}, [2]int{g.Config.Width, g.Config.Height})
		},
		"video-preview/clip": func(t *testing.T, v processor.Value, progress []float64) {
			require.Equal(t, "video/mp4", v.ContentType)
			p := probeData(t, v.Data, "mp4")
			require.InDelta(t, 4.0, p.Duration, 0.15, "5 seconds asked of a 4-second video")
			require.Equal(t, "h264", p.Codec)
			require.Equal(t, [2]int{320, 240}, [2]int{p.Width, p.Height})
			require.True(t, p.HasAudio)
			moov, mdat := topLevelBoxIndex(t, v.Data, "moov"), topLevelBoxIndex(t, v.Data, "mdat")
			require.Less(t, moov, mdat, "faststart puts the index before the media")
		},
	}
	for _, slug := range []string{"video-poster", "video-preview"} {
		tech, ok := catalog.Get(slug)
		require.True(t, ok, slug)
		require.Empty(t, tech.Unavailable)
		for _, s := range tech.Steps {
			check := checks[slug+"/"+s.ID]
			require.NotNil(t, check, "no check for %s step %s", slug, s.ID)
			t.Run("Builtin/"+slug+"/"+s.ID, func(t *testing.T) {
				t.Parallel()
				var progress progressLog
				out, err := run(t, reg[s.Model], videoAt(in), s.Params, progress.add)
				require.NoError(t, err)
				require.Len(t, out, 1)
				progress.requireGrowsToOne(t, 1)
				for _, v := range out {
					check(t, v, progress.values())
				}
			})
		}
	}
}

// meanLevel is the mean 8-bit level of a region over R, G and B.
func meanLevel(img image.Image, r image.Rectangle) float64 {
	var sum float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			sum += float64(cr+cg+cb) / 3 / 257
		}
	}
	return sum / float64(r.Dx()*r.Dy())
}

// meanAbsDiff compares two same-sized regions of img, in 8-bit levels.
func meanAbsDiff(img image.Image, a, b image.Rectangle) float64 {
	var sum float64
	n := 0
	for y := range a.Dy() {
		for x := range a.Dx() {
			r1, g1, b1, _ := img.At(a.Min.X+x, a.Min.Y+y).RGBA()
			r2, g2, b2, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			for _, d := range []int{int(r1) - int(r2), int(g1) - int(g2), int(b1) - int(b2)} {
				sum += float64(max(d, -d)) / 257
				n++
			}
		}
	}
	return sum / float64(n)
}

func TestVideoTranscode(t *testing.T) {
	t.Parallel()
	// MPEG-4 Part 2 in Matroska: neither the codec nor the container of
	// the output.
	in := makeVideo(t, videoSpec{width: 640, height: 480, seconds: 2, fps: 25, audio: true, codec: "mpeg4", ext: "mkv"})

	ff, scratch := newFFmpeg(t)
	var progress progressLog
	out, err := run(t, processor.VideoTranscode{FF: ff}, videoAt(in),
		map[string]any{"max_width": 320, "max_height": 320, "preset": "ultrafast", "max_fps": 10}, progress.add)
	require.NoError(t, err)
	v := out["video"]
	require.Equal(t, "video/mp4", v.ContentType)
	p := probeData(t, v.Data, "mp4")
	require.Equal(t, "h264", p.Codec)
	require.Equal(t, "yuv420p", p.PixFmt)
	require.Equal(t, [2]int{320, 240}, [2]int{p.Width, p.Height}, "fit in the box, aspect kept")
	require.InDelta(t, 2.0, p.Duration, 0.15)
	require.InDelta(t, 20, p.Frames, 2, "max_fps 10 over two seconds")
	require.True(t, p.HasAudio)
	moov, mdat := topLevelBoxIndex(t, v.Data, "moov"), topLevelBoxIndex(t, v.Data, "mdat")
	require.Less(t, moov, mdat, "faststart puts the index before the media")
	progress.requireGrowsToOne(t, 1)
	requireNoScratchLeft(t, scratch)
}

// topLevelBoxIndex returns the position of an MP4's top-level box.
func topLevelBoxIndex(t *testing.T, data []byte, typ string) int {
	t.Helper()
	for off := 0; off+8 <= len(data); {
		size := int(binary.BigEndian.Uint32(data[off:]))
		if string(data[off+4:off+8]) == typ {
			return off
		}
		if size == 1 && off+16 <= len(data) { // 64-bit size
			size = int(binary.BigEndian.Uint64(data[off+8:]))
		}
		require.GreaterOrEqual(t, size, 8, "malformed box at %d", off)
		off += size
	}
	t.Fatalf("no %s box", typ)
	return -1
}

// webpFrames counts the ANMF chunks of a WebP and reads the animation
// flag of its VP8X chunk.
func webpFrames(t *testing.T, data []byte) (frames int, animated bool) {
	t.Helper()
	require.GreaterOrEqual(t, len(data), 12)
	require.Equal(t, "RIFF", string(data[:4]))
	require.Equal(t, "WEBP", string(data[8:12]))
	for off := 12; off+8 <= len(data); {
		typ := string(data[off : off+4])
		size := int(binary.LittleEndian.Uint32(data[off+4:]))
		switch typ {
		case "VP8X":
			animated = data[off+8]&0x02 != 0
		case "ANMF":
			frames++
		}
		off += 8 + size + size%2
	}
	return frames, animated
}

func TestVideoModelsRefuseWhatIsNotAVideo(t *testing.T) {
	t.Parallel()
	requireFFmpeg(t)
	ff, scratch := newFFmpeg(t)

	// Every model probes its input first, so the probe model stands for
	// all of them, and one other model shows the error comes through.
	tests := map[string]struct {
		model  processor.Processor
		params map[string]any
		data   []byte
	}{
		"text":      {model: processor.VideoProbe{FF: ff}, data: []byte("this is not a video at all, just words\n")},
		"png image": {model: processor.VideoProbe{FF: ff}, data: pngOf(t, 16, 16)},
		// An HLS playlist naming a local file: ffmpeg would read the file
		// if the playlist's demuxer were allowed.
		"playlist": {model: processor.VideoProbe{FF: ff},
			data: []byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")},
		"truncated mp4": {model: processor.VideoProbe{FF: ff}, data: []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00")},
		"text to trim":  {model: processor.VideoTrim{FF: ff}, params: map[string]any{"duration": 1}, data: []byte("not a video")},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := run(t, tt.model, map[string]processor.Value{"video": {Type: technique.TypeVideoURL, Data: tt.data}}, tt.params, nil)
			pe := processor.AsError(err)
			require.Equal(t, processor.CodeInputInvalid, pe.Code, "%v", err)
			require.False(t, pe.Transient)
			require.Equal(t, "The input is not a video this server can read.", pe.Message)
			require.NotContains(t, err.Error(), "ffprobe: signal", "ffprobe refused it; it did not crash")
		})
	}

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		_, err := run(t, processor.VideoPoster{FF: ff}, map[string]processor.Value{}, nil, nil)
		pe := processor.AsError(err)
		require.Equal(t, processor.CodeInputInvalid, pe.Code)
		require.Equal(t, "The video input is empty.", pe.Message)
	})
	t.Cleanup(func() { requireNoScratchLeft(t, scratch) })
}

func TestVideoModelsCheckParams(t *testing.T) {
	t.Parallel()
	ff := processor.NewFFmpeg(processor.FFmpegConfig{})
	m := processor.VideoModels(ff)

	tests := []struct {
		model   string
		params  map[string]any
		wantErr string
	}{
		{"video.probe", map[string]any{"x": 1}, `unknown field "x"`},
		{"video.poster", map[string]any{"at": -1}, "at must not be negative"},
		{"video.poster", map[string]any{"format": "gif"}, "format must be jpeg or png"},
		{"video.poster", map[string]any{"quality": 101}, "quality must be from 1 to 100"},
		{"video.poster", map[string]any{"at": "soon"}, "at: must be float64"},
		{"video.thumbnails", map[string]any{"count": 61}, "count must be from 1 to 60"},
		{"video.thumbnails", map[string]any{"count": 4, "columns": 5}, "columns must be from 1 to count"},
		{"video.thumbnails", map[string]any{"width": 8}, "width must be from 16 to 1920"},
		{"video.trim", nil, "duration is required"},
		{"video.trim", map[string]any{"duration": 1, "start": -2}, "start must not be negative"},
		{"video.trim", map[string]any{"duration": 1, "preset": "warp"}, "preset must be one of ultrafast"},
		{"video.transcode", map[string]any{"crf": 52}, "crf must be from 0 to 51"},
		{"video.transcode", map[string]any{"max_width": 8}, "max_width and max_height must be from 16 to 7680"},
		{"video.transcode", map[string]any{"bitrate": "2M"}, `unknown field "bitrate"`},
		{"video.preview", map[string]any{"format": "apng"}, "format must be gif or webp"},
		{"video.preview", map[string]any{"duration": 31}, "duration must be more than 0 and at most 30 seconds"},
		{"video.preview", map[string]any{"fps": 60}, "fps must be from 1 to 30"},
		{"video.preview", map[string]any{"quality": 50}, "quality only applies to webp"},
	}
	for _, tt := range tests {
		require.ErrorContains(t, m[tt.model].CheckParams(tt.params), tt.wantErr, "%s %v", tt.model, tt.params)
	}
	for _, ok := range []struct {
		model  string
		params map[string]any
	}{
		{"video.probe", nil},
		{"video.poster", nil},
		{"video.thumbnails", nil},
		{"video.trim", map[string]any{"duration": 5}},
		{"video.transcode", nil},
		{"video.preview", map[string]any{"format": "webp", "quality": 50}},
	} {
		require.NoError(t, m[ok.model].CheckParams(ok.params), "%s %v", ok.model, ok.params)
	}
}
