package console

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestServe: every embedded file is served with its type and the page's
// security headers; "" is the index; other names are ErrNotFound.
func TestServe(t *testing.T) {
	t.Parallel()
	c := New()
	want := map[string]string{"": "text/html", "index.html": "text/html", "console.css": "text/css",
		"app.js": "text/javascript", "api.js": "text/javascript", "dom.js": "text/javascript",
		"playground.js": "text/javascript", "runview.js": "text/javascript"}
	for name, ct := range want {
		rec := httptest.NewRecorder()
		if err := c.Serve(rec, httptest.NewRequest(http.MethodGet, "/console/"+name, nil), name); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), ct) || rec.Body.Len() == 0 {
			t.Errorf("%q: %d %q, %d bytes", name, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
		}
		if rec.Header().Get("Content-Security-Policy") != contentSecurityPolicy || rec.Header().Get("ETag") == "" {
			t.Errorf("%q: headers %v", name, rec.Header())
		}
	}
	if len(c.files) != len(want)-1 {
		t.Errorf("embedded %d files, the test knows %d: add the new ones here", len(c.files), len(want)-1)
	}
	for _, name := range []string{"missing.js", "../console.go", "static/app.js", "/app.js"} {
		err := c.Serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/console/x", nil), name)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%q: %v, want ErrNotFound", name, err)
		}
	}
}
