package api

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/workspace"
)

// withoutFFmpeg serves the same stored techniques as a server on which
// ffmpeg and ffprobe are not installed.
func withoutFFmpeg(cfg *Config) {
	models := provider.Registry(provider.Config{})
	missing := processor.NewFFmpeg(processor.FFmpegConfig{LookPath: func(file string) (string, error) {
		return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
	}})
	for name, m := range processor.VideoModels(missing) {
		models[name] = m
	}
	db := cfg.Workspaces.Store
	lib := technique.NewLibrary(db, models, 0)
	cfg.Techniques = lib
	cfg.Runs = &run.Service{Store: db, Techniques: lib, CheckURL: func(string) error { return nil }}
}

// TestTechniquesWithoutFFmpeg: the catalog marks only the video
// techniques unavailable, saying why, and starting one is a 400 that says
// the same; nothing is created or charged.
func TestTechniquesWithoutFFmpeg(t *testing.T) {
	t.Parallel()
	b := setup(t, withoutFFmpeg)
	const reason = "ffmpeg is not installed on this server"

	bySlug := map[string]map[string]any{}
	for _, tech := range b.listTechniques(t, nil).Techniques {
		bySlug[tech["slug"].(string)] = tech
	}
	for _, slug := range []string{"video-poster", "video-preview"} {
		require.Contains(t, bySlug, slug)
		require.Equal(t, false, bySlug[slug]["available"], slug)
		require.Contains(t, bySlug[slug]["unavailable_reason"], reason, slug)
	}
	require.Equal(t, true, bySlug["portrait-enhancer"]["available"], "image techniques need no ffmpeg")
	require.NotContains(t, bySlug["portrait-enhancer"], "unavailable_reason")

	rec := b.do(t, http.MethodGet, "/api/v1/techniques/video-poster", "", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var one map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &one))
	require.Equal(t, false, one["available"])
	require.Contains(t, one["unavailable_reason"], reason)

	for _, slug := range []string{"video-poster", "video-preview"} {
		rec := b.do(t, http.MethodPost, "/api/v1/techniques/"+slug+"/runs",
			`{"mode": "async", "inputs": [{"id": "input_video", "type": "videoUrl", "value": "https://media.example/clip.mp4"}]}`, nil)
		require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
				Fields  []struct {
					Field   string `json:"field"`
					Message string `json:"message"`
				} `json:"fields"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
		require.Equal(t, "input_validation_error", e.Error.Code)
		require.Contains(t, e.Error.Message, reason)
		require.Len(t, e.Error.Fields, 1)
		require.Equal(t, "technique", e.Error.Fields[0].Field)
	}

	runs, err := b.store.RunList(t.Context(), &store.RunListParams{WorkspaceID: b.ws.WorkspaceID, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, runs, "a refused run is not created")
	balance, err := (&workspace.Service{Store: b.store}).Balance(t.Context(), b.ws.WorkspaceID)
	require.NoError(t, err)
	require.Equal(t, int64(100), balance, "nor paid for")
}
