// Package technique holds technique definitions: the YAML format they are
// written in, the checks that make a loaded graph safe to run, the catalog a
// workspace sees, and the validation of a run's inputs against a technique.
package technique

// IO types, as the API spells them today.
const (
	TypeImageURL    = "imageUrl"
	TypeVideoURL    = "videoUrl"
	TypeAudioURL    = "audioUrl"
	TypeDocumentURL = "documentUrl"
	TypeText        = "text"
)

// IsMedia reports whether values of this type are URLs to fetched media.
func IsMedia(typ string) bool { return typ != TypeText }

// Technique is a loaded, checked definition.
type Technique struct {
	// ID is "tech_" + slug for built-in techniques, stable across versions.
	ID          string
	Slug        string
	Name        string
	Description string
	// Credits is the whole-credit price of one run.
	Credits int64
	Inputs  []IO
	Outputs []IO
	Steps   []Step
	// Version identifies this exact definition (a hash of its source), so a
	// run records what it started with.
	Version string
	// Source names where the definition came from, for error messages.
	Source string
	// WorkspaceID owns the technique; "" for a public one.
	WorkspaceID string
	// Unavailable, when not empty, says why runs cannot start now (for
	// example a missing ffmpeg binary).
	Unavailable string
}

// IO is one input or output of a technique.
type IO struct {
	ID          string
	Name        string
	Type        string
	Description string
	Optional    bool
	// From binds an output to a step's output port: "steps.<step>.<port>".
	From string
}

// Step is one node of the graph: a model invocation.
type Step struct {
	ID    string
	Model string
	// Inputs binds the model's input ports to "inputs.<id>" or
	// "steps.<step>.<port>".
	Inputs map[string]string
	Params map[string]any
}

// Input returns the technique input with this id.
func (t *Technique) Input(id string) (IO, bool) {
	for _, in := range t.Inputs {
		if in.ID == id {
			return in, true
		}
	}
	return IO{}, false
}
