package imageproc

// clampByte rounds v to the nearest channel value, saturating instead of
// wrapping: Go's float-to-uint8 conversion of out-of-range values is
// implementation-defined, and filters with negative lobes overshoot.
func clampByte(v float64) uint8 {
	return uint8(min(max(v, 0), 255) + 0.5)
}

// clampByte32 is clampByte for the float32 inner loops. It uses plain
// comparisons rather than the min and max builtins, whose NaN and signed-zero
// handling makes them several times slower here; NaN maps to 255.
func clampByte32(v float32) uint8 {
	if v < 0.5 {
		return 0
	}
	if v < 254.5 {
		return uint8(v + 0.5)
	}
	return 255
}
