package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/validation"
)

// httpServe serves the bundle's route table on a real loopback listener.
func (b *testBundle) httpServe(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(b.server)
	t.Cleanup(srv.Close)
	return srv
}

// post sends a body over real HTTP as the bundle's workspace and returns
// the status and the whole response body.
func (b *testBundle) post(t *testing.T, srv *httptest.Server, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.ws.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, got
}

type errorReply struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Fields  []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"fields"`
	} `json:"error"`
}

// TestMalformedInputsDoNotAmplify sends bodies of up to 1 MiB made of many
// malformed inputs[] items, or of many unknown keys: the error answer stays
// small (a few KiB) whatever the body, instead of one field error per item
// per missing field, which made a 1 MB body answer 49 MB.
func TestMalformedInputsDoNotAmplify(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.httpServe(t)

	repeat := func(item string, n int) string {
		return strings.TrimSuffix(strings.Repeat(item+",", n), ",")
	}
	// Just under the 1 MiB limit each.
	const n = 1<<20/3 - 100
	bodies := map[string]string{
		"empty objects":      `{"inputs":[` + repeat(`{}`, n) + `],"mode":"async"}`,
		"numbers":            `{"inputs":[` + repeat(`1`, n/2*3/2) + `],"mode":"async"}`,
		"unknown input keys": `{"inputs":[{` + repeat(`"k":1`, 1) + `,` + uniqueKeys(`x`, 1<<20/12) + `}],"mode":"async"}`,
		"unknown top keys":   `{"inputs":[{"id":"prompt","type":"text","value":"x"}],"mode":"async",` + uniqueKeys(`y`, 1<<20/12) + `}`,
		"a few bad items":    `{"inputs":[` + repeat(`{"id":1,"type":2,"value":3,"extra":4}`, 30) + `],"mode":"async"}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			require.LessOrEqual(t, len(body), 1<<20)
			status, reply := b.post(t, srv, "/api/v1/techniques/prompt-expander/runs", []byte(body))
			require.Equal(t, http.StatusBadRequest, status, "%.300s", reply)
			var e errorReply
			require.NoError(t, json.Unmarshal(reply, &e))
			require.Equal(t, "input_validation_error", e.Error.Code)
			require.LessOrEqual(t, len(e.Error.Fields), validation.MaxFields+1)
			require.Less(t, len(reply), 8<<10, "a %d byte body got a %d byte answer", len(body), len(reply))
		})
	}
}

// TestFieldErrorsEndWithACount: past validation.MaxFields problems, the
// answer lists the first ones and then how many more there were.
func TestFieldErrorsEndWithACount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.httpServe(t)

	body := `{"inputs":[{"id":"prompt","type":"text","value":"x"}],"mode":"async",` + uniqueKeys("k", 1000) + `}`
	status, reply := b.post(t, srv, "/api/v1/techniques/prompt-expander/runs", []byte(body))
	require.Equal(t, http.StatusBadRequest, status)
	var e errorReply
	require.NoError(t, json.Unmarshal(reply, &e))
	require.Len(t, e.Error.Fields, validation.MaxFields+1)
	for _, f := range e.Error.Fields[:validation.MaxFields] {
		require.Equal(t, "is not a field of this request", f.Message)
	}
	last := e.Error.Fields[validation.MaxFields]
	require.Equal(t, "(more)", last.Field)
	require.Contains(t, last.Message, "and 980 more problems")
	require.Contains(t, e.Error.Message, "(and other problems, see fields)")
}

// TestDuplicateKeysOverHTTP: a repeated key is refused, naming it, and no
// run is made.
func TestDuplicateKeysOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.httpServe(t)

	for body, field := range map[string]string{
		`{"inputs":[{"id":"prompt","type":"text","value":"x"}],"mode":"async","mode":"stream"}`:                             "mode",
		`{"inputs":[{"id":"prompt","type":"text","value":"x","value":"y"}],"mode":"async"}`:                                 "inputs[0].value",
		`{"inputs":[{"id":"prompt","type":"text","value":"x"}],"inputs":[],"mode":"async"}`:                                 "inputs",
		`{"inputs":[{"id":"prompt","type":"text","value":"x"}],"mode":"async","idempotency_key":"a","idempotency_key":"b"}`: "idempotency_key",
	} {
		status, reply := b.post(t, srv, "/api/v1/techniques/prompt-expander/runs", []byte(body))
		require.Equal(t, http.StatusBadRequest, status, body)
		var e errorReply
		require.NoError(t, json.Unmarshal(reply, &e))
		require.Equal(t, "input_validation_error", e.Error.Code)
		require.Len(t, e.Error.Fields, 1)
		require.Equal(t, field, e.Error.Fields[0].Field)
		require.Equal(t, field+": is given more than once; send each field once", e.Error.Message)
	}
	runs, err := b.store.RunList(t.Context(), &store.RunListParams{WorkspaceID: b.ws.WorkspaceID, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, runs)
}

// uniqueKeys is n object members "<p>0":0,"<p>1":0,... without braces.
func uniqueKeys(p string, n int) string {
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`"` + p + itoa(i) + `":0`)
	}
	return sb.String()
}

// rawExchange writes a request by hand on a fresh connection (to send what
// no well-behaved client would) and reads back the response.
func rawExchange(t *testing.T, addr string, write func(c net.Conn)) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	write(c)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// TestSlowBodyIsATimeout: a body that is still trickling in when the
// server's read timeout passes (slowloris) is 408 request_timeout, not a
// complaint about its JSON; a body cut short by a broken chunked encoding
// is 400 body_unreadable.
func TestSlowBodyIsATimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := httptest.NewUnstartedServer(b.server)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	head := "POST /api/v1/techniques/prompt-expander/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b.ws.Key +
		"\r\nContent-Type: application/json\r\n"

	t.Run("slow body", func(t *testing.T) {
		t.Parallel()
		resp, body := rawExchange(t, addr, func(c net.Conn) {
			_, err := io.WriteString(c, head+"Content-Length: 200\r\n\r\n"+`{"inputs":`)
			require.NoError(t, err)
			// One byte now and then, each well inside the timeout, the
			// whole far past it.
			for range 8 {
				time.Sleep(100 * time.Millisecond)
				if _, err := io.WriteString(c, " "); err != nil {
					return
				}
			}
		})
		require.Equal(t, http.StatusRequestTimeout, resp.StatusCode, "%s", body)
		require.NotEmpty(t, resp.Header.Get("request-id"))
		var e errorReply
		require.NoError(t, json.Unmarshal(body, &e))
		require.Equal(t, "request_timeout", e.Error.Code)
	})
	t.Run("broken chunked body", func(t *testing.T) {
		t.Parallel()
		resp, body := rawExchange(t, addr, func(c net.Conn) {
			_, err := io.WriteString(c, head+"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"inp\r\nzz\r\n")
			require.NoError(t, err)
		})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
		var e errorReply
		require.NoError(t, json.Unmarshal(body, &e))
		require.Equal(t, "body_unreadable", e.Error.Code)
	})
}
