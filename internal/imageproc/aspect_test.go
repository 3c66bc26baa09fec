package imageproc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAspectUnit(t *testing.T) {
	t.Parallel()
	for in, want := range map[[2]int][2]int{
		{1, 1}: {1, 1}, {4, 5}: {4, 5}, {1920, 1080}: {16, 9}, {1080, 1920}: {9, 16}, {10, 4}: {5, 2},
	} {
		a, b, err := aspectUnit(in[0], in[1])
		require.NoError(t, err)
		require.Equal(t, want, [2]int{a, b})
	}
	for _, in := range [][2]int{{0, 1}, {1, 0}, {-4, 5}} {
		_, _, err := aspectUnit(in[0], in[1])
		require.ErrorIs(t, err, ErrInvalidArgument)
	}
}
