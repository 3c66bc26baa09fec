package webhook_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/webhook"
)

func TestEventBody(t *testing.T) {
	t.Parallel()
	r := &store.Run{ID: "run_1", WorkspaceID: "ws_1", TechniqueID: "tech_1", Status: store.RunCompleted,
		ErrorCode: "ignored", ErrorMessage: "ignored"}
	e, err := webhook.NewEvent("whd_1", r, 1_760_000_000_123)
	require.NoError(t, err)
	b, err := e.Marshal()
	require.NoError(t, err)
	require.Equal(t, `{"id":"whd_1","type":"run.completed","api_version":"2026-06-11","created_at":1760000000123,`+
		`"data":{"run_id":"run_1","run_type":"technique","workspace_id":"ws_1","technique_id":"tech_1","status":"completed"}}`,
		string(b), "no error fields on success, no trailing newline")

	r.Status, r.ErrorCode, r.ErrorMessage = store.RunFailed, "input_unreachable", "Could not fetch <input_image> & more."
	e, err = webhook.NewEvent("whd_2", r, 1_760_000_000_124)
	require.NoError(t, err)
	b, err = e.Marshal()
	require.NoError(t, err)
	require.Equal(t, `{"id":"whd_2","type":"run.failed","api_version":"2026-06-11","created_at":1760000000124,`+
		`"data":{"run_id":"run_1","run_type":"technique","workspace_id":"ws_1","technique_id":"tech_1","status":"failed",`+
		`"error_code":"input_unreachable","error_message":"Could not fetch <input_image> & more."}}`, string(b))

	r.Status = store.RunRunning
	_, err = webhook.NewEvent("whd_3", r, 1)
	require.Error(t, err, "only ended runs have an event")
}
