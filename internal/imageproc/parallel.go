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
	p := min(procs(), n)
	if p <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range p {
		lo, hi := n*i/p, n*(i+1)/p
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

// procs is the number of goroutines to split work across. It is read per
// call, so a GOMAXPROCS change (for example by a container-aware runtime)
// takes effect immediately.
func procs() int {
	return runtime.GOMAXPROCS(0)
}
