package datasets

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Continuing from any batch's Next gives exactly the batches the full epoch
// went on to give, augmentation included, also after the position has been
// through JSON (as a checkpoint stores it).
func TestLoaderFromContinuesExactly(t *testing.T) {
	s := fakeSplit(100, 3, 8, 8)
	for _, augment := range []bool{false, true} {
		cfg := LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 3, Normalize: cifarNorm}
		if augment {
			cfg.RandomCrop, cfg.RandomFlip = 3, true
		}
		l, err := NewLoader(s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var whole [][]float32
		var nexts []Position
		for b := range l.Epoch(1) {
			whole = append(whole, slices.Clone(b.Images))
			nexts = append(nexts, b.Next.Clone())
		}
		if last := nexts[len(nexts)-1]; last.Epoch != 1 || last.Batch != l.NumBatches() {
			t.Fatalf("after the last batch: %+v, want epoch 1 batch %d", last, l.NumBatches())
		}
		for k, pos := range nexts {
			if (pos.AugmentRNG != nil) != augment {
				t.Fatalf("augment %v: position %d has augmentation state %v", augment, k, pos.AugmentRNG)
			}
			js, err := json.Marshal(pos)
			if err != nil {
				t.Fatal(err)
			}
			var back Position
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			seq, err := l.From(back)
			if err != nil {
				t.Fatal(err)
			}
			var rest [][]float32
			for b := range seq {
				rest = append(rest, slices.Clone(b.Images))
			}
			if !slices.EqualFunc(rest, whole[k+1:], slices.Equal) {
				t.Errorf("augment %v: continuing after batch %d gave other batches than the whole epoch", augment, k)
			}
		}
	}
}

// A position that cannot belong to the loader is refused, not silently
// started from the epoch's beginning.
func TestLoaderFromRefusesForeignPositions(t *testing.T) {
	s := fakeSplit(64, 3, 8, 8)
	plain, _ := NewLoader(s, LoaderConfig{BatchSize: 16})
	augmented, _ := NewLoader(s, LoaderConfig{BatchSize: 16, RandomFlip: true})
	for _, tc := range []struct {
		l    *Loader
		pos  Position
		want string
	}{
		{plain, Position{Batch: 5}, "outside 0..4"},
		{plain, Position{Epoch: -1}, "outside"},
		{plain, Position{Batch: 1, AugmentRNG: []byte("pcg:0123456789abcdef")}, "does not augment"},
		{augmented, Position{Batch: 2}, "lacks the augmentation stream's state"},
		{augmented, Position{Batch: 2, AugmentRNG: []byte("junk")}, "augmentation state"},
	} {
		if _, err := tc.l.From(tc.pos); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error saying %q", tc.pos, err, tc.want)
		}
	}
}

// The iterator From returns can be run more than once, and each run yields
// the same batches: its augmentation stream starts over every time.
func TestLoaderFromIteratorRepeats(t *testing.T) {
	s := fakeSplit(40, 3, 8, 8)
	l, err := NewLoader(s, LoaderConfig{BatchSize: 16, Seed: 5, Normalize: cifarNorm, RandomCrop: 3, RandomFlip: true})
	if err != nil {
		t.Fatal(err)
	}
	seq, err := l.From(Position{Epoch: 2})
	if err != nil {
		t.Fatal(err)
	}
	run := func() (out [][]float32) {
		for b := range seq {
			out = append(out, slices.Clone(b.Images))
		}
		return out
	}
	first := run()
	if len(first) != l.NumBatches() {
		t.Fatalf("%d batches, want %d", len(first), l.NumBatches())
	}
	if !slices.EqualFunc(run(), first, slices.Equal) {
		t.Error("running the same iterator again gave other batches")
	}
}
