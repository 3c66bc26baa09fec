package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"gopkg.in/yaml.v3"
)

// openAPIYAML is the API's OpenAPI 3.1 document. It is written in YAML,
// where a person can read and review it, and served as JSON.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIDocument is the OpenAPI document GET /api/v1/openapi.json serves,
// as JSON; tests validate traffic against it. A server serves it with its
// own public URL as the server (servedOpenAPI).
func OpenAPIDocument() ([]byte, error) { return servedOpenAPI("") }

// servedOpenAPI converts the document to JSON, with publicURL, when set, as
// its only server: a client generated from it then calls this server. The
// server converts it once, in New: it never changes while the binary runs.
func servedOpenAPI(publicURL string) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if publicURL != "" {
		doc["servers"] = []any{map[string]any{"url": publicURL, "description": "this server"}}
	}
	return json.Marshal(doc)
}

// openAPIGet serves the document. It needs no key: it describes the API and
// holds nothing about any workspace, and a client generator must be able to
// read it before it has a key.
func (s *Server) openAPIGet(w http.ResponseWriter, r *http.Request) error {
	if s.openAPIErr != nil {
		return errInternal(s.openAPIErr)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.openAPI)
	return nil
}
