package cpu

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/ops"
)

// im2colDef is im2col by its definition, one value at a time.
func im2colDef(img []float32, d convDims, col []float32, ld int) {
	for c := 0; c < d.cin; c++ {
		for ki := 0; ki < d.k; ki++ {
			for kj := 0; kj < d.k; kj++ {
				row := (c*d.k+ki)*d.k + kj
				for oy := 0; oy < d.ho; oy++ {
					for ox := 0; ox < d.wo; ox++ {
						iy, ix := oy+ki-d.p, ox+kj-d.p
						v := float32(0)
						if iy >= 0 && iy < d.h && ix >= 0 && ix < d.w {
							v = img[(c*d.h+iy)*d.w+ix]
						}
						col[row*ld+oy*d.wo+ox] = v
					}
				}
			}
		}
	}
}

// TestIm2colMatchesDefinition covers the contiguous ("same" padding) and the
// line-by-line paths, padding wider than the kernel's reach, kernels larger
// than the image, and a row stride wider than one image.
func TestIm2colMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, g := range []struct{ cin, h, w, k, p int }{
		{3, 32, 32, 3, 1}, {2, 4, 4, 3, 1}, {2, 2, 2, 3, 1}, {1, 1, 1, 3, 1}, {1, 28, 28, 5, 0}, {6, 14, 14, 5, 0},
		{2, 7, 5, 3, 0}, {2, 5, 7, 5, 2}, {1, 6, 6, 3, 2}, {1, 3, 3, 5, 1}, {2, 8, 8, 1, 0}, {1, 4, 6, 3, 3},
	} {
		d := convDims{n: 1, cin: g.cin, h: g.h, w: g.w, k: g.k, p: g.p}
		d.ho, d.wo = d.h+2*d.p-d.k+1, d.w+2*d.p-d.k+1
		if d.ho < 1 || d.wo < 1 {
			continue
		}
		img := make([]float32, d.inSize())
		for i := range img {
			img[i] = float32(rng.NormFloat64())
		}
		ld := d.pixels() + 7
		got, want := make([]float32, d.rows()*ld), make([]float32, d.rows()*ld)
		for i := range got {
			got[i], want[i] = -1, -1 // the gaps between rows must stay untouched
		}
		im2col(img, d, got, ld)
		im2colDef(img, d, want, ld)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%+v: col[%d] = %v, want %v", g, i, got[i], want[i])
			}
		}
	}
}

// BenchmarkIm2col unfolds one image of each convolution of LeNet, the MNIST
// CNN and VGG's second layer.
func BenchmarkIm2col(b *testing.B) {
	for _, g := range []struct {
		name            string
		cin, h, w, k, p int
	}{{"lenet1", 3, 32, 32, 5, 0}, {"lenet2", 6, 14, 14, 5, 0}, {"mnist1", 1, 28, 28, 5, 0}, {"mnist2", 6, 12, 12, 5, 0}, {"vgg2", 64, 16, 16, 3, 1}} {
		d := convDims{n: 1, cin: g.cin, h: g.h, w: g.w, k: g.k, p: g.p}
		d.ho, d.wo = d.h+2*d.p-d.k+1, d.w+2*d.p-d.k+1
		img, col := make([]float32, d.inSize()), make([]float32, d.rows()*d.pixels())
		b.Run(g.name, func(b *testing.B) {
			for b.Loop() {
				im2col(img, d, col, d.pixels())
			}
			b.ReportMetric(float64(len(col))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gfloats/s")
		})
	}
}

// convDef is an unpadded convolution and its three gradients by their
// definitions, in float64.
func convDef(d convDims, x, w, b, dy []float32) (out, dx, dw, db []float64) {
	out, dx = make([]float64, d.n*d.outSize()), make([]float64, d.n*d.inSize())
	dw, db = make([]float64, d.cout*d.rows()), make([]float64, d.cout)
	for n := range d.n {
		for o := range d.cout {
			for oy := range d.ho {
				for ox := range d.wo {
					at := ((n*d.cout+o)*d.ho+oy)*d.wo + ox
					s := float64(b[o])
					for c := range d.cin {
						for ki := range d.k {
							for kj := range d.k {
								xi := ((n*d.cin+c)*d.h+oy+ki)*d.w + ox + kj
								wi := ((o*d.cin+c)*d.k+ki)*d.k + kj
								s += float64(w[wi]) * float64(x[xi])
								dx[xi] += float64(w[wi]) * float64(dy[at])
								dw[wi] += float64(x[xi]) * float64(dy[at])
							}
						}
					}
					out[at] = s
					db[o] += float64(dy[at])
				}
			}
		}
	}
	return out, dx, dw, db
}

// TestConvLayoutsMatchDefinition runs unpadded convolutions in both
// layouts, the wide one (GemmRows, foldWide, DotRows) and the compact one
// (im2col, col2im, Gemm), over batches that leave a partial last chunk and
// with one and three workers, against the definition: forward, input,
// weight and bias gradients.
func TestConvLayoutsMatchDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	buf := func(n int) *Buffer { return &Buffer{data: make([]float32, n)} }
	random := func(n int) *Buffer {
		b := buf(n)
		for i := range b.data {
			b.data[i] = float32(rng.NormFloat64())
		}
		return b
	}
	for _, g := range []struct{ n, cin, h, w, cout, k, workers int }{
		{5, 3, 32, 32, 6, 5, 1}, {7, 6, 14, 14, 16, 5, 3}, {3, 1, 28, 28, 6, 5, 3}, {4, 2, 7, 9, 3, 3, 1}, {2, 2, 5, 5, 5, 5, 1},
	} {
		op := ops.Op{Kind: ops.Conv2d, KernelSize: g.k}
		in := []ops.Shape{{g.n, g.cin, g.h, g.w}, {g.cout, g.cin, g.k, g.k}, {g.cout}}
		x, w, b := random(g.n*g.cin*g.h*g.w), random(g.cout*g.cin*g.k*g.k), random(g.cout)
		ho, wo := g.h-g.k+1, g.w-g.k+1
		dy := random(g.n * g.cout * ho * wo)
		for _, wide := range []bool{true, false} {
			c := newConv2dLayout(op, in, g.workers, wide)
			if c.d.wide != wide {
				t.Fatalf("%+v: asked for wide=%v, got %v", g, wide, c.d.wide)
			}
			ws := buf(c.Workspace())
			out, dx, dw, db := buf(len(dy.data)), buf(len(x.data)), buf(len(w.data)), buf(g.cout)
			if err := c.Forward(backend.Args{In: []backend.Buffer{x, w, b}, Out: out, Workspace: ws}); err != nil {
				t.Fatal(err)
			}
			for wrt, d := range []*Buffer{dx, dw, db} {
				if err := c.Backward(wrt, backend.Args{In: []backend.Buffer{x, w, b}, Out: out, DOut: dy, DIn: d, Workspace: ws}); err != nil {
					t.Fatal(err)
				}
			}
			wOut, wDx, wDw, wDb := convDef(c.d, x.data, w.data, b.data, dy.data)
			for _, r := range []struct {
				name string
				got  []float32
				want []float64
			}{{"output", out.data, wOut}, {"input gradient", dx.data, wDx}, {"weight gradient", dw.data, wDw}, {"bias gradient", db.data, wDb}} {
				for i, v := range r.got {
					if d := math.Abs(float64(v) - r.want[i]); d > 1e-4*(1+math.Abs(r.want[i])) {
						t.Fatalf("%+v wide=%v: %s[%d] = %v, want %v", g, wide, r.name, i, v, r.want[i])
					}
				}
			}
		}
	}
}

// BenchmarkConvPasses times each pass of the convolutions of LeNet, the
// MNIST CNN and one VGG layer at their training batch sizes, on every core
// (and on one: -cpu 1).
func BenchmarkConvPasses(b *testing.B) {
	for _, g := range []struct {
		name                     string
		n, cin, h, w, cout, k, p int
	}{
		{"lenet1", 64, 3, 32, 32, 6, 5, 0}, {"lenet2", 64, 6, 14, 14, 16, 5, 0},
		{"mnist1", 64, 1, 28, 28, 6, 5, 0}, {"mnist2", 64, 6, 12, 12, 6, 5, 0},
		{"vgg-width0.25-3", 128, 16, 16, 16, 32, 3, 1},
	} {
		op := ops.Op{Kind: ops.Conv2d, KernelSize: g.k, Padding: g.p}
		in := []ops.Shape{{g.n, g.cin, g.h, g.w}, {g.cout, g.cin, g.k, g.k}, {g.cout}}
		c := newConv2d(op, in, runtime.GOMAXPROCS(0))
		buf := func(n int) *Buffer { return &Buffer{data: make([]float32, n)} }
		ho, wo := g.h+2*g.p-g.k+1, g.w+2*g.p-g.k+1
		x, w, bias := buf(g.n*g.cin*g.h*g.w), buf(g.cout*g.cin*g.k*g.k), buf(g.cout)
		out, dy := buf(g.n*g.cout*ho*wo), buf(g.n*g.cout*ho*wo)
		dx, dw, db, ws := buf(len(x.data)), buf(len(w.data)), buf(g.cout), buf(c.Workspace())
		for i := range x.data {
			x.data[i] = float32(i%13) - 6
		}
		for i := range dy.data {
			dy.data[i] = float32(i%7) - 3
		}
		args := func(d *Buffer) backend.Args {
			return backend.Args{In: []backend.Buffer{x, w, bias}, Out: out, DOut: dy, DIn: d, Workspace: ws}
		}
		b.Run(g.name+"/forward", func(b *testing.B) {
			for b.Loop() {
				c.Forward(args(nil))
			}
		})
		for wrt, pass := range []string{"input", "weight", "bias"} {
			d := []*Buffer{dx, dw, db}[wrt]
			b.Run(g.name+"/"+pass, func(b *testing.B) {
				for b.Loop() {
					c.Backward(wrt, args(d))
				}
			})
		}
	}
}
