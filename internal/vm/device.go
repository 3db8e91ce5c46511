package vm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/graph"
)

// Device is a model's state on one backend: a buffer per parameter and
// BatchNorm buffer, and the optimizer's state (momentum buffers, Adam's
// moments, the number of updates applied). Every Program of the model on that
// backend (one per batch size, training and evaluation alike) reads and
// updates these same buffers, so one update is seen by all of them and
// nothing crosses to the host between steps.
//
// The host copies (graph.Param.Value) are written only by Pull, before a
// checkpoint is saved; Push sends host values to the device after weights
// are loaded.
type Device struct {
	backend backend.Backend
	params  []*graph.Param
	bufs    map[*graph.Param]backend.Buffer
	state   map[stateKey]backend.Buffer
	// Steps is the number of optimizer updates applied so far; the rules
	// derive their bias corrections and first-step behaviour from it.
	Steps int
}

type stateKey struct {
	param *graph.Param
	name  string
}

// NewDevice allocates params on b and uploads their host values.
func NewDevice(b backend.Backend, params []*graph.Param) (*Device, error) {
	d := &Device{backend: b, params: params, bufs: map[*graph.Param]backend.Buffer{}, state: map[stateKey]backend.Buffer{}}
	for _, p := range params {
		buf, err := b.Alloc(len(p.Data()))
		if err != nil {
			return nil, fmt.Errorf("%s: allocate %s: %w", b.Name(), p.Name, err)
		}
		d.bufs[p] = buf
	}
	return d, d.Push()
}

// Backend is the device's backend.
func (d *Device) Backend() backend.Backend { return d.backend }

// Params are the tensors on the device, in state_dict order.
func (d *Device) Params() []*graph.Param { return d.params }

// Buffer is p's device buffer.
func (d *Device) Buffer(p *graph.Param) (backend.Buffer, bool) {
	b, ok := d.bufs[p]
	return b, ok
}

// Push copies every parameter's host value to the device.
func (d *Device) Push() error {
	for _, p := range d.params {
		if err := d.backend.Upload(d.bufs[p], p.Data()); err != nil {
			return fmt.Errorf("upload %s: %w", p.Name, err)
		}
	}
	return nil
}

// Pull copies every parameter's device value to its host copy.
func (d *Device) Pull() error {
	if err := d.backend.Sync(); err != nil {
		return err
	}
	for _, p := range d.params {
		if err := d.backend.Download(p.Data(), d.bufs[p]); err != nil {
			return fmt.Errorf("download %s: %w", p.Name, err)
		}
	}
	return nil
}

// State is the optimizer state tensor name of parameter p (shaped like p),
// allocated zeroed on first use.
func (d *Device) State(p *graph.Param, name string) (backend.Buffer, error) {
	k := stateKey{p, name}
	if b, ok := d.state[k]; ok {
		return b, nil
	}
	b, err := d.backend.Alloc(len(p.Data()))
	if err != nil {
		return nil, fmt.Errorf("allocate optimizer state %s.%s: %w", p.Name, name, err)
	}
	d.state[k] = b
	return b, nil
}

// StateTensor is one optimizer state tensor on the host, named after its
// parameter as "<param>.<state>", e.g. "conv1.weight.exp_avg".
type StateTensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// OptimizerState downloads the optimizer's state, in state_dict order of
// the parameters and then by state name.
func (d *Device) OptimizerState() ([]StateTensor, error) {
	if err := d.backend.Sync(); err != nil {
		return nil, err
	}
	var out []StateTensor
	for _, p := range d.params {
		var names []string
		for k := range d.state {
			if k.param == p {
				names = append(names, k.name)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			data := make([]float32, len(p.Data()))
			if err := d.backend.Download(data, d.state[stateKey{p, n}]); err != nil {
				return nil, fmt.Errorf("download optimizer state %s.%s: %w", p.Name, n, err)
			}
			out = append(out, StateTensor{Name: p.Name + "." + n, Shape: []int(p.Shape()), Data: data})
		}
	}
	return out, nil
}

// LoadOptimizerState replaces the optimizer's state with tensors named as
// OptimizerState names them; each must belong to a parameter on the device
// and have its size.
func (d *Device) LoadOptimizerState(tensors []StateTensor, steps int) error {
	byName := map[string]*graph.Param{}
	for _, p := range d.params {
		byName[p.Name] = p
	}
	state := map[stateKey]backend.Buffer{}
	for _, t := range tensors {
		var p *graph.Param
		var name string
		if i := strings.LastIndex(t.Name, "."); i > 0 { // the state name is the last dotted part
			p, name = byName[t.Name[:i]], t.Name[i+1:]
		}
		if p == nil {
			return fmt.Errorf("optimizer state %q belongs to no parameter of the model", t.Name)
		}
		if len(t.Data) != len(p.Data()) {
			return fmt.Errorf("optimizer state %q has %d values, parameter %s has %d", t.Name, len(t.Data), p.Name, len(p.Data()))
		}
		b, err := d.backend.Alloc(len(t.Data))
		if err != nil {
			return err
		}
		if err := d.backend.Upload(b, t.Data); err != nil {
			return err
		}
		state[stateKey{p, name}] = b
	}
	d.state, d.Steps = state, steps
	return nil
}

// Apply runs one update of opt on params, whose gradients are in grads, and
// counts it in Steps.
func (d *Device) Apply(opt Optimizer, params []*graph.Param, grads []backend.Buffer) error {
	if err := opt.Update(d, params, grads); err != nil {
		return fmt.Errorf("%s: %w", opt.Name(), err)
	}
	d.Steps++
	return nil
}
