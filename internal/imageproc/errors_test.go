package imageproc

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSentinelsAreDistinct(t *testing.T) {
	t.Parallel()
	all := []error{ErrUnsupportedFormat, ErrTooLarge, ErrInvalidArgument}
	for i, a := range all {
		for j, b := range all {
			require.Equal(t, i == j, errors.Is(a, b))
		}
	}
}

func TestInvalidArgWraps(t *testing.T) {
	t.Parallel()
	err := invalidArg("width %d", -1)
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.Contains(t, err.Error(), "width -1")
}
