package loadbench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// The machine is shared (see reference/limits.md): CPU that other processes
// burn during a measurement skews it. A snapshot pairs the machine's busy
// time with this process's own, so the difference shows foreign load.

// clockTicks is USER_HZ, the unit of /proc/stat; 100 on every Linux port Go
// supports.
const clockTicks = 100

// CPUSnapshot is the CPU time used so far.
type CPUSnapshot struct {
	At time.Time
	// Busy is the whole machine's non-idle CPU time; negative when unknown
	// (no /proc/stat).
	Busy time.Duration
	// Self is this process's user + system CPU time.
	Self time.Duration
}

// CPUUsage is CPU use over an interval, in cores (1.0 = one CPU all the time).
type CPUUsage struct {
	// Self is what this process used: the servers and the load generator.
	Self float64
	// Other is what the rest of the machine used; valid only when Known.
	Other float64
	Known bool
}

// TakeCPUSnapshot reads the counters.
func TakeCPUSnapshot() CPUSnapshot {
	s := CPUSnapshot{At: time.Now(), Busy: -1}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.Self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if b, ok := machineBusy(); ok {
		s.Busy = b
	}
	return s
}

// Since is the usage between an earlier snapshot and s.
func (s CPUSnapshot) Since(earlier CPUSnapshot) CPUUsage {
	wall := s.At.Sub(earlier.At).Seconds()
	if wall <= 0 {
		return CPUUsage{}
	}
	u := CPUUsage{Self: (s.Self - earlier.Self).Seconds() / wall}
	if s.Busy >= 0 && earlier.Busy >= 0 {
		// /proc/stat is tick-sampled while rusage is exact, so a quiet
		// machine can come out slightly negative: that means no foreign load.
		u.Other = max((s.Busy-earlier.Busy).Seconds()/wall-u.Self, 0)
		u.Known = true
	}
	return u
}

// machineBusy sums the non-idle fields of the "cpu" line of /proc/stat.
func machineBusy() (time.Duration, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, false
	}
	return parseCPULine(sc.Bytes())
}

// parseCPULine reads "cpu user nice system idle iowait irq softirq steal ...".
// Busy is everything but idle and iowait; guest time is already inside user.
func parseCPULine(line []byte) (time.Duration, bool) {
	fields := bytes.Fields(line)
	if len(fields) < 9 || string(fields[0]) != "cpu" {
		return 0, false
	}
	var busy int64
	for i, f := range fields[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		v, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, false
		}
		busy += v
	}
	return time.Duration(busy) * time.Second / clockTicks, true
}
