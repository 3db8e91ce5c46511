package cpu

import (
	"runtime"
	"sync"
)

// task is work split over workers: run does items [lo, hi) as worker w,
// using that worker's part of any scratch space. Kernels implement it on
// themselves, with the call's buffers in fields, so handing work to the pool
// allocates nothing.
type task interface {
	run(worker, lo, hi int)
}

// pool is a fixed set of worker goroutines, started once: a training step
// makes hundreds of parallel calls, and starting goroutines for each would
// allocate on every step.
type pool struct {
	mu      sync.Mutex // one parallel call at a time; calls never nest
	workers int
	parts   []chan part // one per helper goroutine (workers−1 of them)
	wg      sync.WaitGroup
}

type part struct {
	t              task
	worker, lo, hi int
}

var (
	sharedPool     *pool
	sharedPoolOnce sync.Once
)

// workerPool is the process's pool, GOMAXPROCS workers wide when first used.
func workerPool() *pool {
	sharedPoolOnce.Do(func() {
		p := &pool{workers: runtime.GOMAXPROCS(0)}
		for range p.workers - 1 {
			ch := make(chan part)
			p.parts = append(p.parts, ch)
			go func() {
				for w := range ch {
					w.t.run(w.worker, w.lo, w.hi)
					p.wg.Done()
				}
			}()
		}
		sharedPool = p
	})
	return sharedPool
}

// parallelFor runs t over [0, n) in contiguous chunks, one per worker (at
// most workers of them, and never more than the pool has), when the work is
// worth it: cost is the rough number of multiply-adds per item, and chunks
// smaller than about minWork stay on the calling goroutine.
func parallelFor(n, cost, workers int, t task) {
	const minWork = 1 << 15
	p := workerPool()
	workers = min(workers, n, p.workers)
	if workers > 1 && n*cost/workers < minWork {
		workers = max(1, n*cost/minWork)
	}
	if workers <= 1 {
		t.run(0, 0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := 1; w < workers; w++ {
		lo, hi := w*chunk, min(n, (w+1)*chunk)
		if lo >= hi {
			break
		}
		p.wg.Add(1)
		p.parts[w-1] <- part{t, w, lo, hi}
	}
	t.run(0, 0, min(n, chunk))
	p.wg.Wait()
}
