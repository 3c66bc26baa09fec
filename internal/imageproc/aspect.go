package imageproc

// aspectUnit reduces the ratio aw:ah to lowest terms. Working in multiples of
// the reduced ratio is what lets CropToAspect and PadToAspect produce sizes
// whose ratio is exact rather than rounded (a 4:5 crop is then exactly 4:5,
// which some social platforms check).
func aspectUnit(aw, ah int) (int, int, error) {
	if aw <= 0 || ah <= 0 {
		return 0, 0, invalidArg("aspect ratio %d:%d must be positive", aw, ah)
	}
	g := gcd(aw, ah)
	return aw / g, ah / g, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
