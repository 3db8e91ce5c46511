package vm

import (
	"fmt"
	"github.com/cnntrain/cnntrain/internal/graph"
)

// Programs compiles a model once per batch size, on demand: training meets
// its batch size and the last partial batch, evaluation its test batch size.
// All of them share the Device's parameters.
type Programs struct {
	Device *Device
	Model  graph.Layer
	// Input is the shape of one image (C, H, W).
	Input   [3]int
	Options graph.NetOptions
	progs   map[int]*Program
}

// Get returns the program for batches of n images.
func (c *Programs) Get(n int) (*Program, error) {
	if p, ok := c.progs[n]; ok {
		return p, nil
	}
	net, err := graph.Compile(c.Model, []int{n, c.Input[0], c.Input[1], c.Input[2]}, c.Options)
	if err != nil {
		return nil, err
	}
	p, err := Compile(c.Device, net)
	if err != nil {
		return nil, fmt.Errorf("a batch of %d images: %w (try a smaller batch size)", n, err)
	}
	if c.progs == nil {
		c.progs = map[int]*Program{}
	}
	c.progs[n] = p
	return p, nil
}

// Release frees the compiled programs' device memory and recordings.
func (c *Programs) Release() error {
	var first error
	for _, p := range c.progs {
		if err := p.Release(); err != nil && first == nil {
			first = err
		}
	}
	c.progs = nil
	return first
}
