package imageproc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckOutputSize(t *testing.T) {
	t.Parallel()
	require.NoError(t, checkOutputSize(1, 1))
	require.NoError(t, checkOutputSize(8192, 8192))
	require.ErrorIs(t, checkOutputSize(0, 10), ErrInvalidArgument)
	require.ErrorIs(t, checkOutputSize(10, -1), ErrInvalidArgument)
	require.ErrorIs(t, checkOutputSize(8193, 8192), ErrTooLarge)
	// Products that overflow int32 must still be caught.
	require.ErrorIs(t, checkOutputSize(1<<31-1, 1<<31-1), ErrTooLarge)
}
