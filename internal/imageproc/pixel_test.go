package imageproc

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClampByte(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]uint8{
		-1e9: 0, -0.4: 0, 0: 0, 0.49: 0, 0.5: 1, 127.5: 128, 254.6: 255, 255: 255, 300: 255, 1e9: 255,
		math.Inf(1): 255, math.Inf(-1): 0,
	} {
		require.Equal(t, want, clampByte(in), "%v", in)
		require.Equal(t, want, clampByte32(float32(in)), "%v", in)
	}
}
