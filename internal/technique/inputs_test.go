package technique_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/validation"
	"github.com/florad/florad/techniques"
)

// builtin loads the techniques every server ships, the ones clients call.
func builtin(t *testing.T) *technique.Catalog {
	t.Helper()
	c, err := technique.LoadDir(techniques.FS, ".", provider.Registry(provider.Config{}))
	require.NoError(t, err)
	return c
}

// httpsOnly stands in for the server's URL policy: it refuses anything but
// https, so the tests can see a refusal travel to the right field.
func httpsOnly(u string) error {
	if !strings.HasPrefix(u, "https://") {
		return errors.New("must be an absolute https URL")
	}
	return nil
}

func TestCheckInputs(t *testing.T) {
	t.Parallel()

	c := builtin(t)
	expander, _ := c.Get("prompt-expander")
	portrait, _ := c.Get("portrait-enhancer")

	type field struct{ name, contains string }
	tests := []struct {
		name string
		tech *technique.Technique
		in   []technique.RequestInput
		lim  technique.Limits
		want []store.RunInput
		// errs are the fields that must be rejected, in order, when want
		// is nil.
		errs []field
	}{
		{
			name: "order does not matter",
			tech: expander,
			in:   []technique.RequestInput{{ID: "style", Type: "text", Value: "noir"}, {ID: "prompt", Type: "text", Value: "a cat"}},
			want: []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}, {ID: "style", Type: "text", Value: "noir"}},
		},
		{
			name: "seed spelling TEXT",
			tech: expander,
			in:   []technique.RequestInput{{ID: "prompt", Type: "TEXT", Value: "a cat"}},
			want: []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}},
		},
		{
			name: "seed spelling IMAGE_URL",
			tech: portrait,
			in:   []technique.RequestInput{{ID: "input_image", Type: "IMAGE_URL", Value: "https://example.com/a.jpg"}},
			want: []store.RunInput{{ID: "input_image", Type: "imageUrl", Value: "https://example.com/a.jpg"}},
		},
		{
			name: "today's spelling imageUrl",
			tech: portrait,
			in:   []technique.RequestInput{{ID: "input_image", Type: "imageUrl", Value: "https://example.com/a.jpg"}},
			want: []store.RunInput{{ID: "input_image", Type: "imageUrl", Value: "https://example.com/a.jpg"}},
		},
		{
			name: "optional input omitted",
			tech: expander,
			in:   []technique.RequestInput{{ID: "prompt", Type: "text", Value: "a cat"}},
			want: []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}},
		},
		{
			name: "text at the limit counts characters, not bytes",
			tech: expander,
			// 10,000 two-byte characters: 20,000 bytes, within the limit.
			in:   []technique.RequestInput{{ID: "prompt", Type: "text", Value: strings.Repeat("é", 10_000)}},
			want: []store.RunInput{{ID: "prompt", Type: "text", Value: strings.Repeat("é", 10_000)}},
		},
		{
			name: "missing required input",
			tech: expander,
			in:   []technique.RequestInput{{ID: "style", Type: "text", Value: "noir"}},
			errs: []field{{"inputs", `required input "prompt" (text) is missing`}},
		},
		{
			name: "no inputs at all",
			tech: expander,
			in:   nil,
			errs: []field{{"inputs", "at least one input"}},
		},
		{
			name: "unknown id",
			tech: expander,
			in:   []technique.RequestInput{{ID: "prompt", Type: "text", Value: "a cat"}, {ID: "mood", Type: "text", Value: "happy"}},
			errs: []field{{"inputs[1].id", `has no input "mood"`}},
		},
		{
			name: "duplicate id",
			tech: expander,
			in:   []technique.RequestInput{{ID: "prompt", Type: "text", Value: "a cat"}, {ID: "prompt", Type: "text", Value: "a dog"}},
			errs: []field{{"inputs[1].id", `input "prompt" is given more than once`}},
		},
		{
			name: "empty text is reported once, not also as missing",
			tech: expander,
			in:   []technique.RequestInput{{ID: "prompt", Type: "text", Value: ""}},
			errs: []field{{"inputs[0].value", "must not be empty"}},
		},
		{
			name: "text one character too long",
			tech: expander,
			in:   []technique.RequestInput{{ID: "prompt", Type: "text", Value: strings.Repeat("é", 10_001)}},
			errs: []field{{"inputs[0].value", "is 10001 characters long; the limit is 10000"}},
		},
		{
			name: "configured text limit",
			tech: expander,
			in:   []technique.RequestInput{{ID: "prompt", Type: "text", Value: "abcdef"}},
			lim:  technique.Limits{MaxTextLength: 5},
			errs: []field{{"inputs[0].value", "the limit is 5"}},
		},
		{
			name: "too many inputs",
			tech: expander,
			in:   []technique.RequestInput{{ID: "prompt", Type: "text", Value: "a"}, {ID: "style", Type: "text", Value: "b"}},
			lim:  technique.Limits{MaxInputs: 1},
			errs: []field{{"inputs", "at most 1 inputs"}},
		},
		{
			name: "wrong type",
			tech: expander,
			in:   []technique.RequestInput{{ID: "prompt", Type: "IMAGE_URL", Value: "https://example.com/a.jpg"}},
			errs: []field{{"inputs[0].type", `input "prompt" is of type text, not imageUrl`}},
		},
		{
			name: "unknown type spelling",
			tech: expander,
			in:   []technique.RequestInput{{ID: "prompt", Type: "string", Value: "a cat"}},
			errs: []field{{"inputs[0].type", "must be one of"}},
		},
		{
			name: "URL refused by the policy",
			tech: portrait,
			in:   []technique.RequestInput{{ID: "input_image", Type: "imageUrl", Value: "http://10.0.0.1/a.jpg"}},
			errs: []field{{"inputs[0].value", "must be an absolute https URL"}},
		},
		{
			name: "every problem is reported",
			tech: expander,
			in:   []technique.RequestInput{{ID: "style", Type: "text", Value: ""}, {ID: "mood", Type: "text", Value: "x"}},
			errs: []field{
				{"inputs[0].value", "must not be empty"},
				{"inputs[1].id", `has no input "mood"`},
				{"inputs", `required input "prompt" (text) is missing`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.tech.CheckInputs(tt.in, tt.lim, httpsOnly)
			if tt.errs == nil {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			require.Nil(t, got)
			var v *validation.Error
			require.ErrorAs(t, err, &v)
			require.Len(t, v.Fields, len(tt.errs), "fields: %v", v.Fields)
			for i, f := range tt.errs {
				require.Equal(t, f.name, v.Fields[i].Name)
				require.Contains(t, v.Fields[i].Message, f.contains)
			}
		})
	}
}

func TestCheckInputsAsksThePolicyOnlyAboutMedia(t *testing.T) {
	t.Parallel()

	c := builtin(t)
	expander, _ := c.Get("prompt-expander")
	portrait, _ := c.Get("portrait-enhancer")

	var asked []string
	record := func(u string) error { asked = append(asked, u); return nil }

	_, err := expander.CheckInputs([]technique.RequestInput{{ID: "prompt", Type: "text", Value: "https://looks-like-a-url"}}, technique.Limits{}, record)
	require.NoError(t, err)
	require.Empty(t, asked)

	_, err = portrait.CheckInputs([]technique.RequestInput{{ID: "input_image", Type: "imageUrl", Value: "https://example.com/a.png"}}, technique.Limits{}, record)
	require.NoError(t, err)
	require.Equal(t, []string{"https://example.com/a.png"}, asked)
}

func TestCheckInputsNeverEchoesALongID(t *testing.T) {
	t.Parallel()

	expander, _ := builtin(t).Get("prompt-expander")
	long := strings.Repeat("x", 5000)
	_, err := expander.CheckInputs([]technique.RequestInput{{ID: "prompt", Type: "text", Value: "a"}, {ID: long, Type: "text", Value: "b"}},
		technique.Limits{}, httpsOnly)
	var v *validation.Error
	require.ErrorAs(t, err, &v)
	require.Less(t, len(v.Fields[0].Message), 200)

	// Cut on a character boundary, so the message stays valid UTF-8.
	odd := "a" + strings.Repeat("é", 100)
	_, err = expander.CheckInputs([]technique.RequestInput{{ID: "prompt", Type: "text", Value: "a"}, {ID: odd, Type: "text", Value: "b"}},
		technique.Limits{}, httpsOnly)
	require.ErrorAs(t, err, &v)
	require.True(t, utf8.ValidString(v.Fields[0].Message), "message %q", v.Fields[0].Message)
}

func TestCanonicalType(t *testing.T) {
	t.Parallel()

	for in, want := range map[string]string{
		"IMAGE_URL": "imageUrl", "imageUrl": "imageUrl",
		"VIDEO_URL": "videoUrl", "videoUrl": "videoUrl",
		"AUDIO_URL": "audioUrl", "audioUrl": "audioUrl",
		"DOCUMENT_URL": "documentUrl", "documentUrl": "documentUrl",
		"TEXT": "text", "text": "text",
	} {
		got, ok := technique.CanonicalType(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "Text", "image_url", "IMAGEURL", "imageurl"} {
		_, ok := technique.CanonicalType(bad)
		require.False(t, ok, bad)
	}
}
