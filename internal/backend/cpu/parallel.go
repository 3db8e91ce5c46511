package cpu

import "sync"

// parallelFor runs body over [0, n) in contiguous chunks, one per worker (at
// most workers of them), when the work is worth the goroutines: cost is the
// rough number of multiply-adds per item, and chunks smaller than about
// minWork stay on one goroutine. body receives the worker index so it can use
// that worker's part of a workspace.
func parallelFor(n, cost, workers int, body func(worker, lo, hi int)) {
	const minWork = 1 << 15
	workers = min(workers, n)
	if workers > 1 && n*cost/workers < minWork {
		workers = max(1, n*cost/minWork)
	}
	if workers <= 1 {
		body(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min(n, (w+1)*chunk)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(w, lo, hi)
		}()
	}
	wg.Wait()
}
