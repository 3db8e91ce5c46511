package vec

import (
	"strings"
	"testing"
)

// Every length check panics with the package's own message before the
// assembly runs: unchecked, the AVX-512 loops read and write past the
// slices without any runtime error.
func TestLengthChecks(t *testing.T) {
	f := func(n int) []float32 { return make([]float32, n) }
	i := func(n int) []int32 { return make([]int32, n) }
	for _, tc := range []struct {
		what string
		call func()
	}{
		{"ReLU", func() { ReLU(f(16), f(17)) }},
		{"ReLUGrad dy", func() { ReLUGrad(f(16), f(17), f(16)) }},
		{"ReLUGrad out", func() { ReLUGrad(f(16), f(16), f(17)) }},
		{"AddTo", func() { AddTo(f(16), f(17)) }},
		{"AddScalar", func() { AddScalar(f(17), f(16), 1) }},
		{"AddScalarRows dst stride", func() { AddScalarRows(f(64), 4, f(64), 8, 2, 5, 1) }},
		{"AddScalarRows src stride", func() { AddScalarRows(f(64), 8, f(64), 4, 2, 5, 1) }},
		{"AddScalarRows short dst", func() { AddScalarRows(f(12), 8, f(64), 8, 2, 5, 1) }},
		{"AddScalarRows short src", func() { AddScalarRows(f(64), 8, f(12), 8, 2, 5, 1) }},
		{"MaxPool2Plane window past the line", func() { MaxPool2Plane(f(64), 5, 2, 3, f(6), i(6)) }},
		{"MaxPool2Plane short src", func() { MaxPool2Plane(f(23), 6, 2, 3, f(6), i(6)) }},
		{"MaxPool2Plane short dst", func() { MaxPool2Plane(f(24), 6, 2, 3, f(5), i(6)) }},
		{"MaxPool2Plane short arg", func() { MaxPool2Plane(f(24), 6, 2, 3, f(6), i(5)) }},
		{"MaxPool2Plane negative ho", func() { MaxPool2Plane(f(24), 6, -1, 3, f(6), i(6)) }},
		{"SumsDyXc", func() { SumsDyXc(f(16), f(17), 0) }},
		{"AffineF64", func() { AffineF64(f(16), f(17), 1, 0) }},
		{"BNGradF64 dy", func() { BNGradF64(f(16), f(17), f(16), 1, 0, 0, 0) }},
		{"BNGradF64 x", func() { BNGradF64(f(16), f(16), f(17), 1, 0, 0, 0) }},
	} {
		func() {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.HasPrefix(msg, "vec: ") {
					t.Errorf("%s with lengths that do not fit: recovered %v, want the length check's panic", tc.what, r)
				}
			}()
			tc.call()
		}()
	}
}

// Nothing to do is no error, whatever the slices.
func TestEmptyShapesDoNothing(t *testing.T) {
	AddScalarRows(nil, 0, nil, 0, 0, 5, 1)
	AddScalarRows(nil, 0, nil, 0, 3, 0, 1)
	MaxPool2Plane(nil, 0, 0, 0, nil, nil)
	MaxPool2Plane(make([]float32, 16), 4, 2, 0, nil, nil)
}
