package cpu

import (
	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/ops"
	"github.com/cnntrain/cnntrain/internal/sgemm"
	"github.com/cnntrain/cnntrain/internal/vec"
)

// conv2d is PyTorch's Conv2d with stride 1 and zero padding: x (N, Cin, H, W),
// weight (Cout, Cin, k, k), bias (Cout) → (N, Cout, H+2p-k+1, W+2p-k+1).
//
// Each worker takes a range of the batch's images and unfolds them (im2col)
// a few at a time into one matrix whose columns are the output positions of
// those images, so one matrix product covers several images: deep layers
// have only 4 or 16 positions per image, and a product that narrow leaves
// the blocked product mostly idle. The number of images per product is set to
// keep the unfolded matrix near colBudget floats, cache-sized. Without
// padding the unfolded matrix is in the wide layout (see below), which
// the passes read in place instead of unfolding it.
//
// The unfolded matrices, the products and the weight gradient's per-worker
// sums live in the workspace the executor passes: per worker, col, prod and
// partial, in that order.
type conv2d struct {
	d       convDims
	workers int
	nb      int    // images per product
	used    []bool // which workers' partial sums hold this call's data
	// With wide rows, where the gathered output gradient's rows start (for
	// DotRows; the input's are d.taps).
	dyRows []int
	// The call in progress, for run.
	mode                  convMode
	x, w, b, out, dy, dIn []float32
	ws                    []float32
}

// convMode is which pass run computes.
type convMode int

const (
	convForward convMode = iota
	convInputGrad
	convWeightGrad
)

// colBudget bounds each worker's unfolded matrix: 64K floats, 256 KB
// (measured best of 64K–1M on the CIFAR and MNIST benchmarks), unless that
// would leave the product fewer than minCols columns: deep layers (VGG's
// 512 channels at 4×4 and 2×2, half its arithmetic) would otherwise
// multiply 16 or 12 columns at a time, a fraction of the micro-kernel's
// 32-wide tiles.
const (
	colBudget = 1 << 16
	minCols   = 128
)

func newConv2d(op ops.Op, in []ops.Shape, workers int) *conv2d {
	return newConv2dLayout(op, in, workers, op.Padding == 0)
}

// newConv2dLayout is newConv2d with the layout chosen: wide works only
// without padding.
func newConv2dLayout(op ops.Op, in []ops.Shape, workers int, wide bool) *conv2d {
	x, w := in[0], in[1]
	d := convDims{n: x[0], cin: x[1], h: x[2], w: x[3], cout: w[0], k: op.KernelSize, p: op.Padding}
	d.ho, d.wo = d.h+2*d.p-d.k+1, d.w+2*d.p-d.k+1
	d.wide = wide && d.p == 0
	if d.wide {
		d.taps = make([]int, d.rows())
		for r := range d.taps {
			d.taps[r] = d.tap(r)
		}
	}
	perWorker := (d.n + workers - 1) / workers
	nb := max(1, colBudget/(d.rows()*d.span()), (minCols+d.span()-1)/d.span())
	nb = min(nb, perWorker)
	c := &conv2d{d: d, workers: workers, nb: nb, used: make([]bool, workers)}
	if d.wide {
		c.dyRows = make([]int, d.cout)
		for o := range c.dyRows {
			c.dyRows[o] = o * nb * d.span()
		}
	}
	return c
}

// convDims is the geometry of the convolution, fixed at compile time.
type convDims struct {
	n, cin, h, w, cout, k, p, ho, wo int
	// wide: without padding, the unfolded matrix keeps the input's line
	// width (the wide layout, below); span is its columns per image, and
	// taps[r] where its row r starts in an image.
	wide bool
	taps []int
}

func (d convDims) rows() int    { return d.cin * d.k * d.k } // rows of the unfolded matrix
func (d convDims) pixels() int  { return d.ho * d.wo }       // output positions per image
func (d convDims) inSize() int  { return d.cin * d.h * d.w }
func (d convDims) outSize() int { return d.cout * d.pixels() }
func (d convDims) cost() int    { return d.cout * d.rows() * d.pixels() } // multiply-adds per image

// span is the number of columns an image takes in the unfolded matrix: its
// output positions, or with wide rows every position from the first output
// to the last at the input's line width, (ho−1)·w + wo.
func (d convDims) span() int {
	if d.wide {
		return (d.ho-1)*d.w + d.wo
	}
	return d.pixels()
}

// tap is where row r = (c, ki, kj) of the unfolded matrix starts in an
// unpadded image: the wide layout's row r is the image from there on.
func (d convDims) tap(r int) int {
	c, ki, kj := r/(d.k*d.k), r/d.k%d.k, r%d.k
	return c*d.h*d.w + ki*d.w + kj
}

// worker sizes: the unfolded chunk, its product, the weight gradient.
func (c *conv2d) colSize() int     { return c.d.rows() * c.nb * c.d.span() }
func (c *conv2d) prodSize() int    { return c.d.cout * c.nb * c.d.span() }
func (c *conv2d) partialSize() int { return c.d.cout * c.d.rows() }
func (c *conv2d) perWorker() int   { return c.colSize() + c.prodSize() + c.partialSize() }

func (c *conv2d) Workspace() int { return c.workers * c.perWorker() }

// scratch returns worker w's parts of the workspace.
func (c *conv2d) scratch(ws []float32, w int) (col, prod, partial []float32) {
	s := ws[w*c.perWorker() : (w+1)*c.perWorker()]
	col, s = s[:c.colSize()], s[c.colSize():]
	prod, s = s[:c.prodSize()], s[c.prodSize():]
	return col, prod, s[:c.partialSize()]
}

// eachChunk runs the current pass over the batch in chunks of at most c.nb
// images, the chunks spread over the workers.
func (c *conv2d) eachChunk() {
	chunks := (c.d.n + c.nb - 1) / c.nb
	parallelFor(chunks, c.nb*c.d.cost(), c.workers, c)
}

// run does chunks [a, b) of the current pass as one worker.
func (c *conv2d) run(worker, a, b int) {
	for ch := a; ch < b; ch++ {
		lo := ch * c.nb
		nb := min(c.nb, c.d.n-lo)
		switch c.mode {
		case convForward:
			c.forwardChunk(worker, lo, nb)
		case convInputGrad:
			c.inputGradChunk(worker, lo, nb)
		case convWeightGrad:
			c.weightGradChunk(worker, lo, nb)
		}
	}
}

// unfold writes images [lo, lo+nb) of x into col, image i's columns at
// offset (i−lo)·pixels of each row (row stride nb·pixels). Only padded
// convolutions unfold: the wide layout is read in place.
func unfold(x []float32, d convDims, lo, nb int, col []float32) {
	for i := 0; i < nb; i++ {
		img := x[(lo+i)*d.inSize() : (lo+i+1)*d.inSize()]
		im2col(img, d, col[i*d.pixels():], nb*d.pixels())
	}
}

// The wide layout, for unpadded convolutions: the unfolded matrix's columns
// run over every position (oy, x) of the input's lines from the first
// output to the last, not only the wo valid ones per line. Row (c, ki, kj)
// is then the image itself from taps[r] = c·H·W + ki·W + kj on, so no pass
// copies it: the forward product reads the image through those offsets
// (sgemm.GemmRows), the weight gradient's dot products too
// (sgemm.DotRows), and the input gradient folds each row back with one
// vector add. The w−wo columns per line that are not outputs hold values of
// the next line: the forward drops their products, and the gradients see
// zeros there. The products do (w−wo)/w more work, 12 % on LeNet's first
// layer; im2col would copy 28 values at a time.

func (c *conv2d) Forward(a backend.Args) error {
	c.mode, c.x, c.w, c.b, c.out, c.ws = convForward, f32(a.In[0]), f32(a.In[1]), f32(a.In[2]), f32(a.Out), f32(a.Workspace)
	c.eachChunk()
	return nil
}

func (c *conv2d) forwardChunk(worker, lo, nb int) {
	d := c.d
	col, prod, _ := c.scratch(c.ws, worker)
	px, span := d.pixels(), d.span()
	if d.wide {
		// The wide layout's rows are the image from each tap on: the
		// product reads them in place, one image at a time, and nothing
		// is unfolded.
		for i := range nb {
			img := c.x[(lo+i)*d.inSize() : (lo+i+1)*d.inSize()]
			sgemm.GemmRows(d.cout, span, d.rows(), 1, c.w, d.rows(), img, d.taps, 0, prod, span)
			out := c.out[(lo+i)*d.outSize():]
			for o := range d.cout {
				vec.AddScalarRows(out[o*px:(o+1)*px], d.wo, prod[o*span:(o+1)*span], d.w, d.ho, d.wo, c.b[o])
			}
		}
		return
	}
	unfold(c.x, d, lo, nb, col)
	ld := nb * span
	sgemm.Gemm(false, false, d.cout, ld, d.rows(), 1, c.w, d.rows(), col, ld, 0, prod, ld)
	for i := 0; i < nb; i++ {
		img := c.out[(lo+i)*d.outSize():]
		for o := 0; o < d.cout; o++ {
			vec.AddScalar(img[o*px:(o+1)*px], prod[o*ld+i*span:o*ld+(i+1)*span], c.b[o])
		}
	}
}

// gather copies the chunk's output gradient into (Cout, nb·span) layout,
// rows ld apart, with zeros in the wide layout's columns that are not
// outputs.
func (c *conv2d) gather(lo, nb int, dst []float32, ld int) {
	d, px, span := c.d, c.d.pixels(), c.d.span()
	for i := 0; i < nb; i++ {
		img := c.dy[(lo+i)*d.outSize():]
		for o := 0; o < d.cout; o++ {
			to, from := dst[o*ld+i*span:o*ld+(i+1)*span], img[o*px:(o+1)*px]
			if !d.wide {
				copy(to, from)
				continue
			}
			for oy := range d.ho {
				copy(to[oy*d.w:oy*d.w+d.wo], from[oy*d.wo:(oy+1)*d.wo])
				if oy < d.ho-1 {
					clear(to[oy*d.w+d.wo : (oy+1)*d.w])
				}
			}
		}
	}
}

// inputGradChunk folds Wᵀ·dy back onto the chunk's images.
func (c *conv2d) inputGradChunk(worker, lo, nb int) {
	d, span := c.d, c.d.span()
	col, dy, _ := c.scratch(c.ws, worker)
	ld := nb * span
	c.gather(lo, nb, dy, ld)
	sgemm.Gemm(true, false, d.rows(), ld, d.cout, 1, c.w, d.rows(), dy, ld, 0, col, ld)
	for i := 0; i < nb; i++ {
		img := c.dIn[(lo+i)*d.inSize() : (lo+i+1)*d.inSize()]
		if d.wide {
			foldWide(col[i*span:], ld, d, img)
			continue
		}
		col2im(col[i*span:], ld, d, img)
	}
}

// foldWide is col2im for the wide layout: row (c, ki, kj) is added onto
// the image from its tap on. The columns that are not outputs hold exact
// zeros (Wᵀ times the zeros gather put there), so adding them changes
// nothing.
func foldWide(col []float32, ld int, d convDims, img []float32) {
	clear(img)
	span := d.span()
	for r, at := range d.taps {
		vec.AddTo(img[at:at+span], col[r*ld:r*ld+span])
	}
}

// weightGradChunk adds the chunk's dy·colᵀ to the worker's private sum.
func (c *conv2d) weightGradChunk(worker, lo, nb int) {
	d, span := c.d, c.d.span()
	col, dy, partial := c.scratch(c.ws, worker)
	// Rows c.nb·span apart whatever this chunk's size, where c.dyRows
	// expects them.
	c.gather(lo, nb, dy, c.nb*span)
	beta := float32(1)
	if !c.used[worker] {
		beta, c.used[worker] = 0, true
	}
	if d.wide {
		// dW[o][r] = Σ over images and columns of dy[o]·(row r of the
		// unfolded images), and row r is the image from tap(r) on: the
		// products read the input in place, nothing is unfolded or
		// transposed. The zeros gather put between the lines drop the
		// columns that are not outputs.
		if beta == 0 {
			clear(partial)
		}
		x := c.x[lo*d.inSize() : (lo+nb)*d.inSize()]
		sgemm.DotRows(span, nb, dy, c.dyRows, span, x, d.taps, d.inSize(), partial, d.rows())
		return
	}
	ld := nb * span
	unfold(c.x, d, lo, nb, col)
	sgemm.Gemm(false, true, d.cout, d.rows(), ld, 1, dy, c.nb*span, col, ld, beta, partial, d.rows())
}

func (c *conv2d) Backward(wrt int, a backend.Args) error {
	c.x, c.w, c.dy, c.dIn, c.ws = f32(a.In[0]), f32(a.In[1]), f32(a.DOut), f32(a.DIn), f32(a.Workspace)
	d := c.d
	px := d.pixels()
	switch wrt {
	case 0: // dx
		c.mode = convInputGrad
		c.eachChunk()
	case 1: // dW = Σ dy·colᵀ, a private sum per worker, added in worker order
		c.mode = convWeightGrad
		clear(c.used)
		c.eachChunk()
		clear(c.dIn)
		for worker := range c.workers {
			if c.used[worker] {
				_, _, sum := c.scratch(c.ws, worker)
				for j, v := range sum {
					c.dIn[j] += v
				}
			}
		}
	case 2: // db = Σ over images and pixels of dy
		clear(c.dIn)
		for i := 0; i < d.n; i++ {
			for o := 0; o < d.cout; o++ {
				c.dIn[o] += vec.Sum(c.dy[i*d.outSize()+o*px : i*d.outSize()+(o+1)*px])
			}
		}
	}
	return nil
}

// im2col unfolds one (Cin, H, W) image into the matrix col with row stride
// ld: row (c, ki, kj) holds the pixels each output position sees through
// kernel tap (ki, kj) of channel c, zero where the tap falls on padding.
//
// Every row is a shifted window of the plane, and the rows of output
// positions a tap sees lie in the plane's rows oyLo+ki−p … oyHi−1+ki−p. With
// "same" padding (output as wide as the input: VGG's 3×3, padding 1) the
// window's lines follow each other in the plane as they do in the row, so the
// row is one contiguous copy, after which the one or two columns that fell
// on padding (and so copied a neighbouring line's end) are set to zero.
// Otherwise each line is copied on its own.
func im2col(img []float32, d convDims, col []float32, ld int) {
	px, wo, w := d.pixels(), d.wo, d.w
	row := 0
	for c := 0; c < d.cin; c++ {
		plane := img[c*d.h*w : (c+1)*d.h*w]
		for ki := 0; ki < d.k; ki++ {
			oyLo, oyHi := max(0, d.p-ki), min(d.ho, d.h+d.p-ki)
			for kj := 0; kj < d.k; kj++ {
				dst := col[row*ld : row*ld+px]
				row++
				oxLo, oxHi := max(0, d.p-kj), min(wo, w+d.p-kj)
				if oyLo >= oyHi || oxLo >= oxHi {
					clear(dst)
					continue
				}
				clear(dst[:oyLo*wo])
				clear(dst[oyHi*wo:])
				shift := kj - d.p // plane column = output column + shift
				if w == wo {
					// Lines are contiguous in both: one copy from the first
					// valid value to the last, then zero the padding columns.
					lo, hi := oyLo*wo+oxLo, (oyHi-1)*wo+oxHi
					src := (oyLo+ki-d.p)*w + oxLo + shift
					copy(dst[lo:hi], plane[src:src+hi-lo])
					for oy := oyLo; oy < oyHi; oy++ {
						line := dst[oy*wo : oy*wo+wo]
						for j := range oxLo {
							line[j] = 0
						}
						for j := oxHi; j < wo; j++ {
							line[j] = 0
						}
					}
					continue
				}
				for oy := oyLo; oy < oyHi; oy++ {
					line := dst[oy*wo : oy*wo+wo]
					for j := range oxLo {
						line[j] = 0
					}
					out := line[oxLo:oxHi]
					in := plane[(oy+ki-d.p)*w+oxLo+shift:]
					in = in[:len(out)]
					if len(out) >= 16 {
						copy(out, in) // a memmove call pays from 16 values (LeNet's 28, the MNIST CNN's 24)
					} else {
						// Short lines (8–14 values): a plain loop beats a
						// memmove call per line, and array copies of 8.
						for j, v := range in {
							out[j] = v
						}
					}
					for j := oxHi; j < wo; j++ {
						line[j] = 0
					}
				}
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
