package cpu

import (
	"testing"
	"time"
)

type noopTask struct{ hits [2]int }

func (t *noopTask) run(w, lo, hi int) { t.hits[w] += hi - lo }

// BenchmarkParallelForOverhead is the cost of handing two items to the
// pool's two workers and waiting for both: what every parallel op pays
// before doing any work.
func BenchmarkParallelForOverhead(b *testing.B) {
	var t noopTask
	for b.Loop() {
		parallelFor(2, 1<<20, 2, &t)
	}
}

type spinTask struct{ sink [2]float64 }

func spin(d int) float64 {
	s := 1.0
	for i := range d {
		s = s*1.0000001 + float64(i&1)
	}
	return s
}

func (t *spinTask) run(w, lo, hi int) { t.sink[w] += spin(20000 * (hi - lo)) }

// BenchmarkParallelForAfterSerialWork hands out two equal items after some
// serial work, as a training step alternates them: the time above the
// items' own is the wake-up of a parked worker.
func BenchmarkParallelForAfterSerialWork(b *testing.B) {
	var t spinTask
	for _, workers := range []int{1, 2} {
		b.Run(map[int]string{1: "one-worker", 2: "two-workers"}[workers], func(b *testing.B) {
			for b.Loop() {
				t.sink[0] += spin(20000)
				parallelFor(2, 1<<20, workers, &t)
			}
		})
	}
}

// countTask counts how often each item runs.
type countTask struct{ counts []int32 }

func (t *countTask) run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		t.counts[i]++
	}
}

// TestParallelForRunsEveryItemOnce hands out many calls of varying sizes,
// some right after each other (helpers spinning) and some after a pause
// longer than spinFor (helpers parked), and checks that every item ran
// exactly once and the call returned only after all had.
func TestParallelForRunsEveryItemOnce(t *testing.T) {
	for call := range 400 {
		n := 1 + call%37
		task := &countTask{counts: make([]int32, n)}
		parallelFor(n, 1<<20, 1+call%3, task)
		for i, c := range task.counts {
			if c != 1 {
				t.Fatalf("call %d (n=%d): item %d ran %d times", call, n, i, c)
			}
		}
		if call%100 == 99 {
			time.Sleep(spinFor + time.Millisecond)
		}
	}
}
