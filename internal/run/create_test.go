package run

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/techniques"
)

func TestFingerprintIsStable(t *testing.T) {
	t.Parallel()

	in := []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}, {ID: "style", Type: "text", Value: "noir"}}
	a := fingerprint("tech_prompt-expander", in)
	b := fingerprint("tech_prompt-expander", []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}, {ID: "style", Type: "text", Value: "noir"}})
	require.Equal(t, a, b)
	require.Len(t, a, 64) // hex SHA-256
}

func TestFingerprintTellsRequestsApart(t *testing.T) {
	t.Parallel()

	base := []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}, {ID: "style", Type: "text", Value: "noir"}}
	baseFP := fingerprint("tech_prompt-expander", base)

	with := func(i int, edit func(in *store.RunInput)) []store.RunInput {
		out := append([]store.RunInput(nil), base...)
		edit(&out[i])
		return out
	}
	tests := map[string]struct {
		tech   string
		inputs []store.RunInput
	}{
		"another technique": {"tech_portrait-enhancer", base},
		"another value":     {"tech_prompt-expander", with(0, func(in *store.RunInput) { in.Value = "a dog" })},
		"another type":      {"tech_prompt-expander", with(0, func(in *store.RunInput) { in.Type = "imageUrl" })},
		"another id":        {"tech_prompt-expander", with(1, func(in *store.RunInput) { in.ID = "mood" })},
		"an input less":     {"tech_prompt-expander", base[:1]},
		"an empty value":    {"tech_prompt-expander", with(1, func(in *store.RunInput) { in.Value = "" })},
	}
	seen := map[string]string{baseFP: "base"}
	for name, tt := range tests {
		fp := fingerprint(tt.tech, tt.inputs)
		prev, dup := seen[fp]
		require.False(t, dup, "%s has the fingerprint of %s", name, prev)
		seen[fp] = name
	}
}

// TestFingerprintIsUnambiguous: moving characters across a boundary, of
// values, of id and value, or of technique and inputs, never gives the same
// fingerprint.
func TestFingerprintIsUnambiguous(t *testing.T) {
	t.Parallel()

	pairs := []struct {
		name         string
		techA, techB string
		a, b         []store.RunInput
	}{
		{
			name:  "values a+bc vs ab+c",
			techA: "tech_x", techB: "tech_x",
			a: []store.RunInput{{ID: "p", Type: "text", Value: "a"}, {ID: "q", Type: "text", Value: "bc"}},
			b: []store.RunInput{{ID: "p", Type: "text", Value: "ab"}, {ID: "q", Type: "text", Value: "c"}},
		},
		{
			name:  "id and value boundary",
			techA: "tech_x", techB: "tech_x",
			a: []store.RunInput{{ID: "ab", Type: "text", Value: "c"}},
			b: []store.RunInput{{ID: "a", Type: "text", Value: "bc"}},
		},
		{
			name:  "a separator inside a value",
			techA: "tech_x", techB: "tech_x",
			a: []store.RunInput{{ID: "p", Type: "text", Value: "a\x001:q\x004:text\x001:b"}},
			b: []store.RunInput{{ID: "p", Type: "text", Value: "a"}, {ID: "q", Type: "text", Value: "b"}},
		},
		{
			name:  "one input vs two",
			techA: "tech_x", techB: "tech_x",
			a: []store.RunInput{{ID: "p", Type: "text", Value: ""}},
			b: []store.RunInput{{ID: "p", Type: "text", Value: ""}, {ID: "p", Type: "text", Value: ""}},
		},
	}
	for _, p := range pairs {
		require.NotEqual(t, fingerprint(p.techA, p.a), fingerprint(p.techB, p.b), p.name)
	}
}

// TestFingerprintAfterCheckInputs: two clients sending the same request
// in another order and spelling get the same fingerprint, because
// CheckInputs puts inputs in the technique's order and canonical types
// first. This is what makes idempotent replays match.
func TestFingerprintAfterCheckInputs(t *testing.T) {
	t.Parallel()

	c, err := technique.LoadDir(techniques.FS, ".", provider.Registry(provider.Config{}))
	require.NoError(t, err)
	tech, ok := c.Get("prompt-expander")
	require.True(t, ok)

	check := func(in ...technique.RequestInput) string {
		got, err := tech.CheckInputs(in, technique.Limits{}, func(string) error { return nil })
		require.NoError(t, err)
		return fingerprint(tech.ID, got)
	}
	a := check(technique.RequestInput{ID: "prompt", Type: "text", Value: "a cat"}, technique.RequestInput{ID: "style", Type: "text", Value: "noir"})
	b := check(technique.RequestInput{ID: "style", Type: "TEXT", Value: "noir"}, technique.RequestInput{ID: "prompt", Type: "TEXT", Value: "a cat"})
	require.Equal(t, a, b)

	require.NotEqual(t, a, check(technique.RequestInput{ID: "prompt", Type: "text", Value: "a cat"}))
}
