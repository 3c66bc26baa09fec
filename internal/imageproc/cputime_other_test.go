//go:build !unix

package imageproc

import "time"

// processCPU is unavailable here; benchmarks skip the CPU metric.
func processCPU() (time.Duration, bool) { return 0, false }
