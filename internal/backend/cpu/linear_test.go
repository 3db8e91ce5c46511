package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
)

// TestLinearPathsMatchDefinition runs the forward pass of each way a Linear
// computes against the definition: dot products of rows on one goroutine
// (a training batch), the same spread over workers (a test batch of the
// MNIST MLP: 1,000·784·8 multiply-adds, above linearSplitMin), and a
// product with W transposed (more than dotMaxOut outputs). The fixtures
// only reach the first and the last.
func TestLinearPathsMatchDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	random := func(n int) *Buffer {
		b := &Buffer{data: make([]float32, n)}
		for i := range b.data {
			b.data[i] = float32(rng.NormFloat64())
		}
		return b
	}
	for _, g := range []struct {
		n, in, out, workers int
		split               bool
	}{
		{64, 784, 8, 2, false},           // dot products, serial
		{300, 784, 10, 2, true},          // dot products, split
		{301, 784, 10, 3, true},          // split with a partial last chunk
		{5, 40, dotMaxOut + 1, 2, false}, // Gemm
	} {
		if split := g.out <= dotMaxOut && g.n*g.out*g.in >= linearSplitMin; split != g.split {
			t.Fatalf("%+v: split path %v", g, split)
		}
		l := newLinear(g.n, g.out, g.in, g.workers)
		x, w, b := random(g.n*g.in), random(g.out*g.in), random(g.out)
		out := &Buffer{data: make([]float32, g.n*g.out)}
		for i := range out.data {
			out.data[i] = float32(math.NaN())
		}
		if err := l.Forward(backend.Args{In: []backend.Buffer{x, w, b}, Out: out}); err != nil {
			t.Fatal(err)
		}
		for i := range g.n {
			for o := range g.out {
				want := float64(b.data[o])
				for k := range g.in {
					want += float64(x.data[i*g.in+k]) * float64(w.data[o*g.in+k])
				}
				if got := out.data[i*g.out+o]; !(math.Abs(float64(got)-want) <= 1e-4*(1+math.Abs(want))) {
					t.Fatalf("%+v: out[%d][%d] = %v, want %v", g, i, o, got, want)
				}
			}
		}
	}
}
