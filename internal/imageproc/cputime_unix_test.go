//go:build unix

package imageproc

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time consumed by this process, so
// benchmarks can report how much of the machine an operation used (CPU time
// above wall time means the work was spread over several cores).
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
