package cli

import (
	"math"
	"slices"
	"testing"
)

// The summary of a row is the notebook's: means, sample standard deviations
// (n−1, numpy's ddof=1), medians, and the change from plain to permuted,
// negative when permuting the pixels costs accuracy. The expected values
// are worked out by hand in the comments.
func TestSummarizeShuffleRow(t *testing.T) {
	plain := []float64{97, 90, 92, 93} // mean 93; deviations 4, −3, −1, 0: Σ² = 26
	permuted := []float64{80, 86, 80}  // mean 82; deviations −2, 4, −2: Σ² = 24
	plainCopy, permutedCopy := slices.Clone(plain), slices.Clone(permuted)
	got := summarize(plain, permuted)
	want := ShuffleStats{
		PlainMean: 93, PlainStd: math.Sqrt(26.0 / 3), PlainMedian: 92.5, // sorted 90 92 93 97
		PermutedMean: 82, PermutedStd: math.Sqrt(24.0 / 2), PermutedMedian: 80,
		Change: 82 - 93,
	}
	if !closeStats(got, want) {
		t.Errorf("summary\n got %+v\nwant %+v", got, want)
	}
	if !slices.Equal(plain, plainCopy) || !slices.Equal(permuted, permutedCopy) {
		t.Errorf("summarize reordered the accuracies: %v %v", plain, permuted)
	}

	// One seed has no spread: the std is 0, not NaN from dividing by n−1 = 0.
	one := summarize([]float64{91.5}, []float64{93.25})
	if want := (ShuffleStats{PlainMean: 91.5, PlainMedian: 91.5, PermutedMean: 93.25, PermutedMedian: 93.25, Change: 1.75}); !closeStats(one, want) {
		t.Errorf("one seed\n got %+v\nwant %+v", one, want)
	}
}

// closeStats compares two summaries to within rounding; a NaN is never
// close.
func closeStats(a, b ShuffleStats) bool {
	x := []float64{a.PlainMean, a.PlainStd, a.PlainMedian, a.PermutedMean, a.PermutedStd, a.PermutedMedian, a.Change}
	y := []float64{b.PlainMean, b.PlainStd, b.PlainMedian, b.PermutedMean, b.PermutedStd, b.PermutedMedian, b.Change}
	for i := range x {
		if !(math.Abs(x[i]-y[i]) <= 1e-9) { // NaN fails too
			return false
		}
	}
	return true
}
