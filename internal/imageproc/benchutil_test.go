package imageproc

import (
	"bufio"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cpuMeter starts measuring process CPU time; the returned function reports
// it as cpu-ms/op. On a machine shared with other work, CPU time is a
// steadier figure than wall time, and CPU time near GOMAXPROCS × wall time
// shows the work really is spread across cores.
func cpuMeter(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		end, _ := processCPU()
		if ok && b.N > 0 {
			b.ReportMetric(float64((end-start).Milliseconds())/float64(b.N), "cpu-ms/op")
		}
	}
}

// sampleHeap polls the heap size every millisecond. runtime/metrics reads
// do not stop the world, so sampling does not distort the timing.
func sampleHeap() (peak func() uint64, stop func()) {
	var (
		mu   sync.Mutex
		max_ uint64
		wg   sync.WaitGroup
	)
	done := make(chan struct{})
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			mu.Lock()
			max_ = max(max_, s[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
			mu.Lock()
			defer mu.Unlock()
			return max_
		}, func() {
			close(done)
			wg.Wait()
		}
}

// resetPeakRSS resets the kernel's VmHWM for this process (Linux only).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS reads VmHWM from /proc/self/status in bytes.
func peakRSS() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
