package cuda

import (
	"fmt"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/ops"
)

// Supports says whether the CUDA backend has a translation of op: every op
// of every model must, and a missing one is refused when a program is
// compiled, by name, never run on the CPU behind the user's back.
func Supports(op ops.Op) error {
	switch op.Kind {
	case ops.Linear, ops.Conv2d, ops.MaxPool2d, ops.ReLU, ops.LogSoftmax,
		ops.NLLLoss, ops.CrossEntropyLoss, ops.BatchNorm2d:
		return nil
	}
	return fmt.Errorf("%w: %s has no CUDA kernel", backend.ErrUnsupported, op)
}

// Compile makes op's kernel for inputs of the given shapes.
func (b *Backend) Compile(op ops.Op, in []ops.Shape) (backend.Kernel, error) {
	if err := Supports(op); err != nil {
		return nil, err
	}
	out, err := op.OutputShape(in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	switch op.Kind {
	case ops.Linear:
		return &linear{b: b, n: in[0][0], nOut: in[1][0], nIn: in[1][1]}, nil
	case ops.Conv2d:
		if b.dnn != 0 {
			x, w := in[0], in[1]
			if c := b.cudnnConvFor(convGeometry{n: x[0], cin: x[1], h: x[2], w: x[3], cout: w[0], k: op.KernelSize, p: op.Padding}); c != nil {
				return cudnnConvKernel{c}, nil
			}
		}
		return newConv2d(b, op, in), nil
	case ops.MaxPool2d:
		return &maxPool2d{b: b, planes: in[0][0] * in[0][1], h: in[0][2], w: in[0][3], size: op.Size, outN: out.Size()}, nil
	case ops.ReLU:
		return &relu{b: b, n: in[0].Size()}, nil
	case ops.LogSoftmax:
		return &logSoftmax{b: b, n: in[0][0], k: in[0][1]}, nil
	case ops.NLLLoss, ops.CrossEntropyLoss:
		return &classLoss{b: b, n: in[0][0], k: in[0][1], fromLogits: op.Kind == ops.CrossEntropyLoss}, nil
	case ops.BatchNorm2d:
		return newBatchNorm(b, op, in[0]), nil
	}
	return nil, fmt.Errorf("%w: %s", backend.ErrUnsupported, op)
}

// gemm is the row-major product C ← α·op(A)·op(B) + β·C (m×n, inner k) on
// cuBLAS, which is column-major: a row-major matrix is its transpose in
// column-major order, so C = op(A)·op(B) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ.
func (b *Backend) gemm(transA, transB bool, m, n, k int, alpha float32, a arg, lda int, bm arg, ldb int, beta float32, c arg, ldc int) error {
	opA, opB := int32(opN), int32(opN)
	if transA {
		opA = opT
	}
	if transB {
		opB = opT
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	bl := b.l.blas
	return bl.check("cublasSgemm", bl.sgemm(b.blas, opB, opA, int32(n), int32(m), int32(k),
		&alpha, uint64(bm), int32(ldb), uint64(a), int32(lda), &beta, uint64(c), int32(ldc)))
}

// offset is x's address moved by off elements.
func offset(x backend.Buffer, off int) arg { return ptr(x) + arg(off*4) }

type linear struct {
	b            *Backend
	n, nOut, nIn int
}

func (*linear) Workspace() int { return 0 }

func (l *linear) Forward(a backend.Args) error {
	if err := l.b.launchN("bias_rows", l.n*l.nOut, ptr(a.In[2]), ptr(a.Out), i32(l.n), i32(l.nOut)); err != nil {
		return err
	}
	return l.b.gemm(false, true, l.n, l.nOut, l.nIn, 1, ptr(a.In[0]), l.nIn, ptr(a.In[1]), l.nIn, 1, ptr(a.Out), l.nOut)
}

func (l *linear) Backward(wrt int, a backend.Args) error {
	switch wrt {
	case 0: // dx = dy·W
		return l.b.gemm(false, false, l.n, l.nIn, l.nOut, 1, ptr(a.DOut), l.nOut, ptr(a.In[1]), l.nIn, 0, ptr(a.DIn), l.nIn)
	case 1: // dW = dyᵀ·x
		return l.b.gemm(true, false, l.nOut, l.nIn, l.n, 1, ptr(a.DOut), l.nOut, ptr(a.In[0]), l.nIn, 0, ptr(a.DIn), l.nIn)
	}
	return l.b.launchN("sum_rows", l.nOut, ptr(a.DOut), ptr(a.DIn), i32(l.n), i32(l.nOut))
}

// sliceValues is about how many of a channel's values one block of a
// per-slice kernel sums (kernels/README.md).
const sliceValues = 8192

// splitsFor is how many slices a channel of m values is cut into.
func splitsFor(m int) int { return min(64, max(1, (m+sliceValues-1)/sliceValues)) }

// channelSums is a convolution's bias gradient: dy (n, c, px) summed per
// channel, slice by slice into the workspace as a (splits, c) matrix, then
// its rows added in order (sum_rows, as a Linear's bias gradient).
type channelSums struct{ n, c, px, splits int }

func newChannelSums(n, c, px int) channelSums { return channelSums{n, c, px, splitsFor(n * px)} }

func (s channelSums) workspace() int { return s.c * s.splits }

func (s channelSums) run(b *Backend, dy, db, ws arg) error {
	if err := b.launchBlocks("channel_partials", min(s.c*s.splits, maxGrid), dy, ws, i32(s.n), i32(s.c), i32(s.px), i32(s.splits)); err != nil {
		return err
	}
	return b.launchN("sum_rows", s.c, ws, db, i32(s.splits), i32(s.c))
}

// conv2d is im2col and a cuBLAS product per chunk of images, as on the CPU
// but with chunks of up to colBudget unfolded values: the convolution
// without cuDNN, or where cuDNN offers no algorithm the math mode accepts.
type conv2d struct {
	b                                *Backend
	n, cin, h, w, cout, k, p, ho, wo int
	nb                               int // images per chunk
}

// colBudget bounds the unfolded chunk: 32M floats, 128 MB.
const colBudget = 32 << 20

func newConv2d(b *Backend, op ops.Op, in []ops.Shape) *conv2d {
	x, w := in[0], in[1]
	c := &conv2d{b: b, n: x[0], cin: x[1], h: x[2], w: x[3], cout: w[0], k: op.KernelSize, p: op.Padding}
	c.ho, c.wo = c.h+2*c.p-c.k+1, c.w+2*c.p-c.k+1
	c.nb = max(1, min(c.n, colBudget/(c.rows()*c.px())))
	return c
}

func (c *conv2d) rows() int    { return c.cin * c.k * c.k }
func (c *conv2d) px() int      { return c.ho * c.wo }
func (c *conv2d) inSize() int  { return c.cin * c.h * c.w }
func (c *conv2d) outSize() int { return c.cout * c.px() }

// Workspace: the unfolded chunk, then the chunk's product (Cout, nb·px); the
// bias gradient's partials in its place.
func (c *conv2d) Workspace() int {
	return max(c.rows()*c.nb*c.px()+c.cout*c.nb*c.px(), newChannelSums(c.n, c.cout, c.px()).workspace())
}

func (c *conv2d) scratch(ws backend.Buffer) (col, prod arg) {
	return ptr(ws), offset(ws, c.rows()*c.nb*c.px())
}

// fold runs im2col (images → columns) or col2im (columns → images) for nb
// images: both take (from, to) and then the geometry.
func (c *conv2d) fold(kernel string, n int, from, to arg, nb int) error {
	return c.b.launchN(kernel, n, from, to, i32(nb), i32(c.cin), i32(c.h), i32(c.w), i32(c.k), i32(c.p), i32(c.ho), i32(c.wo))
}

func (c *conv2d) chunks(body func(lo, nb int) error) error {
	for lo := 0; lo < c.n; lo += c.nb {
		if err := body(lo, min(c.nb, c.n-lo)); err != nil {
			return err
		}
	}
	return nil
}

func (c *conv2d) Forward(a backend.Args) error {
	col, prod := c.scratch(a.Workspace)
	return c.chunks(func(lo, nb int) error {
		ld := nb * c.px()
		if err := c.fold("im2col", c.rows()*ld, offset(a.In[0], lo*c.inSize()), col, nb); err != nil {
			return err
		}
		if err := c.b.gemm(false, false, c.cout, ld, c.rows(), 1, ptr(a.In[1]), c.rows(), col, ld, 0, prod, ld); err != nil {
			return err
		}
		return c.b.launchN("cn_to_nchw", c.cout*ld, prod, ptr(a.In[2]), offset(a.Out, lo*c.outSize()), i32(nb), i32(c.cout), i32(c.px()))
	})
}

func (c *conv2d) Backward(wrt int, a backend.Args) error {
	col, dy := c.scratch(a.Workspace)
	switch wrt {
	case 0: // dx: fold Wᵀ·dy back onto the images
		return c.chunks(func(lo, nb int) error {
			ld := nb * c.px()
			if err := c.b.launchN("nchw_to_cn", c.cout*ld, offset(a.DOut, lo*c.outSize()), dy, i32(nb), i32(c.cout), i32(c.px())); err != nil {
				return err
			}
			if err := c.b.gemm(true, false, c.rows(), ld, c.cout, 1, ptr(a.In[1]), c.rows(), dy, ld, 0, col, ld); err != nil {
				return err
			}
			return c.fold("col2im", nb*c.inSize(), col, offset(a.DIn, lo*c.inSize()), nb)
		})
	case 1: // dW = Σ over chunks of dy·colᵀ, accumulated in order
		return c.chunks(func(lo, nb int) error {
			ld := nb * c.px()
			if err := c.fold("im2col", c.rows()*ld, offset(a.In[0], lo*c.inSize()), col, nb); err != nil {
				return err
			}
			if err := c.b.launchN("nchw_to_cn", c.cout*ld, offset(a.DOut, lo*c.outSize()), dy, i32(nb), i32(c.cout), i32(c.px())); err != nil {
				return err
			}
			beta := float32(1)
			if lo == 0 {
				beta = 0
			}
			return c.b.gemm(false, true, c.cout, c.rows(), ld, 1, dy, ld, col, ld, beta, ptr(a.DIn), c.rows())
		})
	}
	return newChannelSums(c.n, c.cout, c.px()).run(c.b, ptr(a.DOut), ptr(a.DIn), ptr(a.Workspace))
}

type maxPool2d struct {
	b                        *Backend
	planes, h, w, size, outN int
}

func (*maxPool2d) Workspace() int { return 0 }

func (p *maxPool2d) Forward(a backend.Args) error {
	return p.b.launchN("maxpool_forward", p.outN, ptr(a.In[0]), ptr(a.Out), ptr(a.Saved[0]), i32(p.planes), i32(p.h), i32(p.w), i32(p.size))
}

func (p *maxPool2d) Backward(_ int, a backend.Args) error {
	return p.b.launchN("maxpool_backward", p.planes*p.h*p.w, ptr(a.DOut), ptr(a.Saved[0]), ptr(a.DIn), i32(p.planes), i32(p.h), i32(p.w), i32(p.size))
}

type relu struct {
	b *Backend
	n int
}

func (*relu) Workspace() int { return 0 }

func (r *relu) Forward(a backend.Args) error {
	return r.b.launchN("relu_forward", r.n, ptr(a.In[0]), ptr(a.Out), i32(r.n))
}

func (r *relu) Backward(_ int, a backend.Args) error {
	return r.b.launchN("relu_backward", r.n, ptr(a.Out), ptr(a.DOut), ptr(a.DIn), i32(r.n))
}

type logSoftmax struct {
	b    *Backend
	n, k int
}

func (*logSoftmax) Workspace() int { return 0 }

func (l *logSoftmax) Forward(a backend.Args) error {
	return l.b.launchN("log_softmax_forward", l.n, ptr(a.In[0]), ptr(a.Out), i32(l.n), i32(l.k))
}

func (l *logSoftmax) Backward(_ int, a backend.Args) error {
	return l.b.launchN("log_softmax_backward", l.n, ptr(a.Out), ptr(a.DOut), ptr(a.DIn), i32(l.n), i32(l.k))
}

type classLoss struct {
	b          *Backend
	n, k       int
	fromLogits bool
}

func (*classLoss) Workspace() int { return 0 }

func (l *classLoss) logits() arg {
	if l.fromLogits {
		return i32(1)
	}
	return i32(0)
}

func (l *classLoss) saved(a backend.Args) arg {
	if l.fromLogits {
		return ptr(a.Saved[0])
	}
	return 0
}

// Forward clears the status word and lets the kernel set it; the next
// Download reads it (the targets come from the host, and waiting for the GPU
// here would also keep the step out of a CUDA graph).
func (l *classLoss) Forward(a backend.Args) error {
	st := l.b.status
	if err := l.b.Fill(st, 0); err != nil {
		return err
	}
	if err := l.b.launchBlocks("class_loss_forward", 1, ptr(a.In[0]), ptr(a.In[1]), l.saved(a), ptr(a.Out), ptr(st), i32(l.n), i32(l.k), l.logits()); err != nil {
		return err
	}
	l.b.armed = true
	return nil
}

func (l *classLoss) Backward(_ int, a backend.Args) error {
	return l.b.launchN("class_loss_backward", l.n*l.k, l.saved(a), ptr(a.In[1]), ptr(a.DOut), ptr(a.DIn), i32(l.n), i32(l.k), l.logits())
}

// batchNorm splits each channel's n·hw values over splits blocks (see
// kernels.cu): enough blocks to fill a large GPU even where the channels are
// few and the images large.
type batchNorm struct {
	b             *Backend
	n, c, hw      int
	splits        int
	eps, momentum float64
	mode          ops.BNMode
}

func newBatchNorm(b *Backend, op ops.Op, x ops.Shape) *batchNorm {
	k := &batchNorm{b: b, n: x[0], c: x[1], hw: x[2] * x[3], eps: op.Eps, momentum: op.Momentum, mode: op.Mode}
	k.splits = splitsFor(k.n * k.hw)
	return k
}

// Workspace: the partials, two doubles per (channel, split), then two
// doubles per channel (statistics, or the gradient's sums).
func (k *batchNorm) Workspace() int { return 4*k.c*k.splits + 4*k.c }

func (k *batchNorm) scratch(ws backend.Buffer) (partials, stats arg) {
	return ptr(ws), offset(ws, 4*k.c*k.splits)
}

func (k *batchNorm) workItems() int { return min(k.c*k.splits, maxGrid) }

func (k *batchNorm) Forward(a backend.Args) error {
	partials, stats := k.scratch(a.Workspace)
	x := ptr(a.In[0])
	stat := func(step int) error {
		return k.b.launchN("bn_stats", k.c, partials, stats, ptr(a.In[1]), ptr(a.In[2]), ptr(a.In[3]), ptr(a.In[4]), ptr(a.In[5]),
			ptr(a.Saved[0]), ptr(a.Saved[1]), i32(k.c), i32(k.splits), i32(k.n*k.hw), f64(k.eps), f64(k.momentum), i32(int(k.mode)), i32(step))
	}
	if k.mode == ops.BNEval {
		if err := stat(1); err != nil {
			return err
		}
	} else {
		for step := range 2 { // the mean, then the variance around it
			if err := k.b.launchBlocks("bn_partials", k.workItems(), x, stats, partials, i32(k.n), i32(k.c), i32(k.hw), i32(k.splits), i32(step)); err != nil {
				return err
			}
			if err := stat(step); err != nil {
				return err
			}
		}
	}
	return k.b.launchN("bn_normalize", k.n*k.c*k.hw, x, stats, ptr(a.Out), i32(k.n), i32(k.c), i32(k.hw))
}

func (k *batchNorm) Backward(wrt int, a backend.Args) error {
	partials, sums := k.scratch(a.Workspace)
	x, dy, mean, invstd := ptr(a.In[0]), ptr(a.DOut), ptr(a.Saved[0]), ptr(a.Saved[1])
	if wrt != 0 || k.mode != ops.BNEval { // eval's dx needs no sums
		if err := k.b.launchBlocks("bn_grad_partials", k.workItems(), x, dy, mean, invstd, partials, i32(k.n), i32(k.c), i32(k.hw), i32(k.splits)); err != nil {
			return err
		}
		var out arg // dγ or dβ; dx's sums stay in the workspace
		if wrt != 0 {
			out = ptr(a.DIn)
		}
		if err := k.b.launchN("bn_grad_sums", k.c, partials, sums, out, i32(k.c), i32(k.splits), i32(wrt)); err != nil {
			return err
		}
		if wrt != 0 {
			return nil
		}
	}
	return k.b.launchN("bn_grad_input", k.n*k.c*k.hw, x, ptr(a.In[1]), dy, mean, invstd, sums, ptr(a.DIn),
		i32(k.n), i32(k.c), i32(k.hw), i32(int(k.mode)))
}
