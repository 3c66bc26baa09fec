package processor_test

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/techniques"
)

// lookPathWithout simulates a server where the named programs are not
// installed; the others are found where exec.LookPath finds them.
func lookPathWithout(missing ...string) func(string) (string, error) {
	return func(file string) (string, error) {
		for _, m := range missing {
			if file == m {
				return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
			}
		}
		return "/usr/bin/" + file, nil
	}
}

// registryWithout is the built-in registry on a server missing programs.
func registryWithout(missing ...string) processor.Registry {
	reg := processor.Builtin()
	for name, m := range processor.VideoModels(processor.NewFFmpeg(processor.FFmpegConfig{LookPath: lookPathWithout(missing...)})) {
		reg[name] = m
	}
	return withProviders(reg)
}

// withProviders adds the provider models (unconfigured, so unavailable) the
// built-in catalog also names, as the server does.
func withProviders(reg processor.Registry) processor.Registry {
	for name, m := range provider.Models(provider.Config{}) {
		reg[name] = m
	}
	return reg
}

func TestFFmpegMissing(t *testing.T) {
	t.Parallel()

	tests := map[string]struct {
		missing []string
		want    string
	}{
		"nothing missing": {nil, ""},
		"ffmpeg":          {[]string{"ffmpeg"}, "ffmpeg is not installed on this server"},
		"ffprobe":         {[]string{"ffprobe"}, "ffprobe is not installed on this server"},
		"both":            {[]string{"ffmpeg", "ffprobe"}, "ffmpeg is not installed on this server (neither ffmpeg nor ffprobe was found)"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ff := processor.NewFFmpeg(processor.FFmpegConfig{LookPath: lookPathWithout(tt.missing...)})
			require.Equal(t, tt.want, ff.Unavailable())
			for name, m := range processor.VideoModels(ff) {
				require.Equal(t, tt.want, m.Unavailable(), name)
			}
		})
	}
}

// TestCatalogWithoutFFmpeg: only the techniques that need ffmpeg become
// unavailable, with the reason the API shows; the server still loads.
func TestCatalogWithoutFFmpeg(t *testing.T) {
	t.Parallel()

	c, err := technique.LoadDir(techniques.FS, ".", registryWithout("ffmpeg", "ffprobe"))
	require.NoError(t, err, "a missing ffmpeg must not stop the catalog from loading")

	video := 0
	for _, tech := range c.All() {
		usesVideo, usesProvider := false, false
		for _, s := range tech.Steps {
			if _, ok := processor.VideoModels(processor.NewFFmpeg(processor.FFmpegConfig{}))[s.Model]; ok {
				usesVideo = true
			}
			if _, ok := provider.Models(provider.Config{})[s.Model]; ok {
				usesProvider = true
			}
		}
		switch {
		case usesVideo:
			video++
			require.Contains(t, tech.Unavailable, "ffmpeg is not installed on this server", tech.Slug)
		case usesProvider:
			// Unavailable for want of its provider, which is not ffmpeg.
			require.NotContains(t, tech.Unavailable, "ffmpeg", tech.Slug)
		default:
			require.Empty(t, tech.Unavailable, "%s needs no ffmpeg and must stay available", tech.Slug)
		}
	}
	require.GreaterOrEqual(t, video, 2, "video-poster and video-preview")
	for _, slug := range []string{"video-poster", "video-preview"} {
		tech, ok := c.Get(slug)
		require.True(t, ok, slug)
		require.NotEmpty(t, tech.Unavailable, slug)
	}
}

// TestVideoModelWithoutFFmpegFailsCleanly: should a run reach a step
// anyway (a technique loaded while ffmpeg was there), the step fails with
// a permanent error instead of executing an empty path.
func TestVideoModelWithoutFFmpegFailsCleanly(t *testing.T) {
	t.Parallel()

	ff := processor.NewFFmpeg(processor.FFmpegConfig{LookPath: lookPathWithout("ffmpeg", "ffprobe")})
	for name, m := range processor.VideoModels(ff) {
		params := map[string]any{}
		if name == "video.trim" {
			params["duration"] = 1
		}
		_, err := m.Run(t.Context(), &processor.Call{
			Inputs: map[string]processor.Value{"video": {Type: technique.TypeVideoURL, Data: []byte("x")}},
			Params: params,
		})
		pe := processor.AsError(err)
		require.False(t, pe.Transient, name)
		require.Contains(t, pe.Message, "ffmpeg is not installed on this server", name)
	}
}
