package cuda

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cnntrain/cnntrain/internal/backend"
)

// convGeometry identifies a convolution's shapes (stride 1, square kernel,
// equal padding on every side, as cnntrain's Conv2d op).
type convGeometry struct{ n, cin, h, w, cout, k, p int }

func (g convGeometry) out() (ho, wo int) { return g.h + 2*g.p - g.k + 1, g.w + 2*g.p - g.k + 1 }

// Directions of a convolution, each with its own algorithm.
const (
	convForward = iota
	convBackwardData
	convBackwardFilter
)

var convDirections = [3]string{"forward", "backward data", "backward filter"}

// cudnnConv is a convolution on cuDNN. Its algorithms are chosen once per
// geometry, from cuDNN's heuristics as PyTorch chooses them by default
// (torch.backends.cudnn.benchmark off), and shared by every program with
// that geometry. The bias is added after the convolution (channel_bias_add)
// and its gradient summed (channel_partials and sum_rows), as on the im2col path.
type cudnnConv struct {
	b        *Backend
	g        convGeometry
	x, y     uintptr    // tensor descriptors of the input and the output
	w        uintptr    // filter descriptor
	conv     [3]uintptr // a convolution descriptor per direction: each carries its algorithm's math type
	algo     [3]int32
	wsBytes  uint64 // the largest workspace of the three algorithms
	released bool
}

// cudnnWorkspaceLimit caps the workspace an algorithm may ask for; the
// heuristics' next choice is taken beyond it.
const cudnnWorkspaceLimit = 256 << 20

// Constants cuDNN reads through pointers (host pointer mode).
var (
	one  float32 = 1
	zero float32 = 0
)

func (g convGeometry) String() string {
	return fmt.Sprintf("%dx%dx%dx%d, %d filters of %dx%d, padding %d", g.n, g.cin, g.h, g.w, g.cout, g.k, g.k, g.p)
}

// cudnnConvFor returns the cuDNN convolution of geometry g, made on first
// use, or nil where cuDNN cannot take it: it offers no algorithm the
// backend's math mode accepts for one of the directions, or it refuses the
// geometry (an error while planning, e.g. CUDNN_STATUS_NOT_SUPPORTED, or a
// sub-library that will not load). That convolution then runs as im2col and
// cuBLAS products, and Notes says which and why.
func (b *Backend) cudnnConvFor(g convGeometry) *cudnnConv {
	if c, ok := b.convs[g]; ok {
		return c
	}
	if _, refused := b.im2colConvs[g]; refused {
		return nil
	}
	c := &cudnnConv{b: b, g: g}
	if err := c.plan(); err != nil {
		if derr := c.destroy(); derr != nil {
			err = errors.Join(err, derr)
		}
		b.im2colConvs[g] = err.Error()
		return nil
	}
	b.convs[g] = c
	return c
}

// plan makes the descriptors and picks an algorithm per direction.
func (c *cudnnConv) plan() error {
	b, d, g := c.b, c.b.l.dnn, c.g
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	ho, wo := g.out()
	for _, t := range []struct {
		desc        *uintptr
		n, ch, h, w int
	}{{&c.x, g.n, g.cin, g.h, g.w}, {&c.y, g.n, g.cout, ho, wo}} {
		if err := d.check("cudnnCreateTensorDescriptor", d.createTensor(t.desc)); err != nil {
			return err
		}
		if err := d.check("cudnnSetTensor4dDescriptor", d.setTensor4d(*t.desc, cudnnNCHW, cudnnFloat, int32(t.n), int32(t.ch), int32(t.h), int32(t.w))); err != nil {
			return err
		}
	}
	if err := d.check("cudnnCreateFilterDescriptor", d.createFilter(&c.w)); err != nil {
		return err
	}
	if err := d.check("cudnnSetFilter4dDescriptor", d.setFilter4d(c.w, cudnnFloat, cudnnNCHW, int32(g.cout), int32(g.cin), int32(g.k), int32(g.k))); err != nil {
		return err
	}
	for dir := range convDirections {
		if err := c.pick(dir); err != nil {
			return err
		}
	}
	return nil
}

// pick chooses direction dir's algorithm: the heuristics' first that
// succeeds, fits cudnnWorkspaceLimit, is deterministic and, in strict FP32,
// does not use tensor cores. With TF32 allowed the descriptor takes the chosen
// algorithm's math type, as PyTorch does.
func (c *cudnnConv) pick(dir int) error {
	d, h := c.b.l.dnn, c.b.dnn
	desc := &c.conv[dir]
	if err := d.check("cudnnCreateConvolutionDescriptor", d.createConv(desc)); err != nil {
		return err
	}
	p := int32(c.g.p)
	if err := d.check("cudnnSetConvolution2dDescriptor", d.setConv2d(*desc, p, p, 1, 1, 1, 1, cudnnCrossCorrelation, cudnnFloat)); err != nil {
		return err
	}
	math := int32(cudnnFMAMath)
	if c.b.opts.TF32 {
		math = cudnnDefaultMath
	}
	if err := d.check("cudnnSetConvolutionMathType", d.setMathType(*desc, math)); err != nil {
		return err
	}
	var perf [cudnnAlgoCount]algoPerf
	var n int32
	var status int32
	switch dir {
	case convForward:
		status = d.forwardAlgos(h, c.x, c.w, *desc, c.y, cudnnAlgoCount, &n, &perf[0])
	case convBackwardData:
		status = d.backwardData(h, c.w, c.y, *desc, c.x, cudnnAlgoCount, &n, &perf[0])
	case convBackwardFilter:
		status = d.backwardFilter(h, c.x, c.y, *desc, c.w, cudnnAlgoCount, &n, &perf[0])
	}
	if err := d.check("cudnnGetConvolution algorithms ("+convDirections[dir]+")", status); err != nil {
		return err
	}
	results := perf[:min(int(n), len(perf))]
	chosen := chooseAlgo(results, c.b.opts.TF32)
	if chosen < 0 {
		strict := ""
		if !c.b.opts.TF32 {
			strict = ", without tensor cores in strict FP32"
		}
		return fmt.Errorf("none of the %d %s algorithms cuDNN offers will do (one that succeeds, within %d MiB of workspace%s)",
			len(results), convDirections[dir], cudnnWorkspaceLimit>>20, strict)
	}
	r := results[chosen]
	if c.b.opts.TF32 {
		if err := d.check("cudnnSetConvolutionMathType", d.setMathType(*desc, r.mathType)); err != nil {
			return err
		}
	}
	var bytes uint64
	switch dir {
	case convForward:
		status = d.forwardWS(h, c.x, c.w, *desc, c.y, r.algo, &bytes)
	case convBackwardData:
		status = d.backwardDataWS(h, c.w, c.y, *desc, c.x, r.algo, &bytes)
	case convBackwardFilter:
		status = d.backwardFilterWS(h, c.x, c.y, *desc, c.w, r.algo, &bytes)
	}
	if err := d.check("cudnnGetConvolution workspace size ("+convDirections[dir]+")", status); err != nil {
		return err
	}
	c.algo[dir] = r.algo
	c.wsBytes = max(c.wsBytes, bytes, r.memory)
	return nil
}

// chooseAlgo returns the index of the heuristics' result to use, -1 if none
// will do: the first that succeeded, fits cudnnWorkspaceLimit and, without
// tf32, uses no tensor cores; a deterministic one first, so that a run
// repeats bit for bit (PyTorch's torch.backends.cudnn.deterministic = True),
// any other only where the heuristics offer none.
func chooseAlgo(results []algoPerf, tf32 bool) int {
	usable := func(r algoPerf) bool {
		tensorCores := r.mathType == cudnnTensorOpMath || r.mathType == cudnnTensorOpConvert
		return r.status == 0 && r.memory <= cudnnWorkspaceLimit && (!tensorCores || tf32)
	}
	if i := slices.IndexFunc(results, func(r algoPerf) bool { return usable(r) && r.determinism == cudnnDeterministic }); i >= 0 {
		return i
	}
	return slices.IndexFunc(results, usable)
}

// destroy releases the descriptors.
func (c *cudnnConv) destroy() error {
	if c.released {
		return nil
	}
	c.released = true
	d := c.b.l.dnn
	var errs []error
	keep := func(err error) { errs = append(errs, err) }
	if err := c.b.enter(); err != nil {
		return err
	}
	defer c.b.leave()
	for _, t := range []uintptr{c.x, c.y} {
		if t != 0 {
			keep(d.check("cudnnDestroyTensorDescriptor", d.destroyTensor(t)))
		}
	}
	if c.w != 0 {
		keep(d.check("cudnnDestroyFilterDescriptor", d.destroyFilter(c.w)))
	}
	for _, cd := range c.conv {
		if cd != 0 {
			keep(d.check("cudnnDestroyConvolutionDescriptor", d.destroyConv(cd)))
		}
	}
	return errors.Join(errs...)
}

// cudnnConvKernel is a Conv2d kernel on a shared cudnnConv.
type cudnnConvKernel struct{ c *cudnnConv }

func (k cudnnConvKernel) Workspace() int {
	return max(int((k.c.wsBytes+3)/4), k.biasSums().workspace())
}

func (k cudnnConvKernel) biasSums() channelSums {
	ho, wo := k.c.g.out()
	return newChannelSums(k.c.g.n, k.c.g.cout, ho*wo)
}

// workspace is the address and size in bytes cuDNN may use.
func (k cudnnConvKernel) workspace(a backend.Args) (uint64, uint64) {
	if k.c.wsBytes == 0 || a.Workspace == nil {
		return 0, 0
	}
	return uint64(ptr(a.Workspace)), uint64(a.Workspace.Len()) * 4
}

func (k cudnnConvKernel) Forward(a backend.Args) error {
	c, b := k.c, k.c.b
	ws, wsBytes := k.workspace(a)
	if err := b.enter(); err != nil {
		return err
	}
	d := b.l.dnn
	err := d.check("cudnnConvolutionForward", d.convForward(b.dnn, &one, c.x, uint64(ptr(a.In[0])), c.w, uint64(ptr(a.In[1])),
		c.conv[convForward], c.algo[convForward], ws, wsBytes, &zero, c.y, uint64(ptr(a.Out))))
	b.leave()
	if err != nil || len(a.In) < 3 || a.In[2] == nil {
		return err
	}
	ho, wo := c.g.out()
	return b.launchN("channel_bias_add", c.g.n*c.g.cout*ho*wo, ptr(a.Out), ptr(a.In[2]), i32(c.g.n), i32(c.g.cout), i32(ho*wo))
}

func (k cudnnConvKernel) Backward(wrt int, a backend.Args) error {
	c, b := k.c, k.c.b
	if wrt == 2 {
		return k.biasSums().run(b, ptr(a.DOut), ptr(a.DIn), ptr(a.Workspace))
	}
	ws, wsBytes := k.workspace(a)
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	d := b.l.dnn
	switch wrt {
	case 0:
		return d.check("cudnnConvolutionBackwardData", d.convBackwardData(b.dnn, &one, c.w, uint64(ptr(a.In[1])), c.y, uint64(ptr(a.DOut)),
			c.conv[convBackwardData], c.algo[convBackwardData], ws, wsBytes, &zero, c.x, uint64(ptr(a.DIn))))
	case 1:
		return d.check("cudnnConvolutionBackwardFilter", d.convBackwardFilter(b.dnn, &one, c.x, uint64(ptr(a.In[0])), c.y, uint64(ptr(a.DOut)),
			c.conv[convBackwardFilter], c.algo[convBackwardFilter], ws, wsBytes, &zero, c.w, uint64(ptr(a.DIn))))
	}
	return fmt.Errorf("cuda: Conv2d has no input %d", wrt)
}
