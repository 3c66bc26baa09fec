package imageproc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWeightedRowSumMatchesNaive(t *testing.T) {
	t.Parallel()
	const n = 37
	for taps := range 10 {
		rows8 := make([][]uint8, taps)
		rowsF := make([][]float32, taps)
		w := make([]float32, taps)
		for k := range taps {
			rows8[k] = make([]uint8, n+3) // longer rows are allowed
			rowsF[k] = make([]float32, n)
			for j := range n {
				rows8[k][j] = uint8(j*7 + k*31)
				rowsF[k][j] = float32(rows8[k][j]) / 3
			}
			w[k] = float32(k+1) / 10
		}
		acc8 := make([]float32, n)
		accF := make([]float32, n)
		for j := range accF {
			accF[j] = 99 // stale contents must be overwritten
		}
		weightedRowSum(acc8, rows8, w)
		weightedRowSum(accF, rowsF, w)
		for j := range n {
			var want8, wantF float32
			for k := range taps {
				want8 += w[k] * float32(rows8[k][j])
				wantF += w[k] * rowsF[k][j]
			}
			require.InDelta(t, want8, acc8[j], 1e-3, "taps %d j %d", taps, j)
			require.InDelta(t, wantF, accF[j], 1e-3, "taps %d j %d", taps, j)
		}
	}
}
