package ops

import (
	"slices"
	"strings"
	"testing"
)

func TestOutputShape(t *testing.T) {
	conv := Op{Kind: Conv2d, KernelSize: 3, Padding: 1}
	bn := func(mode BNMode) Op { return Op{Kind: BatchNorm2d, Eps: 1e-5, Momentum: 0.1, Mode: mode} }
	bnIn := func(x Shape, c int) []Shape { return []Shape{x, {c}, {c}, {c}, {c}, {1}} }
	for _, tc := range []struct {
		op   Op
		in   []Shape
		want Shape
	}{
		{Op{Kind: Linear}, []Shape{{4, 6}, {3, 6}, {3}}, Shape{4, 3}},
		{Op{Kind: Linear}, []Shape{{4, 2, 3, 1}, {3, 6}, {3}}, Shape{4, 3}}, // flattened after the batch
		{conv, []Shape{{2, 3, 8, 6}, {5, 3, 3, 3}, {5}}, Shape{2, 5, 8, 6}},
		{Op{Kind: Conv2d, KernelSize: 5}, []Shape{{2, 1, 28, 28}, {6, 1, 5, 5}, {6}}, Shape{2, 6, 24, 24}},
		{Op{Kind: MaxPool2d, Size: 2}, []Shape{{2, 3, 7, 8}}, Shape{2, 3, 3, 4}}, // floor mode
		{Op{Kind: ReLU}, []Shape{{2, 5}}, Shape{2, 5}},
		{Op{Kind: LogSoftmax}, []Shape{{2, 5}}, Shape{2, 5}},
		{Op{Kind: NLLLoss}, []Shape{{2, 5}, {2}}, Shape{}},
		{Op{Kind: CrossEntropyLoss}, []Shape{{2, 5}, {2}}, Shape{}},
		{bn(BNTrain), bnIn(Shape{2, 3, 1, 1}, 3), Shape{2, 3, 1, 1}},
		{bn(BNEval), bnIn(Shape{1, 3, 1, 1}, 3), Shape{1, 3, 1, 1}}, // one value per channel is enough to evaluate
	} {
		got, err := tc.op.OutputShape(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s of %v: %v, %v; want %v", tc.op, tc.in, got, err, tc.want)
		}
	}
}

// Every shape check refuses what the op cannot compute, saying why.
func TestOutputShapeRefusals(t *testing.T) {
	conv := Op{Kind: Conv2d, KernelSize: 3}
	bn := Op{Kind: BatchNorm2d, Mode: BNTrain}
	bnIn := func(x Shape, stats ...Shape) []Shape { return append([]Shape{x}, stats...) }
	c3 := Shape{3}
	for _, tc := range []struct {
		op   Op
		in   []Shape
		want string
	}{
		{Op{Kind: "Dropout"}, []Shape{{2}}, `unknown op kind "Dropout"`},
		{Op{Kind: ReLU}, []Shape{{2}, {2}}, "takes 1 inputs"},
		{Op{Kind: Linear}, []Shape{{4}, {3, 4}, {3}}, "want x (N, …)"},
		{Op{Kind: Linear}, []Shape{{4, 6}, {3, 6, 1}, {3}}, "want x (N, …)"},
		{Op{Kind: Linear}, []Shape{{4, 6}, {3, 6}, {3, 1}}, "want x (N, …)"},
		{Op{Kind: Linear}, []Shape{{4, 5}, {3, 6}, {3}}, "input has 5 features per sample"},
		{Op{Kind: Linear}, []Shape{{4, 6}, {3, 6}, {2}}, "bias has 2 elements, weight has 3 outputs"},
		{conv, []Shape{{2, 3, 8}, {5, 3, 3, 3}, {5}}, "want x (N, C, H, W)"},
		{conv, []Shape{{2, 3, 8, 8}, {5, 2, 3, 3}, {5}}, "input has 3 channels, weight expects 2"},
		{conv, []Shape{{2, 3, 8, 8}, {5, 3, 3, 2}, {5}}, "do not fit a 3x3 convolution"},
		{conv, []Shape{{2, 3, 8, 8}, {5, 3, 2, 3}, {5}}, "do not fit a 3x3 convolution"},
		{conv, []Shape{{2, 3, 8, 8}, {5, 3, 3, 3}, {4}}, "do not fit a 3x3 convolution"},
		{conv, []Shape{{2, 3, 2, 8}, {5, 3, 3, 3}, {5}}, "smaller than the 3x3 kernel"},
		{conv, []Shape{{2, 3, 8, 2}, {5, 3, 3, 3}, {5}}, "smaller than the 3x3 kernel"},
		{Op{Kind: MaxPool2d, Size: 2}, []Shape{{2, 3, 8}}, "want x (N, C, H, W)"},
		{Op{Kind: MaxPool2d, Size: 0}, []Shape{{2, 3, 8, 8}}, "smaller than the 0x0 window"},
		{Op{Kind: MaxPool2d, Size: 3}, []Shape{{2, 3, 2, 8}}, "smaller than the 3x3 window"},
		{Op{Kind: MaxPool2d, Size: 3}, []Shape{{2, 3, 8, 2}}, "smaller than the 3x3 window"},
		{Op{Kind: LogSoftmax}, []Shape{{2, 5, 1}}, "want (N, K) scores"},
		{Op{Kind: NLLLoss}, []Shape{{2, 5, 1}, {2}}, "want scores (N, K) and targets (N)"},
		{Op{Kind: NLLLoss}, []Shape{{2, 5}, {2, 1}}, "want scores (N, K) and targets (N)"},
		{Op{Kind: CrossEntropyLoss}, []Shape{{2, 5}, {3}}, "want scores (N, K) and targets (N)"},
		{bn, bnIn(Shape{2, 3, 4}, c3, c3, c3, c3, Shape{1}), "want x (N, C, H, W)"},
		{bn, bnIn(Shape{2, 3, 4, 4}, Shape{2}, c3, c3, c3, Shape{1}), "weight has shape (2), want (3)"},
		{bn, bnIn(Shape{2, 3, 4, 4}, c3, c3, c3, Shape{3, 1}, Shape{1}), "running_var has shape (3, 1), want (3)"},
		{bn, bnIn(Shape{2, 3, 4, 4}, c3, c3, c3, c3, Shape{2}), "num_batches_tracked has shape (2), want one value"},
		{bn, bnIn(Shape{1, 3, 1, 1}, c3, c3, c3, c3, Shape{1}), "expected more than 1 value per channel when training"},
		{Op{Kind: BatchNorm2d, Mode: BNBatchStats}, bnIn(Shape{1, 3, 1, 1}, c3, c3, c3, c3, Shape{1}), "expected more than 1 value per channel"},
	} {
		_, err := tc.op.OutputShape(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s of %v: %v, want an error saying %q", tc.op, tc.in, err, tc.want)
		}
	}
}

// Only the inputs PyTorch differentiates get gradients: not the loss
// targets, not BatchNorm's statistics and counter.
func TestDifferentiable(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		want []bool
	}{
		{Linear, []bool{true, true, true}},
		{Conv2d, []bool{true, true, true}},
		{MaxPool2d, []bool{true}},
		{ReLU, []bool{true}},
		{LogSoftmax, []bool{true}},
		{NLLLoss, []bool{true, false}},
		{CrossEntropyLoss, []bool{true, false}},
		{BatchNorm2d, []bool{true, true, true, false, false, false}},
	} {
		op := Op{Kind: tc.kind}
		var got []bool
		for i := range op.Inputs() {
			got = append(got, op.Differentiable(i))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: differentiable inputs %v, want %v", tc.kind, got, tc.want)
		}
	}
}

// Only training BatchNorm overwrites its statistics and counter.
func TestUpdates(t *testing.T) {
	for mode, want := range map[BNMode][]int{BNTrain: {3, 4, 5}, BNEval: nil, BNBatchStats: nil} {
		if got := (Op{Kind: BatchNorm2d, Mode: mode}).Updates(); !slices.Equal(got, want) {
			t.Errorf("BatchNorm2d in %s mode updates %v, want %v", mode, got, want)
		}
	}
	if got := (Op{Kind: Linear}).Updates(); got != nil {
		t.Errorf("Linear updates %v", got)
	}
}

// What each gradient reads of the forward pass: the executor frees what no
// remaining backward step reads, so reading more keeps memory for nothing
// and reading less hands a kernel a tensor that may be overwritten.
func TestBackwardReads(t *testing.T) {
	for _, tc := range []struct {
		kind    Kind
		wrt     int
		in      []bool
		readOut bool
	}{
		{Linear, 0, []bool{false, true, false}, false}, // dx = dy·W
		{Linear, 1, []bool{true, false, false}, false}, // dW = dyᵀ·x
		{Linear, 2, []bool{false, false, false}, false},
		{Conv2d, 0, []bool{false, true, false}, false},
		{Conv2d, 1, []bool{true, false, false}, false},
		{Conv2d, 2, []bool{false, false, false}, false},
		{MaxPool2d, 0, []bool{false}, false},
		{ReLU, 0, []bool{false}, true},
		{LogSoftmax, 0, []bool{false}, true},
		{NLLLoss, 0, []bool{false, true}, false},
		{CrossEntropyLoss, 0, []bool{false, true}, false},
		{BatchNorm2d, 0, []bool{true, true, false, false, false, false}, false},
		{BatchNorm2d, 1, []bool{true, false, false, false, false, false}, false},
		{BatchNorm2d, 2, []bool{true, false, false, false, false, false}, false},
	} {
		in, out := (Op{Kind: tc.kind}).BackwardReads(tc.wrt)
		if !slices.Equal(in, tc.in) || out != tc.readOut {
			t.Errorf("∂%s/∂input %d reads inputs %v and output %v, want %v and %v", tc.kind, tc.wrt, in, out, tc.in, tc.readOut)
		}
	}
}

func TestSaved(t *testing.T) {
	pool := Op{Kind: MaxPool2d, Size: 2}.Saved([]Shape{{2, 3, 8, 6}})
	if len(pool) != 1 || pool[0].Name != "argmax" || !pool[0].Shape.Equal(Shape{2, 3, 4, 3}) || pool[0].DType != I32 {
		t.Errorf("MaxPool2d saves %+v", pool)
	}
	bn := Op{Kind: BatchNorm2d}.Saved([]Shape{{2, 5, 4, 4}, {5}, {5}, {5}, {5}, {1}})
	if len(bn) != 2 || bn[0].Name != "mean" || bn[1].Name != "invstd" || !bn[0].Shape.Equal(Shape{5}) || !bn[1].Shape.Equal(Shape{5}) {
		t.Errorf("BatchNorm2d saves %+v", bn)
	}
	scores := Shape{4, 10}
	ce := Op{Kind: CrossEntropyLoss}.Saved([]Shape{scores, {4}})
	if len(ce) != 1 || ce[0].Name != "log_probs" || !ce[0].Shape.Equal(Shape{4, 10}) || ce[0].DType != F32 {
		t.Errorf("CrossEntropyLoss saves %+v", ce)
	}
	ce[0].Shape[0] = 99
	if scores[0] != 4 {
		t.Error("the saved tensor's shape aliases the input's")
	}
	for _, k := range []Kind{Linear, Conv2d, ReLU, LogSoftmax, NLLLoss} {
		if s := (Op{Kind: k}).Saved(nil); s != nil {
			t.Errorf("%s saves %+v", k, s)
		}
	}
}
