package vm

import (
	"fmt"
	"math"
	"slices"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/graph"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Program is a graph.Net compiled for a Device: the sorted graph as a list of
// kernel calls with every buffer bound, its memory planned once. Run uploads
// a batch, runs forward and backward and brings the loss back; Update applies
// the optimizer to the gradients on the device. After the first call nothing
// is allocated: every argument of every call is fixed at compile time.
type Program struct {
	dev   *Device
	net   *graph.Net
	calls []call
	plan  Plan

	images, labels, output, loss, inputGrad backend.Buffer
	grads                                   []backend.Buffer

	labelsHost []float32
	lossHost   []float32
	outputHost []float32

	owned     []backend.Buffer  // what Compile allocated: constants, arena, workspace
	recording backend.Recording // the calls, recorded on the second Run (a Recorder backend)
	warm      bool              // the calls ran once

	lossPending bool // launched since the loss was last read
}

// call is one kernel call with its arguments bound.
type call struct {
	name   string
	kernel backend.Kernel
	grad   bool
	wrt    int
	args   backend.Args
}

// tensorUse is a tensor the plan places: its size and lifetime, and the
// views that will point at it.
type tensorUse struct {
	iv   interval
	dest []*backend.Buffer
}

// Compile turns net into a Program on dev. Every node of the graph must be an
// input (images, labels, a parameter on dev), a constant, or a cnntrain op the
// backend can run: anything else is refused here, with its name, never
// silently run elsewhere.
func Compile(dev *Device, net *graph.Net) (*Program, error) {
	return compile(dev.backend, dev, net)
}

// PlanFor is the memory plan Compile would make for net on b, allocating
// nothing: what a run needs can be known, and refused, before any of it is
// allocated.
func PlanFor(b backend.Backend, net *graph.Net) (Plan, error) {
	p, err := compile(b, nil, net)
	if err != nil {
		return Plan{}, err
	}
	return p.plan, nil
}

// compile is Compile; without dev it stops at the plan (PlanFor), leaving
// parameters unbound and nothing allocated.
func compile(b backend.Backend, dev *Device, net *graph.Net) (*Program, error) {
	sorted, err := G.Sort(net.Graph)
	if err != nil {
		return nil, fmt.Errorf("sort graph: %w", err)
	}
	slices.Reverse(sorted)
	p := &Program{dev: dev, net: net}

	// Pass 1: an instruction per op node, a planned tensor per value.
	var (
		tensors   []*tensorUse
		valueOf   = map[*G.Node]*tensorUse{} // planned values by node
		bufOf     = map[*G.Node]*backend.Buffer{}
		saved     = map[*G.Node][]*tensorUse{} // a forward node's saved tensors
		kernelOf  = map[*G.Node]backend.Kernel{}
		workspace int
	)
	newTensor := func(size, first int) *tensorUse {
		t := &tensorUse{iv: interval{size: max(size, 1), first: first, last: first, colour: len(tensors)}}
		tensors = append(tensors, t)
		return t
	}
	use := func(n *G.Node, at int) {
		if t, ok := valueOf[n]; ok {
			t.iv.last = max(t.iv.last, at)
		}
	}
	persistent := map[*G.Node]bool{}
	for _, n := range sorted {
		if n.Op() != nil {
			continue
		}
		// An input node: a parameter already on the device, or data.
		if prm, ok := net.ParamOf(n); ok {
			if dev == nil { // planning only
				bufOf[n] = new(backend.Buffer)
				persistent[n] = true
				continue
			}
			buf, ok := dev.Buffer(prm)
			if !ok {
				return nil, fmt.Errorf("compile: parameter %s is not on the device", prm.Name)
			}
			bb := buf
			bufOf[n] = &bb
			persistent[n] = true
			continue
		}
		// Images and labels are uploaded before the first instruction.
		t := newTensor(n.Shape().TotalSize(), -1)
		valueOf[n] = t
		bufOf[n] = new(backend.Buffer)
		t.dest = append(t.dest, bufOf[n])
	}
	for _, n := range sorted {
		if n.Op() == nil {
			continue
		}
		info, ours := graph.OpOf(n)
		if !ours {
			if len(children(net.Graph, n)) == 0 && n.Value() != nil { // a constant: Grad's dloss/dloss = 1
				if dev == nil { // planning only
					bufOf[n] = new(backend.Buffer)
					persistent[n] = true
					continue
				}
				buf, err := constant(b, n.Value())
				if buf != nil {
					p.owned = append(p.owned, buf)
				}
				if err != nil {
					return nil, fmt.Errorf("compile: constant %v: %w", n, err)
				}
				bufOf[n] = &buf
				persistent[n] = true
				continue
			}
			return nil, fmt.Errorf("compile: node %s: op %v is not a cnntrain op; the executor runs only internal/ops descriptors", n.Name(), n.Op())
		}
		at := len(p.calls)
		kids := children(net.Graph, n)
		c := call{name: n.Op().String(), grad: info.Grad, wrt: info.Wrt}
		nIn := len(info.In)
		if !info.Grad {
			k, err := b.Compile(info.Op, info.In)
			if err != nil {
				return nil, fmt.Errorf("compile %s on %s: %w", info.Op, b.Name(), err)
			}
			kernelOf[n] = k
			workspace = max(workspace, k.Workspace())
			c.kernel = k
			for _, kid := range kids {
				use(kid, at)
			}
			for _, i := range info.Op.Updates() {
				if !persistent[kids[i]] {
					return nil, fmt.Errorf("compile %s: input %s is updated in place and must be a parameter or buffer, got %s", info.Op, info.Op.Inputs()[i], kids[i].Name())
				}
			}
			for _, spec := range info.Op.Saved(info.In) {
				saved[n] = append(saved[n], newTensor(spec.Shape.Size(), at))
			}
		} else {
			fwd := kids[nIn]
			c.kernel = kernelOf[fwd]
			if c.kernel == nil {
				return nil, fmt.Errorf("compile %s: its forward op has not run before it", n.Op())
			}
			reads, readsOut := info.Op.BackwardReads(info.Wrt)
			for i, r := range reads {
				if r {
					use(kids[i], at)
				}
			}
			if readsOut {
				use(fwd, at)
			}
			use(kids[nIn+1], at) // the output's gradient
			for _, t := range saved[fwd] {
				t.iv.last = max(t.iv.last, at)
			}
		}
		out := newTensor(n.Shape().TotalSize(), at)
		valueOf[n] = out
		bufOf[n] = new(backend.Buffer)
		out.dest = append(out.dest, bufOf[n])
		p.calls = append(p.calls, c)
	}
	// Results outlive the instructions: they are read after Run, and the
	// gradients by Update. So do the images and labels: the next batch is
	// loaded while this one's results are still to be read and its gradients
	// applied, and no other tensor may share their memory.
	end := len(p.calls)
	keep := append(G.Nodes{net.Output, net.Loss, net.InputGrad, net.Images, net.Labels}, net.Grads...)
	for _, n := range keep {
		if n != nil {
			if t, ok := valueOf[n]; ok {
				t.iv.last = end
			}
		}
	}

	// Pass 2: place the tensors, allocate, bind every call's arguments.
	ivs := make([]*interval, len(tensors))
	for i, t := range tensors {
		ivs[i] = &t.iv
		p.plan.Tensors += int64(roundUp(t.iv.size)) * 4
	}
	arenaSize := assignOffsets(ivs)
	p.plan.Arena, p.plan.Workspace = int64(arenaSize)*4, int64(workspace)*4
	p.plan.Peak = p.plan.Arena + p.plan.Workspace
	p.plan.Count, p.plan.Instructions = len(tensors), len(p.calls)
	if dev == nil {
		return p, nil
	}
	arena, err := b.Alloc(arenaSize)
	if err != nil {
		p.Release()
		return nil, fmt.Errorf("compile: allocate %.1f MB for the program's tensors on %s: %w", mb(p.plan.Arena), b.Name(), err)
	}
	p.owned = append(p.owned, arena)
	ws, err := b.Alloc(workspace)
	if err != nil {
		p.Release()
		return nil, fmt.Errorf("compile: allocate %.1f MB of workspace on %s: %w", mb(p.plan.Workspace), b.Name(), err)
	}
	p.owned = append(p.owned, ws)
	view := func(t *tensorUse, size int) backend.Buffer { return b.Slice(arena, t.iv.offset, size) }
	for n, t := range valueOf {
		*bufOf[n] = view(t, n.Shape().TotalSize())
	}
	ci := 0
	for _, n := range sorted {
		info, ours := graph.OpOf(n)
		if n.Op() == nil || !ours {
			continue
		}
		c := &p.calls[ci]
		ci++
		kids := children(net.Graph, n)
		nIn := len(info.In)
		c.args.Workspace = ws
		c.args.In = make([]backend.Buffer, nIn)
		var fwd *G.Node
		if info.Grad {
			fwd = kids[nIn]
			reads, readsOut := info.Op.BackwardReads(info.Wrt)
			for i, r := range reads {
				if r {
					c.args.In[i] = *bufOf[kids[i]]
				}
			}
			if readsOut {
				c.args.Out = *bufOf[fwd]
			}
			c.args.DOut = *bufOf[kids[nIn+1]]
			c.args.DIn = *bufOf[n]
		} else {
			fwd = n
			for i := range nIn {
				c.args.In[i] = *bufOf[kids[i]]
			}
			c.args.Out = *bufOf[n]
		}
		specs := info.Op.Saved(info.In)
		for i, t := range saved[fwd] {
			c.args.Saved = append(c.args.Saved, view(t, specs[i].Shape.Size()))
		}
	}
	p.images = *bufOf[net.Images]
	if net.Labels != nil {
		p.labels = *bufOf[net.Labels]
		p.labelsHost = make([]float32, net.Labels.Shape().TotalSize())
	}
	p.output = *bufOf[net.Output]
	if net.Loss != nil {
		p.loss = *bufOf[net.Loss]
		p.lossHost = make([]float32, 1)
	}
	if net.InputGrad != nil {
		p.inputGrad = *bufOf[net.InputGrad]
	}
	for _, g := range net.Grads {
		p.grads = append(p.grads, *bufOf[g])
	}
	return p, nil
}

// children are n's arguments in order.
func children(g *G.ExprGraph, n *G.Node) G.Nodes {
	it := g.From(n.ID())
	out := make(G.Nodes, 0, it.Len())
	for it.Next() {
		out = append(out, it.Node().(*G.Node))
	}
	return out
}

// constant uploads a constant node's value.
func constant(b backend.Backend, v G.Value) (backend.Buffer, error) {
	var data []float32
	switch v := v.(type) {
	case *G.F32:
		data = []float32{float32(*v)}
	case *tensor.Dense:
		d, ok := v.Data().([]float32)
		if !ok {
			return nil, fmt.Errorf("constant of type %v, want float32", v.Dtype())
		}
		data = d
	default:
		return nil, fmt.Errorf("unsupported constant %T", v)
	}
	buf, err := b.Alloc(len(data))
	if err != nil {
		return nil, err
	}
	return buf, b.Upload(buf, data)
}

// Release frees the program's recording and device memory; the program
// cannot run after it.
func (p *Program) Release() error {
	var first error
	if p.recording != nil {
		first = p.recording.Release()
		p.recording = nil
	}
	for _, buf := range p.owned {
		if err := p.dev.backend.Free(buf); err != nil && first == nil {
			first = err
		}
	}
	p.owned, p.calls = nil, nil
	return first
}

// Plan is the program's memory plan.
func (p *Program) Plan() Plan { return p.plan }

// BatchSize is the number of images the program takes at once.
func (p *Program) BatchSize() int { return p.net.BatchSize() }

// Run uploads a batch and runs the program once: forward, loss and, when
// compiled with gradients, the backward pass; then it reads the loss. labels
// may be nil for a net without a loss. It is Load, Launch and ReadLoss.
func (p *Program) Run(images []float32, labels []uint8) error {
	if err := p.Load(images, labels); err != nil {
		return err
	}
	if err := p.Launch(); err != nil {
		return err
	}
	_, err := p.ReadLoss()
	return err
}

// Load brings a batch in for the next Launch. It may be called while the
// program's previous launch still runs on the device (the batch is copied
// in after it, in the device's order): a training loop loads batch k+1
// before it waits for batch k's loss, so that on a GPU the transfer
// overlaps the computation. The slices may change once Load returns, except
// on the CPU, which reads images where they are until the next Load.
func (p *Program) Load(images []float32, labels []uint8) error {
	b := p.dev.backend
	if len(images) != p.images.Len() {
		return fmt.Errorf("run: batch has %d values, net takes %d (shape %v)", len(images), p.images.Len(), p.net.Images.Shape())
	}
	// The CPU reads the batch where it is; other devices copy it in.
	if hr, ok := b.(backend.HostReader); !ok || !hr.ReadHost(p.images, images) {
		if err := p.upload(p.images, images); err != nil {
			return fmt.Errorf("run: %w", err)
		}
	}
	if p.labels != nil {
		if len(labels) != len(p.labelsHost) {
			return fmt.Errorf("run: batch has %d labels, net takes %d", len(labels), len(p.labelsHost))
		}
		for i, l := range labels {
			p.labelsHost[i] = float32(l)
		}
		if err := p.upload(p.labels, p.labelsHost); err != nil {
			return fmt.Errorf("run: %w", err)
		}
	}
	return nil
}

// upload stages a step's input where the backend can overlap it with the
// work before (CUDA) and uploads it otherwise.
func (p *Program) upload(dst backend.Buffer, src []float32) error {
	if st, ok := p.dev.backend.(backend.Stager); ok {
		return st.Stage(dst, src)
	}
	return p.dev.backend.Upload(dst, src)
}

// Launch runs the program once on the loaded batch. On a GPU it returns
// once the work is queued; ReadLoss waits for it.
func (p *Program) Launch() error {
	if err := p.runCalls(); err != nil {
		return err
	}
	p.lossPending = p.loss != nil
	return nil
}

// ReadLoss waits for the last launch and returns its mean loss (NaN for a
// net without a loss).
func (p *Program) ReadLoss() (float32, error) {
	if p.lossPending {
		p.lossPending = false
		if err := p.dev.backend.Download(p.lossHost, p.loss); err != nil {
			return 0, fmt.Errorf("run: loss: %w", err)
		}
	}
	return p.Loss(), nil
}

// runCalls runs the kernel calls. On a Recorder backend (CUDA) the first run
// launches them one by one, as a warm-up: libraries that set themselves up
// on their first call (cuBLAS, cuDNN, lazily loaded kernels) do it outside a
// capture. The second run records them and every run replays the recording:
// the calls' arguments never change, only the data in the buffers they
// point at.
func (p *Program) runCalls() error {
	if p.calls == nil {
		return fmt.Errorf("run: the program was released")
	}
	rec, ok := p.dev.backend.(backend.Recorder)
	if !ok || !rec.Records() || !p.warm {
		p.warm = true
		return p.callEach()
	}
	if p.recording == nil {
		r, err := rec.Record(p.callEach)
		if err != nil {
			return fmt.Errorf("run: recording the program: %w", err)
		}
		p.recording = r
	}
	if err := p.recording.Replay(); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

func (p *Program) callEach() error {
	for i := range p.calls {
		c := &p.calls[i]
		var err error
		if c.grad {
			err = c.kernel.Backward(c.wrt, c.args)
		} else {
			err = c.kernel.Forward(c.args)
		}
		if err != nil {
			return fmt.Errorf("run: %s: %w", c.name, err)
		}
	}
	return nil
}

// Loss is the mean loss of the last batch Run or ReadLoss read (NaN for a
// net without a loss).
func (p *Program) Loss() float32 {
	if p.lossHost == nil {
		return float32(math.NaN())
	}
	return p.lossHost[0]
}

// Output downloads the model's output for the last batch, (N, classes)
// flattened; the slice is reused by the next call.
func (p *Program) Output() ([]float32, error) {
	if p.outputHost == nil {
		p.outputHost = make([]float32, p.output.Len())
	}
	if err := p.dev.backend.Download(p.outputHost, p.output); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return p.outputHost, nil
}

// Params are the trainable parameters, in the order of GradBuffers.
func (p *Program) Params() []*graph.Param { return p.net.Params }

// GradBuffers are the device buffers holding each trainable parameter's
// gradient after Run, valid until the next Run.
func (p *Program) GradBuffers() []backend.Buffer { return p.grads }

// Fetch downloads a device buffer into a new slice (tests, debugging).
func (p *Program) Fetch(buf backend.Buffer) ([]float32, error) {
	out := make([]float32, buf.Len())
	return out, p.dev.backend.Download(out, buf)
}

// Grads downloads every trainable parameter's gradient (tests).
func (p *Program) Grads() ([][]float32, error) {
	out := make([][]float32, len(p.grads))
	for i, g := range p.grads {
		var err error
		if out[i], err = p.Fetch(g); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// InputGrad downloads the gradient with respect to the images (InputGrad
// nets only).
func (p *Program) InputGrad() ([]float32, error) {
	if p.inputGrad == nil {
		return nil, fmt.Errorf("input gradient: the net was compiled without InputGrad")
	}
	return p.Fetch(p.inputGrad)
}

// Optimizer is an update rule applied on a device: optim.SGD and optim.Adam.
type Optimizer interface {
	Name() string
	// Update applies one step to params, whose gradients are in grads, using
	// and updating the device's optimizer state. dev.Steps counts the
	// updates before this one.
	Update(dev *Device, params []*graph.Param, grads []backend.Buffer) error
}

// Update applies one optimizer step to the gradients of the last Run.
func (p *Program) Update(opt Optimizer) error {
	if p.grads == nil {
		return fmt.Errorf("update: the net was compiled without gradients")
	}
	return p.dev.Apply(opt, p.net.Params, p.grads)
}
