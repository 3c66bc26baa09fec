// Package openapitest checks HTTP traffic against florad's OpenAPI document
// and FLORA's published one, with a real OpenAPI validator (kin-openapi).
// Tests put Transport under their HTTP client: every request the client
// sends and every response it gets is validated, and the test fails at its
// end with what did not match. It is imported by tests only, so the
// validator never reaches the florad binary.
package openapitest

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/florad/florad/internal/api"
)

// floraYAML is FLORA's published document for its technique run
// operations (see its first lines for where it comes from).
//
//go:embed testdata/flora-openapi.yml
var floraYAML []byte

// Spec is a loaded document and its router.
type Spec struct {
	Doc    *openapi3.T
	router routers.Router
	// prefix is stripped from request paths before routing: FLORA's
	// paths are relative to its /api/v1 server.
	prefix string
	// bodies validates JSON bodies with compiled schemas.
	bodies *bodySchemas
}

// Ours loads florad's own document, the one the server embeds and serves.
func Ours() (*Spec, error) {
	b, err := api.OpenAPIDocument()
	if err != nil {
		return nil, err
	}
	return load(b, "")
}

// Flora loads FLORA's document.
func Flora() (*Spec, error) { return load(floraYAML, "/api/v1") }

func load(b []byte, prefix string) (*Spec, error) {
	l := openapi3.NewLoader()
	doc, err := l.LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("loading the OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is not valid: %w", err)
	}
	// Requests are matched on their path alone: the tests' servers listen
	// on random loopback ports.
	doc.Servers = nil
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	bodies, err := newBodySchemas(doc)
	if err != nil {
		return nil, err
	}
	return &Spec{Doc: doc, router: r, prefix: prefix, bodies: bodies}, nil
}

// Exchange is one request and its response, bodies read.
type Exchange struct {
	Req      *http.Request
	ReqBody  []byte
	Status   int
	Header   http.Header
	RespBody []byte
	// Streamed is set for text/event-stream responses, whose bodies are
	// checked event by event as the client reads them.
	Streamed bool
}

// Route finds the operation of a request. ok is false when the document
// has no such path or method.
func (s *Spec) Route(req *http.Request) (route *routers.Route, params map[string]string, err error) {
	r := req.Clone(req.Context())
	u := *req.URL
	u.Path = strings.TrimPrefix(u.Path, s.prefix)
	u.RawPath = ""
	for _, wild := range []string{"/files/", "/console/"} {
		if rest, ok := strings.CutPrefix(u.Path, wild); ok {
			// A blob key or a console file has slashes; a path
			// parameter cannot.
			u.Path = wild + strings.ReplaceAll(rest, "/", "%2F")
		}
	}
	r.URL = &u
	if r.Method == http.MethodHead {
		// Every GET answers HEAD; the document says so once.
		r.Method = http.MethodGet
	}
	route, params, err = s.router.FindRoute(r)
	if err == nil && strings.Count(strings.TrimSuffix(route.Path, "/"), "/") != strings.Count(strings.TrimSuffix(u.Path, "/"), "/") {
		// kin-openapi's legacy router lets a shorter path match a longer
		// template (/runs for /runs/{runId}).
		return nil, nil, &routers.RouteError{Reason: routers.ErrPathNotFound.Error()}
	}
	return route, params, err
}

// hasPath tells whether the document has the request's path under some
// method: a 405 is right for such a request, a 404 otherwise.
func (s *Spec) hasPath(req *http.Request) bool {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		r := req.Clone(req.Context())
		r.Method = m
		if _, _, err := s.Route(r); err == nil {
			return true
		}
	}
	return false
}

func (s *Spec) input(x *Exchange, route *routers.Route, params map[string]string) *openapi3filter.RequestValidationInput {
	r := x.Req.Clone(context.Background())
	if r.Method == http.MethodHead {
		r.Method = http.MethodGet
	}
	r.Body = io.NopCloser(bytes.NewReader(x.ReqBody))
	return &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true,
			// Who may call is the server's business; the document says
			// which scheme and scope, and the suite tests the refusals.
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
}

// ValidateRequest checks a request against the operation's parameters and
// body.
func (s *Spec) ValidateRequest(x *Exchange, route *routers.Route, params map[string]string) error {
	in := s.input(x, route, params)
	rb := route.Operation.RequestBody
	ct := x.Req.Header.Get("Content-Type")
	mediaType, _, _ := mime.ParseMediaType(ct)
	var mt *openapi3.MediaType
	if rb != nil && rb.Value != nil && len(x.ReqBody) > 0 {
		if mt = rb.Value.Content.Get(ct); mt != nil && isJSON(mediaType) && mt.Schema != nil {
			// The JSON body is checked below, with a compiled schema.
			in.Options.ExcludeRequestBody = true
		}
	}
	err := openapi3filter.ValidateRequest(context.Background(), in)
	if err != nil || !in.Options.ExcludeRequestBody {
		return err
	}
	at := refPath(rb.Ref, "paths", route.Path, strings.ToLower(route.Method), "requestBody")
	if err := s.bodies.validate(append(at, "content", contentKey(rb.Value.Content, mt), "schema"), x.ReqBody); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

// ValidateResponse checks status, headers and (JSON) body against the
// operation's responses. A status the operation does not list fails.
func (s *Spec) ValidateResponse(x *Exchange, route *routers.Route, params map[string]string) error {
	in := s.input(x, route, params)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.Status, Header: x.Header,
		Body: io.NopCloser(bytes.NewReader(x.RespBody)), Options: &openapi3filter.Options{
			MultiError: true, IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	mediaType, _, _ := mime.ParseMediaType(x.Header.Get("Content-Type"))
	resp := route.Operation.Responses.Status(x.Status)
	if resp == nil || resp.Value == nil {
		return fmt.Errorf("status %d is not a response of %s %s", x.Status, route.Method, route.Path)
	}
	if len(resp.Value.Content) > 0 && x.Req.Method != http.MethodHead && resp.Value.Content.Get(x.Header.Get("Content-Type")) == nil {
		return fmt.Errorf("%s %s answers %d with content type %q, which the document does not list",
			route.Method, route.Path, x.Status, x.Header.Get("Content-Type"))
	}
	// kin-openapi checks status and headers; the JSON body is checked
	// below with a compiled schema. Other bodies (files, metrics) are
	// not checked, and a stream's events are as the client reads them.
	out.Options.ExcludeResponseBody = true
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return err
	}
	if x.Streamed || x.Req.Method == http.MethodHead || !isJSON(mediaType) || len(resp.Value.Content) == 0 {
		return nil
	}
	mt := resp.Value.Content.Get(x.Header.Get("Content-Type"))
	if mt.Schema == nil {
		return nil
	}
	at := refPath(resp.Ref, "paths", route.Path, strings.ToLower(route.Method), "responses",
		responseKey(route.Operation.Responses, resp))
	if err := s.bodies.validate(append(at, "content", contentKey(resp.Value.Content, mt), "schema"), x.RespBody); err != nil {
		return fmt.Errorf("response body doesn't match the schema: %w", err)
	}
	return nil
}

// ValidateSchema checks a JSON value against a named component schema.
func (s *Spec) ValidateSchema(name string, data []byte) error {
	ref := s.Doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("no schema %q", name)
	}
	return s.bodies.validate([]string{"components", "schemas", name}, data)
}

// ValidateWebhook checks a webhook florad sent (a callback of
// startTechniqueRun) against the document: its headers and its body.
func (s *Spec) ValidateWebhook(header http.Header, body []byte) error {
	var op *openapi3.Operation
	for _, item := range s.Doc.Paths.Map() {
		if item.Post == nil || item.Post.OperationID != "startTechniqueRun" {
			continue
		}
		for _, cb := range item.Post.Callbacks {
			for _, p := range cb.Value.Map() {
				op = p.Post
			}
		}
	}
	if op == nil {
		return errors.New("the document has no webhook (a callback of startTechniqueRun)")
	}
	var errs []error
	for _, p := range op.Parameters {
		v := header.Get(p.Value.Name)
		if v == "" {
			if p.Value.Required {
				errs = append(errs, fmt.Errorf("header %s is missing", p.Value.Name))
			}
			continue
		}
		if err := p.Value.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			errs = append(errs, fmt.Errorf("header %s: %w", p.Value.Name, err))
		}
	}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); !isJSON(mt) {
		errs = append(errs, fmt.Errorf("content type %q", header.Get("Content-Type")))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		errs = append(errs, fmt.Errorf("body is not JSON: %w", err))
	} else if err := op.RequestBody.Value.Content.Get("application/json").Schema.Value.VisitJSON(v,
		openapi3.MultiErrors(), openapi3.EnableJSONSchema2020()); err != nil {
		errs = append(errs, fmt.Errorf("body: %w", err))
	}
	return errors.Join(errs...)
}

func isJSON(mediaType string) bool {
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

// Checker validates traffic and collects what did not match.
type Checker struct {
	ours, flora *Spec

	mu       sync.Mutex
	failures []string
	// hit counts operations by id, for Coverage.
	hit map[string]int
	// floraChecked counts the exchanges checked against FLORA's document.
	floraChecked int
}

// NewChecker checks against both documents; loaded documents are only
// read, so one pair serves every test of a package.
func NewChecker(ours, flora *Spec) *Checker {
	return &Checker{ours: ours, flora: flora, hit: map[string]int{}}
}

// Ours is florad's document.
func (c *Checker) Ours() *Spec { return c.ours }

// Flora is FLORA's document.
func (c *Checker) Flora() *Spec { return c.flora }

func (c *Checker) fail(x *Exchange, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures = append(c.failures, x.Req.Method+" "+x.Req.URL.RequestURI()+" → "+fmt.Sprint(x.Status)+": "+
		fmt.Sprintf(format, args...))
}

// Failures is what did not match so far.
func (c *Checker) Failures() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.failures...)
}

// Hits counts the checked exchanges by operation id.
func (c *Checker) Hits() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.hit))
	for k, v := range c.hit {
		out[k] = v
	}
	return out
}

// FloraChecked counts the exchanges checked against FLORA's document.
func (c *Checker) FloraChecked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.floraChecked
}

// Check validates one exchange (its body already read, unless streamed)
// against florad's document, and, for the operations FLORA publishes,
// against FLORA's.
func (c *Checker) Check(x *Exchange) {
	route, params, err := c.ours.Route(x.Req)
	if err != nil {
		// Not a route of the document: only right when the server agrees
		// (404 for a path, 405 for a method), in the error shape.
		want := http.StatusNotFound
		if c.ours.hasPath(x.Req) {
			want = http.StatusMethodNotAllowed
		}
		if x.Status != want {
			c.fail(x, "the OpenAPI document has no operation for this request (%v), yet the server answered it", err)
			return
		}
		if x.Req.Method != http.MethodHead {
			if err := c.ours.ValidateSchema("Error", x.RespBody); err != nil {
				c.fail(x, "the %d of an unknown route is not in the error shape: %v", x.Status, err)
			}
		}
		return
	}
	c.mu.Lock()
	c.hit[route.Operation.OperationID]++
	c.mu.Unlock()

	reqErr := c.ours.ValidateRequest(x, route, params)
	if reqErr != nil && (x.Status < 400 || x.Status >= 500) {
		c.fail(x, "the document says the request is invalid (%v), yet the server answered %d", reqErr, x.Status)
	}
	if err := c.ours.ValidateResponse(x, route, params); err != nil {
		c.fail(x, "the response does not match the document: %v", err)
	}
	c.checkFlora(x, reqErr)
}

// checkFlora compares with FLORA's document: a request FLORA's document
// accepts must be one ours accepts, and a response must be in FLORA's
// shape for the statuses FLORA lists.
func (c *Checker) checkFlora(x *Exchange, oursReqErr error) {
	if x.Req.Header.Get("Flora-Version") == api.FloraVersionCamelCase || x.Req.Method == http.MethodHead {
		// The older camelCase object is not the one FLORA publishes now.
		return
	}
	route, params, err := c.flora.Route(x.Req)
	if err != nil {
		return // FLORA does not publish this operation
	}
	c.mu.Lock()
	c.floraChecked++
	c.mu.Unlock()
	floraReqErr := c.flora.ValidateRequest(x, route, params)
	if floraReqErr == nil && oursReqErr != nil && !knownStricter(x) {
		c.fail(x, "FLORA's document accepts this request and ours does not: %v", oursReqErr)
	}
	if floraReqErr == nil && x.Status == http.StatusBadRequest && bytes.Contains(x.RespBody, []byte(`"invalid_json"`)) {
		c.fail(x, "FLORA's document accepts this body and the server called it invalid JSON")
	}
	if x.Streamed || route.Operation.Responses.Status(x.Status) == nil {
		// A stream (mode "stream") and statuses FLORA does not list
		// (408, 413, 422, 503) are where florad goes beyond FLORA's
		// document; ours describes them.
		return
	}
	body := x.RespBody
	if x.Status == http.StatusPaymentRequired {
		// Known, deliberate difference (docs/openapi.md): florad's 402
		// adds "required" and "available" inside error, which FLORA's
		// schema (additionalProperties: false) does not list. Checked
		// against FLORA's shape without them.
		body = withoutKeys(body, "required", "available")
	}
	y := *x
	y.RespBody = body
	if err := c.flora.ValidateResponse(&y, route, params); err != nil {
		c.fail(x, "the response is not in FLORA's shape for %s: %v", route.Operation.OperationID, err)
	}
}

// knownStricter is the requests FLORA's document accepts and florad refuses
// on purpose (docs/openapi.md): an input with a field other than id, type
// and value (FLORA's input items do not say additionalProperties: false,
// and a field florad would silently drop is more likely a client's mistake
// than a wish), and an idempotency key over 255 characters (FLORA sets no
// bound; florad stores keys and bounds them).
func knownStricter(x *Exchange) bool {
	var body struct {
		Inputs         []map[string]json.RawMessage `json:"inputs"`
		IdempotencyKey string                       `json:"idempotency_key"`
	}
	if x.Req.Method != http.MethodPost || json.Unmarshal(x.ReqBody, &body) != nil {
		return false
	}
	if len([]rune(body.IdempotencyKey)) > 255 || len([]rune(x.Req.Header.Get("Idempotency-Key"))) > 255 {
		return true
	}
	for _, in := range body.Inputs {
		for k := range in {
			if k != "id" && k != "type" && k != "value" {
				return true
			}
		}
	}
	return false
}

// withoutKeys drops keys from the "error" object of an error body.
func withoutKeys(body []byte, keys ...string) []byte {
	var v map[string]map[string]json.RawMessage
	if json.Unmarshal(body, &v) != nil || v["error"] == nil {
		return body
	}
	for _, k := range keys {
		delete(v["error"], k)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return b
}

// Transport wraps base (nil: http.DefaultTransport) so that every exchange
// is checked; at the end of t, each failure fails it.
func (c *Checker) Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	t.Cleanup(func() {
		for _, f := range c.Failures() {
			t.Errorf("OpenAPI: %s", f)
		}
	})
	return &transport{c: c, base: base}
}

type transport struct {
	c    *Checker
	base http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !isOurs(req) {
		return tr.base.RoundTrip(req)
	}
	x := &Exchange{}
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		x.ReqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	x.Req = req
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	x.Status, x.Header = resp.StatusCode, resp.Header
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		x.Streamed = true
		tr.c.Check(x)
		resp.Body = &sseChecker{rc: resp.Body, c: tr.c, x: x}
		return resp, nil
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	x.RespBody = b
	resp.Body = io.NopCloser(bytes.NewReader(b))
	tr.c.Check(x)
	return resp, nil
}

// isOurs tells florad's requests from those to the tests' other servers
// (input images, webhook receivers): florad's paths are its API, its
// files, its metrics and health.
func isOurs(req *http.Request) bool {
	p := req.URL.Path
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/files/") || strings.HasPrefix(p, "/console") || p == "/metrics" ||
		p == "/healthz" || p == "/readyz"
}

// sseChecker checks each event of a stream as the client reads it: its
// data must be the JSON the document says for its type.
type sseChecker struct {
	rc  io.ReadCloser
	c   *Checker
	x   *Exchange
	buf bytes.Buffer
}

func (s *sseChecker) Read(p []byte) (int, error) {
	n, err := s.rc.Read(p)
	s.buf.Write(p[:n])
	s.scan()
	return n, err
}

func (s *sseChecker) Close() error { return s.rc.Close() }

// scan checks the complete events in the buffer and keeps the rest.
func (s *sseChecker) scan() {
	for {
		b := s.buf.Bytes()
		i := bytes.Index(b, []byte("\n\n"))
		if i < 0 {
			return
		}
		s.event(b[:i])
		s.buf.Next(i + 2)
	}
}

func (s *sseChecker) event(raw []byte) {
	var typ, data string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
	if typ == "" && data == "" {
		return // a comment (keep-alive)
	}
	schema := ""
	switch typ {
	case "run.snapshot", "run.completed", "run.failed":
		schema = "Run"
		if s.x.Req.Header.Get("Flora-Version") == api.FloraVersionCamelCase {
			schema = "AnyRun"
		}
	case "run.output":
		var v struct {
			RunID  string          `json:"run_id"`
			Output json.RawMessage `json:"output"`
		}
		if err := json.Unmarshal([]byte(data), &v); err != nil || !strings.HasPrefix(v.RunID, "run_") {
			s.c.fail(s.x, "event %s: data is not {run_id, output}: %s", typ, data)
			return
		}
		if err := s.c.ours.ValidateSchema("Output", v.Output); err != nil {
			s.c.fail(s.x, "event %s: output does not match the document: %v", typ, err)
		}
		return
	case "error":
		schema = "Error"
	case "run.created", "run.started", "run.progress":
		var v map[string]any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			s.c.fail(s.x, "event %s: data is not a JSON object: %s", typ, data)
		}
		return
	default:
		s.c.fail(s.x, "event type %q is not one the document lists", typ)
		return
	}
	if err := s.c.ours.ValidateSchema(schema, []byte(data)); err != nil {
		s.c.fail(s.x, "event %s: data does not match %s: %v", typ, schema, err)
	}
}

// Coverage lists the operations of florad's document no checked exchange
// reached, sorted.
func (c *Checker) Coverage() (missed []string) {
	hits := c.Hits()
	for path, item := range c.ours.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			if hits[op.OperationID] == 0 {
				missed = append(missed, method+" "+path+" ("+op.OperationID+")")
			}
		}
	}
	sort.Strings(missed)
	return missed
}
