// Package parity reads the PyTorch fixtures in testdata/parity (written by
// scripts/parity/make_fixtures.py) for the parity tests, and measures how far
// a result is from PyTorch's.
package parity

import (
	"encoding/json"
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/cnntrain/cnntrain/internal/safetensors"
)

// Tol is the parity tolerance: max|ours − PyTorch| / max|PyTorch| per tensor.
// Relative to the tensor's scale rather than per element, because elements
// near zero (a gradient that cancels, a normalized activation) carry the
// float32 rounding of the sums they came from, not of their own size. Our
// kernels sum in other orders than PyTorch's (blocked products with FMA,
// float64 accumulators in BatchNorm), so bit equality is not expected; 1e-4
// is about 1000 float32 ulps of the scale.
const Tol = 1e-4

// LayerTol is the tolerance of a single layer against PyTorch: one op on
// small inputs, so only the summation order of one reduction differs. The
// CPU backend measures at most 4.1e-7 (a convolution's weight gradient);
// 2e-6 leaves room for a backend that sums in another order (cuBLAS), and
// is still 50 times tighter than Tol, which whole models need because
// rounding differences compound through the layers.
const LayerTol = 2e-6

// Fixture is one fixture file.
type Fixture struct {
	Path string
	File *safetensors.File
}

// Load reads testdata/parity/<name>.safetensors.
func Load(t testing.TB, name string) Fixture {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "..", "..", "testdata", "parity", name+".safetensors")
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatalf("fixture %s: %v (regenerate with: /usr/bin/python3 scripts/parity/make_fixtures.py)", name, err)
	}
	return Fixture{path, f}
}

// Floats returns a tensor's values as float32 (integers converted) and its
// shape; the slice is a copy the caller may change.
func (fx Fixture) Floats(t testing.TB, name string) ([]float32, []int) {
	t.Helper()
	ts, ok := fx.File.Get(name)
	if !ok {
		t.Fatalf("%s: no tensor %q", fx.Path, name)
	}
	if ts.F32 != nil {
		return append([]float32(nil), ts.F32...), ts.Shape
	}
	out := make([]float32, len(ts.I64))
	for i, v := range ts.I64 {
		out[i] = float32(v)
	}
	return out, ts.Shape
}

// Values is Floats without the shape.
func (fx Fixture) Values(t testing.TB, name string) []float32 {
	t.Helper()
	v, _ := fx.Floats(t, name)
	return v
}

// Meta returns a metadata value; MetaJSON decodes one; MetaFloat parses one.
func (fx Fixture) Meta(t testing.TB, key string) string {
	t.Helper()
	v, ok := fx.File.Metadata[key]
	if !ok {
		t.Fatalf("%s: no metadata %q", fx.Path, key)
	}
	return v
}

func (fx Fixture) MetaJSON(t testing.TB, key string, dst any) {
	t.Helper()
	if err := json.Unmarshal([]byte(fx.Meta(t, key)), dst); err != nil {
		t.Fatalf("%s: metadata %s: %v", fx.Path, key, err)
	}
}

func (fx Fixture) MetaFloat(t testing.TB, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(fx.Meta(t, key), 64)
	if err != nil {
		t.Fatalf("%s: metadata %s: %v", fx.Path, key, err)
	}
	return v
}

// RelErr is max|got − want| / max|want| (the absolute difference when want
// is all zeros).
func RelErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1) // never within tolerance
	}
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

// ExpectClose fails t unless got is within tol of want (RelErr), and logs the
// error for `go test -v`.
func ExpectClose(t testing.TB, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, PyTorch has %d", what, len(got), len(want))
		return
	}
	e := RelErr(got, want)
	if !(e <= tol) {
		t.Errorf("%s: relative error %.3g > %g", what, e, tol)
	}
	t.Logf("%s: relative error %.2g", what, e)
}
