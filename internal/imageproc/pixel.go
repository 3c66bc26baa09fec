package imageproc

// clampByte rounds v to the nearest channel value, saturating instead of
// wrapping: Go's float-to-uint8 conversion of out-of-range values is
// implementation-defined, and filters with negative lobes overshoot.
func clampByte(v float64) uint8 {
	return uint8(min(max(v, 0), 255) + 0.5)
}

// clampByte32 is clampByte for the float32 inner loops, where converting to
// float64 per pixel would cost measurable time.
func clampByte32(v float32) uint8 {
	return uint8(min(max(v, 0), 255) + 0.5)
}
