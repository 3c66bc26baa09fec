package store

// TechniqueRecord is one stored version of a technique definition.
type TechniqueRecord struct {
	// WorkspaceID is "" for a public technique.
	WorkspaceID string
	Slug        string
	Version     string
	// Source is the YAML definition as applied.
	Source    []byte
	CreatedAt int64
}
