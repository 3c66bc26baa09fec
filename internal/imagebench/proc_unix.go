//go:build unix

package imagebench

import (
	"os"
	"runtime"
	"syscall"
	"time"
)

// processCPU is the user + system CPU time this process has used.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// exitUsage is a waited-for child's CPU time and peak RSS in bytes.
//
// The peak is only trustworthy when the parent is small: Linux carries the
// parent's high-water mark into a vfork+exec'd child's ru_maxrss, so a
// benchmark harness that holds a decoded image would report its own peak as
// the child's. That is why the vips calls are measured from a fresh wrapper
// process (see measureExec), not from the harness.
func exitUsage(ps *os.ProcessState) (cpu time.Duration, maxRSS uint64) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	maxRSS = uint64(ru.Maxrss)
	if runtime.GOOS != "darwin" { // kilobytes everywhere but macOS
		maxRSS <<= 10
	}
	return cpu, maxRSS
}
