package imageproc

import (
	"runtime"
	"sync"
)

// parallelRows calls fn on contiguous row bands [lo, hi) covering [0, n),
// one band per GOMAXPROCS goroutine. Contiguous bands keep each goroutine
// streaming through its own memory; the per-row cost of the operations here is
// uniform, so static splitting balances well without a work queue.
func parallelRows(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	procs := min(runtime.GOMAXPROCS(0), n)
	if procs <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range procs {
		lo, hi := n*i/procs, n*(i+1)/procs
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}
