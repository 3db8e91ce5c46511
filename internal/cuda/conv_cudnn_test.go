package cuda

import "testing"

func TestChooseAlgo(t *testing.T) {
	const (
		ok, notSupported = 0, 3000
		nondeterministic = 0
	)
	tensorOps := algoPerf{algo: 1, status: ok, mathType: cudnnTensorOpMath, determinism: cudnnDeterministic}
	fma := algoPerf{algo: 2, status: ok, mathType: cudnnFMAMath, determinism: cudnnDeterministic}
	racy := algoPerf{algo: 3, status: ok, mathType: cudnnFMAMath, determinism: nondeterministic}
	huge := algoPerf{algo: 4, status: ok, mathType: cudnnFMAMath, determinism: cudnnDeterministic, memory: cudnnWorkspaceLimit + 1}
	failed := algoPerf{algo: 5, status: notSupported, mathType: cudnnFMAMath, determinism: cudnnDeterministic}
	for _, c := range []struct {
		name    string
		results []algoPerf
		tf32    bool
		want    int
	}{
		{"strict FP32 skips tensor cores", []algoPerf{tensorOps, fma}, false, 1},
		{"TF32 takes the heuristics' first", []algoPerf{tensorOps, fma}, true, 0},
		{"a deterministic algorithm before a faster racy one", []algoPerf{racy, fma}, false, 1},
		{"a racy algorithm where no other will do", []algoPerf{failed, racy, tensorOps}, false, 1},
		{"not beyond the workspace limit", []algoPerf{huge, fma}, false, 1},
		{"not one that failed", []algoPerf{failed, fma}, false, 1},
		{"none: im2col instead", []algoPerf{failed, huge, tensorOps}, false, -1},
		{"no results", nil, false, -1},
	} {
		if got := chooseAlgo(c.results, c.tf32); got != c.want {
			t.Errorf("%s: chose %d, want %d", c.name, got, c.want)
		}
	}
}
