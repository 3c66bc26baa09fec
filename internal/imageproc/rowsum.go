package imageproc

// weightedRowSum sets acc[j] = Σ_k w[k]·rows[k][j] for every j; each row must
// be at least len(acc) long. It is the vertical pass of the separable filters.
//
// Rows are consumed four at a time so that acc is read and written once per
// four rows instead of once per row: these passes stream tens of megabytes
// and are bound by memory traffic, not arithmetic.
func weightedRowSum[T uint8 | float32](acc []float32, rows [][]T, w []float32) {
	n := len(acc)
	clear(acc)
	for k := 0; k < len(w); k += 4 {
		switch len(w) - k {
		case 1:
			r0, w0 := rows[k][:n], w[k]
			for j := range acc {
				acc[j] += w0 * float32(r0[j])
			}
		case 2:
			r0, r1 := rows[k][:n], rows[k+1][:n]
			w0, w1 := w[k], w[k+1]
			for j := range acc {
				acc[j] += w0*float32(r0[j]) + w1*float32(r1[j])
			}
		case 3:
			r0, r1, r2 := rows[k][:n], rows[k+1][:n], rows[k+2][:n]
			w0, w1, w2 := w[k], w[k+1], w[k+2]
			for j := range acc {
				acc[j] += w0*float32(r0[j]) + w1*float32(r1[j]) + w2*float32(r2[j])
			}
		default:
			r0, r1, r2, r3 := rows[k][:n], rows[k+1][:n], rows[k+2][:n], rows[k+3][:n]
			w0, w1, w2, w3 := w[k], w[k+1], w[k+2], w[k+3]
			for j := range acc {
				acc[j] += w0*float32(r0[j]) + w1*float32(r1[j]) + w2*float32(r2[j]) + w3*float32(r3[j])
			}
		}
	}
}
