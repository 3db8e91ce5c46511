package cpu

import (
	"math/rand/v2"
	"testing"
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
