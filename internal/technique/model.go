package technique

// Port is one typed input or output of a model.
type Port struct {
	Name     string
	Type     string
	Optional bool
}

// Model is what the loader needs to know about a processor to check a graph
// before anything runs.
type Model interface {
	InputPorts() []Port
	OutputPorts() []Port
	// CheckParams rejects parameters the model would not accept.
	CheckParams(params map[string]any) error
	// Unavailable says why the model cannot run on this machine, or "".
	Unavailable() string
}

// Models looks models up by name.
type Models interface {
	Model(name string) (Model, bool)
}
