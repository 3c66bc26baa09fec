package openapitest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocumentsLoad: both documents load and pass kin-openapi's own
// validation of the document.
func TestDocumentsLoad(t *testing.T) {
	ours, err := Ours()
	require.NoError(t, err)
	require.True(t, ours.Doc.IsOpenAPI31OrLater(), "florad's document is OpenAPI 3.1")
	flora, err := Flora()
	require.NoError(t, err)
	for _, id := range []string{"startTechniqueRun", "getTechniqueRun"} {
		found := false
		for _, item := range flora.Doc.Paths.Map() {
			for _, op := range item.Operations() {
				found = found || op.OperationID == id
			}
		}
		require.True(t, found, id)
	}
}

// TestCheckerCatches: the checker is not a rubber stamp. An answer the
// document does not describe, an undocumented route the server answers,
// and a body of the wrong shape each fail.
func TestCheckerCatches(t *testing.T) {
	ours, err := Ours()
	require.NoError(t, err)
	flora, err := Flora()
	require.NoError(t, err)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("request-id", "req_test")
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/undocumented":
			_, _ = w.Write([]byte(`{}`))
		case "/api/v1/workspace":
			_, _ = w.Write([]byte(`{"workspace_id": 5}`))
		case "/api/v1/techniques/x/runs/run_1":
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"x"}}`))
		case "/api/v1/techniques/x/runs/run_2":
			// Valid for florad's document; FLORA's has no "canceled".
			_, _ = w.Write([]byte(`{"run_id":"run_2","technique_id":"tech_x","status":"canceled","progress":0,` +
				`"created_at":1,"outputs":[],"poll_url":"http://x/y"}`))
		case "/api/v1/techniques/x/runs/run_3":
			// A field the document does not have.
			_, _ = w.Write([]byte(`{"run_id":"run_3","technique_id":"tech_x","status":"pending","progress":0,` +
				`"created_at":1,"outputs":[],"poll_url":"http://x/y","bogus":1}`))
		case "/api/v1/techniques/x/runs/run_4":
			_, _ = w.Write([]byte(`{"run_id":"run_4","technique_id":"tech_x","status":"pending","progress":0,` +
				`"created_at":1,"outputs":[],"poll_url":"http://x/y"}`))
		case "/api/v1/techniques/x/runs/run_5":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"No run."}}`))
		case "/api/v1/techniques/x/runs/run_6":
			// A code the 404 of this operation does not have.
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"forbidden","message":"No."}}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"No route."}}`))
		}
	}))
	defer srv.Close()

	for path, want := range map[string]string{
		"/api/v1/undocumented":            "has no operation",
		"/api/v1/workspace":               "does not match the document",
		"/api/v1/techniques/x/runs/run_1": "status 418",
		"/api/v1/techniques/x/runs/run_2": "does not match the document",
		"/api/v1/techniques/x/runs/run_3": "does not match the document",
		"/api/v1/techniques/x/runs/run_4": "",
		"/api/v1/techniques/x/runs/run_5": "",
		"/api/v1/techniques/x/runs/run_6": "does not match the document",
		"/api/v1/nowhere":                 "",
	} {
		c := NewChecker(ours, flora)
		hc := &http.Client{Transport: &transport{c: c, base: http.DefaultTransport}}
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer sk_test_x")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		got := strings.Join(c.Failures(), "\n")
		if want == "" {
			require.Empty(t, got, path)
		} else {
			require.Contains(t, got, want, path)
		}
	}
}

// BenchmarkCheck is what the checking transport adds to one poll of the
// app suite.
func BenchmarkCheck(b *testing.B) {
	ours, err := Ours()
	require.NoError(b, err)
	flora, err := Flora()
	require.NoError(b, err)
	c := NewChecker(ours, flora)
	req, err := http.NewRequest(http.MethodGet, "http://florad.test/api/v1/techniques/x/runs/run_4", nil)
	require.NoError(b, err)
	req.Header.Set("Authorization", "Bearer sk_test_x")
	h := http.Header{"Content-Type": {"application/json"}, "Request-Id": {"req_1"}}
	x := &Exchange{Req: req, Status: 200, Header: h, RespBody: []byte(`{"run_id":"run_4","technique_id":"tech_x",` +
		`"status":"completed","progress":100,"created_at":1,"outputs":[{"output_id":"o","type":"text","url":"hi","expires_at":null}],"poll_url":"http://x/y"}`)}
	for b.Loop() {
		c.Check(x)
	}
	require.Empty(b, c.Failures())
}

// TestValidateWebhook: a webhook in the contract's shape passes; a missing
// signature, a wrong event type or an extra field fails.
func TestValidateWebhook(t *testing.T) {
	ours, err := Ours()
	require.NoError(t, err)
	good := `{"id":"whd_1","type":"run.failed","api_version":"2026-06-11","created_at":1,"data":{"run_id":"run_1",` +
		`"run_type":"technique","workspace_id":"ws_1","technique_id":"tech_x","status":"failed","error_code":"input_invalid","error_message":"no"}}`
	h := http.Header{"Content-Type": {"application/json"}, "Flora-Signature": {"t=1700000000,v1=" + strings.Repeat("ab", 32)},
		"Flora-Webhook-Id": {"whd_1"}, "Flora-Event": {"run.failed"}}
	require.NoError(t, ours.ValidateWebhook(h, []byte(good)))

	noSig := h.Clone()
	noSig.Del("Flora-Signature")
	require.ErrorContains(t, ours.ValidateWebhook(noSig, []byte(good)), "Flora-Signature")
	require.Error(t, ours.ValidateWebhook(h, []byte(strings.Replace(good, `"run.failed"`, `"run.done"`, 1))))
	require.Error(t, ours.ValidateWebhook(h, []byte(strings.Replace(good, `"run_type"`, `"extra":1,"run_type"`, 1))))
}
