package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
)

// insertRun stores a run of the bundle's workspace; finish, when given,
// ends it.
func (b *testBundle) insertRun(t *testing.T, slug string, inputs []store.RunInput, credits int64, finish *store.RunFinishParams) *store.Run {
	t.Helper()
	ctx := t.Context()
	now := time.UnixMilli(1_760_000_000_000)
	var r *store.Run
	require.NoError(t, b.store.InTx(ctx, func(tx store.Tx) error {
		var err error
		r, err = tx.RunInsert(ctx, &store.RunInsertParams{ID: ident.New("run_", now), WorkspaceID: b.ws.WorkspaceID,
			TechniqueID: "tech_" + slug, TechniqueSlug: slug, TechniqueVersion: "v", Inputs: inputs, Mode: "async",
			Fingerprint: "fp", Credits: credits, CreatedAt: now.UnixMilli(), JobID: 1})
		if err != nil || finish == nil {
			return err
		}
		if _, _, err = tx.RunStart(ctx, &store.RunStartParams{RunID: r.ID, JobID: 1, At: now.UnixMilli() + 10}); err != nil {
			return err
		}
		finish.RunID, finish.At = r.ID, now.UnixMilli()+20
		if r, err = tx.RunFinish(ctx, finish); err != nil {
			return err
		}
		// The run service writes an ended run's final event with its end;
		// streams of this run stop at it.
		typ := run.EventFailed
		if r.Status == store.RunCompleted {
			typ = run.EventCompleted
		}
		data, err := json.Marshal(run.Delta{RunID: r.ID, Status: r.Status, CompletedAt: r.CompletedAt,
			ChargedCredits: r.ChargedCredits, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage})
		if err != nil {
			return err
		}
		_, err = tx.RunEventInsert(ctx, &store.RunEventInsertParams{RunID: r.ID, Type: typ, Data: data,
			CreatedAt: finish.At, Final: true})
		return err
	}))
	return r
}

func keys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

func (b *testBundle) getRun(t *testing.T, path, version string) (map[string]any, *http.Response) {
	t.Helper()
	h := http.Header{}
	if version != "" {
		h.Set("Flora-Version", version)
	}
	rec := b.do(t, http.MethodGet, path, "", h)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var out map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	return out, rec.Result()
}

func TestRunJSONSnakeAndCamel(t *testing.T) {
	t.Parallel()
	b := setup(t)

	key := "runs/x/enhance/image.jpg"
	_, err := b.blobs.Put(t.Context(), key, strings.NewReader("jpeg bytes"), "image/jpeg")
	require.NoError(t, err)
	charged := int64(5)
	r := b.insertRun(t, "portrait-enhancer",
		[]store.RunInput{{ID: "input_image", Type: "imageUrl", Value: "https://example.com/a.jpg"}}, 5,
		&store.RunFinishParams{Status: store.RunCompleted, ChargedCredits: &charged,
			Outputs: []store.RunOutput{{ID: "output_image", Type: "imageUrl", BlobKey: key, ContentType: "image/jpeg", Size: 10}}})
	path := "/api/v1/techniques/portrait-enhancer/runs/" + r.ID

	snake, _ := b.getRun(t, path, "")
	require.Equal(t, []string{"charged_cost", "charged_credits", "completed_at", "created_at", "outputs", "poll_url",
		"progress", "run_id", "started_at", "status", "technique_id"}, keys(snake))
	require.Equal(t, r.ID, snake["run_id"])
	require.Equal(t, "tech_portrait-enhancer", snake["technique_id"])
	require.Equal(t, "completed", snake["status"])
	require.InDelta(t, 100, snake["progress"], 0)
	require.InDelta(t, 0.005, snake["charged_cost"], 1e-12)
	require.InDelta(t, 5, snake["charged_credits"], 0)
	require.InDelta(t, 1_760_000_000_000, snake["created_at"], 0)
	require.InDelta(t, 1_760_000_000_020, snake["completed_at"], 0)
	require.Equal(t, publicURL+path, snake["poll_url"])
	outs := snake["outputs"].([]any)
	require.Len(t, outs, 1)
	out := outs[0].(map[string]any)
	require.Equal(t, []string{"expires_at", "output_id", "type", "url"}, keys(out))
	require.Nil(t, out["expires_at"], "null: this server keeps files (no retention)")
	require.Equal(t, "output_image", out["output_id"])
	require.Equal(t, "imageUrl", out["type"])

	// The output URL is signed and served by the same router.
	u := out["url"].(string)
	require.True(t, strings.HasPrefix(u, publicURL+"/files/"+key+"?expires="), u)
	rec := b.do(t, http.MethodGet, strings.TrimPrefix(u, publicURL), "", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "jpeg bytes", rec.Body.String())

	camel, _ := b.getRun(t, path, FloraVersionCamelCase)
	require.Equal(t, []string{"chargedCost", "chargedCredits", "completedAt", "createdAt", "outputs", "pollUrl",
		"progress", "runId", "startedAt", "status", "techniqueId"}, keys(camel))
	require.Equal(t, r.ID, camel["runId"])
	require.Equal(t, snake["poll_url"], camel["pollUrl"])
	cout := camel["outputs"].([]any)[0].(map[string]any)
	require.Equal(t, []string{"outputId", "type", "url"}, keys(cout), "the older shape, without expires_at")
	require.Equal(t, "output_image", cout["outputId"])

	// Any other version, or none, gets today's names.
	other, _ := b.getRun(t, path, "2026-06-11")
	require.Contains(t, other, "run_id")
}

func TestRunJSONFailedAndPending(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}}

	failed := b.insertRun(t, "prompt-expander", in, 1, &store.RunFinishParams{Status: store.RunFailed,
		ErrorCode: "input_invalid", ErrorMessage: "The template produced no text for these inputs.",
		Outputs: []store.RunOutput{{ID: "expanded_prompt", Type: "text", Text: "never shown"}}})
	path := "/api/v1/techniques/prompt-expander/runs/" + failed.ID

	snake, _ := b.getRun(t, path, "")
	require.Equal(t, "failed", snake["status"])
	require.Equal(t, "input_invalid", snake["error_code"])
	require.Equal(t, "The template produced no text for these inputs.", snake["error_message"])
	require.NotContains(t, snake, "charged_cost")
	require.NotContains(t, snake, "charged_credits")
	// Outputs are only complete, and only shown, when the run completed.
	require.Equal(t, []any{}, snake["outputs"])

	camel, _ := b.getRun(t, path, FloraVersionCamelCase)
	require.Equal(t, "input_invalid", camel["errorCode"])
	require.Equal(t, "The template produced no text for these inputs.", camel["errorMessage"])
	require.NotContains(t, camel, "error_code")

	pending := b.insertRun(t, "prompt-expander", in, 1, nil)
	snake, _ = b.getRun(t, "/api/v1/techniques/tech_prompt-expander/runs/"+pending.ID, "")
	require.Equal(t, []string{"created_at", "outputs", "poll_url", "progress", "run_id", "status", "technique_id"}, keys(snake))
	require.Equal(t, "pending", snake["status"])
	require.Equal(t, []any{}, snake["outputs"])
}

func TestRunTextOutputIsTheText(t *testing.T) {
	t.Parallel()
	b := setup(t)

	charged := int64(1)
	r := b.insertRun(t, "prompt-expander", []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}}, 1,
		&store.RunFinishParams{Status: store.RunCompleted, ChargedCredits: &charged,
			Outputs: []store.RunOutput{{ID: "expanded_prompt", Type: "text", Text: "a cat, noir style"}}})
	snake, _ := b.getRun(t, "/api/v1/techniques/prompt-expander/runs/"+r.ID, "")
	require.Equal(t, []any{map[string]any{"output_id": "expanded_prompt", "type": "text", "url": "a cat, noir style", "expires_at": nil}}, snake["outputs"])
	require.InDelta(t, 0.001, snake["charged_cost"], 1e-12)
}

// TestRunOfAnotherTechniqueOrWorkspaceIsNotFound: the answer never reveals
// that a run exists elsewhere.
func TestRunOfAnotherTechniqueOrWorkspaceIsNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	otherKey := b.otherWorkspace(t)

	r := b.insertRun(t, "prompt-expander", []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}}, 1, nil)
	for _, path := range []string{
		"/api/v1/techniques/portrait-enhancer/runs/" + r.ID,
		"/api/v1/techniques/no-such-technique/runs/" + r.ID,
		"/api/v1/techniques/prompt-expander/runs/run_doesnotexist",
	} {
		rec := b.do(t, http.MethodGet, path, "", nil)
		require.Equal(t, http.StatusNotFound, rec.Code, path)
	}
	// Another workspace's key gets the same answer as for no run at all.
	rec := b.doAs(t, otherKey, http.MethodGet, "/api/v1/techniques/prompt-expander/runs/"+r.ID, "", nil)
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.NotContains(t, rec.Body.String(), r.ID)
}
