package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
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
//
// Helpers spin, yielding, for spinFor after each item before they park,
// and the caller spins while it waits for them. A parked goroutine's
// thread sleeps, and waking a sleeping virtual CPU took 40–50 µs on the
// development VM (BenchmarkParallelForAfterSerialWork): more than many of
// LeNet's ops take, paid twice per op. A step's parallel calls come a few
// hundred microseconds apart, so helpers stay awake through a step and
// park between epochs.
type pool struct {
	mu      sync.Mutex // one parallel call at a time; calls never nest
	workers int
	helpers []*helper // workers−1 of them; worker w is helpers[w−1]
}

// spinFor is how long an idle helper stays awake for the next item.
const spinFor = 2 * time.Millisecond

// helper is one worker goroutine's mailbox. The caller writes job, then
// publishes it by storing the next sequence number; the helper runs it and
// stores the same number in done.
type helper struct {
	job      part
	seq      atomic.Uint64 // the last job posted
	done     atomic.Uint64 // the last job finished
	sleeping atomic.Bool   // parked, or about to: post must wake it
	wake     chan struct{} // capacity 1
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
			h := &helper{wake: make(chan struct{}, 1)}
			p.helpers = append(p.helpers, h)
			go h.loop()
		}
		sharedPool = p
	})
	return sharedPool
}

// loop runs posted jobs for ever, spinning between them and parking when
// none has come for spinFor.
func (h *helper) loop() {
	var last uint64
	for {
		h.await(last)
		last = h.seq.Load()
		j := h.job
		j.t.run(j.worker, j.lo, j.hi)
		h.job.t = nil // keep no kernel alive
		h.done.Store(last)
	}
}

// await returns once a job after last has been posted.
func (h *helper) await(last uint64) {
	start := time.Now()
	for spins := 0; h.seq.Load() == last; spins++ {
		if spins%64 != 63 || time.Since(start) < spinFor {
			runtime.Gosched()
			continue
		}
		// Park. Announcing it before the last check means a post either
		// sees sleeping and sends a wake-up, or is seen by the check.
		h.sleeping.Store(true)
		if h.seq.Load() == last {
			<-h.wake
		}
		h.sleeping.Store(false)
		start = time.Now()
	}
}

// post hands h a job.
func (h *helper) post(j part) uint64 {
	h.job = j
	n := h.seq.Load() + 1
	h.seq.Store(n)
	if h.sleeping.Load() {
		select {
		case h.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return n
}

// wait spins until h has finished job n.
func (h *helper) wait(n uint64) {
	for h.done.Load() != n {
		runtime.Gosched()
	}
}

// parallelFor runs t over [0, n) in contiguous chunks, one per worker (at
// most workers of them, and never more than the pool has), when the work is
// worth it: cost is the rough number of multiply-adds per item, and chunks
// smaller than about minWork stay on the calling goroutine.
func parallelFor(n, cost, workers int, t task) {
	const minWork = 1 << 15
	p := workerPool()
	workers = min(workers, n, p.workers, maxHelpers+1)
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
	var posted [maxHelpers]uint64
	used := 0
	for w := 1; w < workers; w++ {
		lo, hi := w*chunk, min(n, (w+1)*chunk)
		if lo >= hi {
			break
		}
		posted[w-1] = p.helpers[w-1].post(part{t, w, lo, hi})
		used = w
	}
	t.run(0, 0, min(n, chunk))
	for w := 1; w <= used; w++ {
		p.helpers[w-1].wait(posted[w-1])
	}
}

// maxHelpers bounds the helpers one call waits for without allocating.
const maxHelpers = 255
