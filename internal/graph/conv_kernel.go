package graph

import (
	"fmt"

	"github.com/cnntrain/cnntrain/internal/sgemm"

	"gorgonia.org/tensor"
)

// conv2dKernel is PyTorch's Conv2d with stride 1 and zero padding: x (N, Cin, H, W),
// weight (Cout, Cin, k, k), bias (Cout) → (N, Cout, H+2p-k+1, W+2p-k+1).
//
// Each worker takes a range of the batch's images and unfolds them (im2col)
// a few at a time into one matrix whose columns are the output positions of
// those images, so one matrix product covers several images: deep layers
// have only 4 or 16 positions per image, and a product that narrow leaves
// gonum's Sgemm mostly idle. The number of images per product is set to keep
// the unfolded matrix near colBudget floats, cache-sized.
type conv2dKernel struct {
	kernelSize, padding int
	// Per worker: the unfolded images, the output-shaped product
	// (Cout, images·pixels), and for the weight gradient a private sum.
	col, prod, partial [][]float32
	used               []bool // which workers' partial sums hold this call's data
}

// colBudget bounds each worker's unfolded matrix: 64K floats, 256 KB
// (measured best of 64K–1M on the CIFAR and MNIST benchmarks).
const colBudget = 1 << 16

func (c *conv2dKernel) name() string {
	return fmt.Sprintf("Conv2d(k=%d,p=%d)", c.kernelSize, c.padding)
}

func (c *conv2dKernel) outputShape(in []tensor.Shape) (tensor.Shape, error) {
	x, w, b := in[0], in[1], in[2]
	if len(x) != 4 || len(w) != 4 || len(b) != 1 {
		return nil, fmt.Errorf("want x (N, C, H, W), weight (Cout, Cin, k, k), bias (Cout); got %v, %v, %v", x, w, b)
	}
	if w[1] != x[1] {
		return nil, fmt.Errorf("input has %d channels, weight expects %d", x[1], w[1])
	}
	if w[2] != c.kernelSize || w[3] != c.kernelSize || b[0] != w[0] {
		return nil, fmt.Errorf("weight %v and bias %v do not fit a %dx%d convolution", w, b, c.kernelSize, c.kernelSize)
	}
	ho, wo := x[2]+2*c.padding-c.kernelSize+1, x[3]+2*c.padding-c.kernelSize+1
	if ho < 1 || wo < 1 {
		return nil, fmt.Errorf("input of %dx%d pixels is smaller than the %dx%d kernel", x[2], x[3], c.kernelSize, c.kernelSize)
	}
	return tensor.Shape{x[0], w[0], ho, wo}, nil
}

// convDims is the geometry of one call, derived from the shapes.
type convDims struct {
	n, cin, h, w, cout, k, p, ho, wo int
}

func (c *conv2dKernel) dims(x, w tensor.Shape) convDims {
	d := convDims{n: x[0], cin: x[1], h: x[2], w: x[3], cout: w[0], k: c.kernelSize, p: c.padding}
	d.ho, d.wo = d.h+2*d.p-d.k+1, d.w+2*d.p-d.k+1
	return d
}

func (d convDims) rows() int    { return d.cin * d.k * d.k } // rows of the unfolded matrix
func (d convDims) pixels() int  { return d.ho * d.wo }       // output positions per image
func (d convDims) inSize() int  { return d.cin * d.h * d.w }
func (d convDims) outSize() int { return d.cout * d.pixels() }
func (d convDims) cost() int    { return d.cout * d.rows() * d.pixels() } // multiply-adds per image

// chunk is how many images one product covers: within colBudget, and small
// enough that every worker gets a chunk.
func (d convDims) chunk() int {
	perWorker := (d.n + maxWorkers() - 1) / maxWorkers()
	return max(1, min(perWorker, colBudget/(d.rows()*d.pixels())))
}

// scratch returns worker w's buffers, sized for chunks of nb images. Only
// worker w touches its slots; eachChunk makes the slots beforehand.
func (c *conv2dKernel) scratch(w int, d convDims, nb int) (col, prod []float32) {
	if n := d.rows() * nb * d.pixels(); len(c.col[w]) < n {
		c.col[w] = make([]float32, n)
	}
	if n := d.cout * nb * d.pixels(); len(c.prod[w]) < n {
		c.prod[w] = make([]float32, n)
	}
	return c.col[w], c.prod[w]
}

// eachChunk runs body over the batch in chunks of at most d.chunk() images,
// the chunks spread over the workers.
func (c *conv2dKernel) eachChunk(d convDims, body func(worker, lo, nb int)) {
	if len(c.col) != maxWorkers() {
		c.col, c.prod = make([][]float32, maxWorkers()), make([][]float32, maxWorkers())
	}
	nb := d.chunk()
	chunks := (d.n + nb - 1) / nb
	parallelFor(chunks, nb*d.cost(), func(worker, a, b int) {
		for ch := a; ch < b; ch++ {
			lo := ch * nb
			body(worker, lo, min(nb, d.n-lo))
		}
	})
}

// unfold writes images [lo, lo+nb) of x into col, image i's columns at
// offset (i−lo)·pixels of each row (row stride nb·pixels).
func unfold(x []float32, d convDims, lo, nb int, col []float32) {
	for i := 0; i < nb; i++ {
		im2col(x[(lo+i)*d.inSize():(lo+i+1)*d.inSize()], d, col[i*d.pixels():], nb*d.pixels())
	}
}

func (c *conv2dKernel) forward(in []buffer, out buffer) error {
	x, w, b := in[0], in[1], in[2]
	d := c.dims(x.shape, w.shape)
	c.eachChunk(d, func(worker, lo, nb int) {
		col, prod := c.scratch(worker, d, nb)
		unfold(x.data, d, lo, nb, col)
		ld, px := nb*d.pixels(), d.pixels()
		sgemm.Gemm(false, false, d.cout, ld, d.rows(), 1, w.data, d.rows(), col, ld, 0, prod, ld)
		for i := 0; i < nb; i++ {
			img := out.data[(lo+i)*d.outSize():]
			for o := 0; o < d.cout; o++ {
				bias, dst := b.data[o], img[o*px:(o+1)*px]
				for j, v := range prod[o*ld+i*px : o*ld+(i+1)*px] {
					dst[j] = v + bias
				}
			}
		}
	})
	return nil
}

func (c *conv2dKernel) backward(wrt int, in []buffer, _, dOut, dIn buffer) error {
	x, w := in[0], in[1]
	d := c.dims(x.shape, w.shape)
	px := d.pixels()
	// gather copies the chunk's output gradient into (Cout, nb·pixels) layout.
	gather := func(lo, nb int, dst []float32) {
		ld := nb * px
		for i := 0; i < nb; i++ {
			img := dOut.data[(lo+i)*d.outSize():]
			for o := 0; o < d.cout; o++ {
				copy(dst[o*ld+i*px:o*ld+(i+1)*px], img[o*px:(o+1)*px])
			}
		}
	}
	switch wrt {
	case 0: // dx: fold Wᵀ·dy back onto the images
		c.eachChunk(d, func(worker, lo, nb int) {
			col, dy := c.scratch(worker, d, nb)
			gather(lo, nb, dy)
			ld := nb * px
			sgemm.Gemm(true, false, d.rows(), ld, d.cout, 1, w.data, d.rows(), dy, ld, 0, col, ld)
			for i := 0; i < nb; i++ {
				col2im(col[i*px:], ld, d, dIn.data[(lo+i)*d.inSize():(lo+i+1)*d.inSize()])
			}
		})
	case 1: // dW = Σ dy·colᵀ, a private sum per worker, added in worker order
		if len(c.partial) != maxWorkers() || len(c.partial[0]) != len(dIn.data) {
			c.partial = make([][]float32, maxWorkers())
			for i := range c.partial {
				c.partial[i] = make([]float32, len(dIn.data))
			}
		}
		used := c.used[:0]
		for range maxWorkers() {
			used = append(used, false)
		}
		c.used = used
		c.eachChunk(d, func(worker, lo, nb int) {
			col, dy := c.scratch(worker, d, nb)
			unfold(x.data, d, lo, nb, col)
			gather(lo, nb, dy)
			ld := nb * px
			beta := float32(1)
			if !used[worker] {
				beta, used[worker] = 0, true
			}
			sgemm.Gemm(false, true, d.cout, d.rows(), ld, 1, dy, ld, col, ld, beta, c.partial[worker], d.rows())
		})
		clear(dIn.data)
		for worker, sum := range c.partial {
			if used[worker] {
				for j, v := range sum {
					dIn.data[j] += v
				}
			}
		}
	case 2: // db = Σ over images and pixels of dy
		clear(dIn.data)
		for i := 0; i < d.n; i++ {
			for o := 0; o < d.cout; o++ {
				var s float32
				for _, v := range dOut.data[i*d.outSize()+o*px : i*d.outSize()+(o+1)*px] {
					s += v
				}
				dIn.data[o] += s
			}
		}
	}
	return nil
}

// im2col unfolds one (Cin, H, W) image into the matrix col with row stride
// ld: row (c, ki, kj) holds the pixels each output position sees through
// kernel tap (ki, kj) of channel c, zero where the tap falls on padding.
func im2col(img []float32, d convDims, col []float32, ld int) {
	row := 0
	for c := 0; c < d.cin; c++ {
		plane := img[c*d.h*d.w : (c+1)*d.h*d.w]
		for ki := 0; ki < d.k; ki++ {
			for kj := 0; kj < d.k; kj++ {
				dst := col[row*ld : row*ld+d.pixels()]
				oxLo, oxHi := max(0, d.p-kj), min(d.wo, d.w+d.p-kj)
				for oy := 0; oy < d.ho; oy++ {
					line := dst[oy*d.wo : (oy+1)*d.wo]
					iy := oy + ki - d.p
					if iy < 0 || iy >= d.h || oxLo >= oxHi {
						clear(line)
						continue
					}
					// Lines are short (8–32 values): a plain loop beats a
					// memmove call per line.
					for j := range oxLo {
						line[j] = 0
					}
					dst := line[oxLo:oxHi]
					src := plane[iy*d.w+oxLo+kj-d.p:]
					src = src[:len(dst)]
					for j, v := range src {
						dst[j] = v
					}
					for j := oxHi; j < d.wo; j++ {
						line[j] = 0
					}
				}
				row++
			}
		}
	}
}

// col2im is im2col's adjoint: it overwrites img with the sum, for every pixel,
// of the col entries (row stride ld) that were copied from it.
func col2im(col []float32, ld int, d convDims, img []float32) {
	clear(img)
	row := 0
	for c := 0; c < d.cin; c++ {
		plane := img[c*d.h*d.w : (c+1)*d.h*d.w]
		for ki := 0; ki < d.k; ki++ {
			for kj := 0; kj < d.k; kj++ {
				src := col[row*ld : row*ld+d.pixels()]
				oxLo, oxHi := max(0, d.p-kj), min(d.wo, d.w+d.p-kj)
				for oy := 0; oy < d.ho; oy++ {
					iy := oy + ki - d.p
					if iy < 0 || iy >= d.h || oxLo >= oxHi {
						continue
					}
					dst := plane[iy*d.w+oxLo+kj-d.p : iy*d.w+oxHi+kj-d.p]
					for j, v := range src[oy*d.wo+oxLo : oy*d.wo+oxHi] {
						dst[j] += v
					}
				}
				row++
			}
		}
	}
}
