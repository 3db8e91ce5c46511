package graph

import (
	"fmt"

	"gorgonia.org/tensor"
)

// conv2dKernel is PyTorch's Conv2d with stride 1 and zero padding: x (N, Cin, H, W),
// weight (Cout, Cin, k, k), bias (Cout) → (N, Cout, H+2p-k+1, W+2p-k+1).
// Each image is unfolded (im2col) into a (Cin·k·k, Hout·Wout) matrix so the
// convolution is one matrix product per image; images run in parallel.
type conv2dKernel struct {
	kernelSize, padding int
	// scratch holds one unfolded image per worker, and partial weight
	// gradients per worker for the weight's backward pass.
	scratch [][]float32
	partial [][]float32
}

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

// geometry of one call, derived from the shapes.
type convDims struct {
	n, cin, h, w, cout, k, p, ho, wo int
}

func (c *conv2dKernel) dims(x, w tensor.Shape) convDims {
	d := convDims{n: x[0], cin: x[1], h: x[2], w: x[3], cout: w[0], k: c.kernelSize, p: c.padding}
	d.ho, d.wo = d.h+2*d.p-d.k+1, d.w+2*d.p-d.k+1
	return d
}

func (d convDims) rows() int   { return d.cin * d.k * d.k } // rows of the unfolded image
func (d convDims) pixels() int { return d.ho * d.wo }

func (c *conv2dKernel) scratchFor(d convDims) [][]float32 {
	size := d.rows() * d.pixels()
	if len(c.scratch) != maxWorkers() || len(c.scratch[0]) != size {
		c.scratch = make([][]float32, maxWorkers())
		for i := range c.scratch {
			c.scratch[i] = make([]float32, size)
		}
	}
	return c.scratch
}

func (c *conv2dKernel) forward(in []buffer, out buffer) error {
	x, w, b := in[0], in[1], in[2]
	d := c.dims(x.shape, w.shape)
	cols := c.scratchFor(d)
	inSize, outSize := d.cin*d.h*d.w, d.cout*d.pixels()
	parallelFor(d.n, d.cout*d.rows()*d.pixels(), func(worker, lo, hi int) {
		col := cols[worker]
		for i := lo; i < hi; i++ {
			im2col(x.data[i*inSize:(i+1)*inSize], d, col)
			y := out.data[i*outSize : (i+1)*outSize]
			for o := 0; o < d.cout; o++ {
				row := y[o*d.pixels() : (o+1)*d.pixels()]
				for j := range row {
					row[j] = b.data[o]
				}
			}
			blas32.Sgemm(noTrans, noTrans, d.cout, d.pixels(), d.rows(), 1, w.data, d.rows(), col, d.pixels(), 1, y, d.pixels())
		}
	})
	return nil
}

func (c *conv2dKernel) backward(wrt int, in []buffer, _, dOut, dIn buffer) error {
	x, w := in[0], in[1]
	d := c.dims(x.shape, w.shape)
	inSize, outSize := d.cin*d.h*d.w, d.cout*d.pixels()
	cost := d.cout * d.rows() * d.pixels()
	switch wrt {
	case 0: // dx: fold Wᵀ·dy back onto the image
		cols := c.scratchFor(d)
		parallelFor(d.n, cost, func(worker, lo, hi int) {
			col := cols[worker]
			for i := lo; i < hi; i++ {
				blas32.Sgemm(trans, noTrans, d.rows(), d.pixels(), d.cout, 1, w.data, d.rows(), dOut.data[i*outSize:(i+1)*outSize], d.pixels(), 0, col, d.pixels())
				col2im(col, d, dIn.data[i*inSize:(i+1)*inSize])
			}
		})
	case 1: // dW = Σ_images dy·colᵀ, summed per worker then reduced
		cols := c.scratchFor(d)
		if len(c.partial) != maxWorkers() || len(c.partial[0]) != len(dIn.data) {
			c.partial = make([][]float32, maxWorkers())
			for i := range c.partial {
				c.partial[i] = make([]float32, len(dIn.data))
			}
		}
		used := make([]bool, maxWorkers())
		parallelFor(d.n, cost, func(worker, lo, hi int) {
			col, acc := cols[worker], c.partial[worker]
			used[worker] = true
			clear(acc)
			for i := lo; i < hi; i++ {
				im2col(x.data[i*inSize:(i+1)*inSize], d, col)
				blas32.Sgemm(noTrans, trans, d.cout, d.rows(), d.pixels(), 1, dOut.data[i*outSize:(i+1)*outSize], d.pixels(), col, d.pixels(), 1, acc, d.rows())
			}
		})
		clear(dIn.data)
		for worker, acc := range c.partial {
			if !used[worker] {
				continue
			}
			for j, v := range acc {
				dIn.data[j] += v
			}
		}
	case 2: // db = Σ over images and pixels of dy
		clear(dIn.data)
		for i := 0; i < d.n; i++ {
			for o := 0; o < d.cout; o++ {
				var s float32
				for _, v := range dOut.data[i*outSize+o*d.pixels() : i*outSize+(o+1)*d.pixels()] {
					s += v
				}
				dIn.data[o] += s
			}
		}
	}
	return nil
}

// im2col unfolds one (Cin, H, W) image into col, a (Cin·k·k, Hout·Wout) matrix
// whose row (c, ki, kj) holds the pixels each output position sees through
// kernel tap (ki, kj) of channel c, zero where the tap falls on padding.
func im2col(img []float32, d convDims, col []float32) {
	row := 0
	for c := 0; c < d.cin; c++ {
		plane := img[c*d.h*d.w : (c+1)*d.h*d.w]
		for ki := 0; ki < d.k; ki++ {
			for kj := 0; kj < d.k; kj++ {
				dst := col[row*d.pixels() : (row+1)*d.pixels()]
				oxLo, oxHi := max(0, d.p-kj), min(d.wo, d.w+d.p-kj)
				for oy := 0; oy < d.ho; oy++ {
					line := dst[oy*d.wo : (oy+1)*d.wo]
					iy := oy + ki - d.p
					if iy < 0 || iy >= d.h || oxLo >= oxHi {
						clear(line)
						continue
					}
					clear(line[:oxLo])
					copy(line[oxLo:oxHi], plane[iy*d.w+oxLo+kj-d.p:iy*d.w+oxHi+kj-d.p])
					clear(line[oxHi:])
				}
				row++
			}
		}
	}
}

// col2im is im2col's adjoint: it overwrites img with the sum, for every pixel,
// of the col entries that were copied from it.
func col2im(col []float32, d convDims, img []float32) {
	clear(img)
	row := 0
	for c := 0; c < d.cin; c++ {
		plane := img[c*d.h*d.w : (c+1)*d.h*d.w]
		for ki := 0; ki < d.k; ki++ {
			for kj := 0; kj < d.k; kj++ {
				src := col[row*d.pixels() : (row+1)*d.pixels()]
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
