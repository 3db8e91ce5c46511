package graph

import (
	"slices"
	"strings"

	"github.com/cnntrain/cnntrain/internal/ops"
	G "gorgonia.org/gorgonia"
)

// LayerSummary is one op of a net's forward pass, as a Keras or Lightning
// summary lists it: the layer's name (its parameters' state_dict prefix, or
// the op), the op, its output shape and its trainable parameters.
type LayerSummary struct {
	Name   string    `json:"name"`
	Op     string    `json:"op"`
	Output ops.Shape `json:"output_shape"`
	Params int       `json:"params"`
}

// Summary lists the forward ops of n in execution order, the loss excluded.
func (n *Net) Summary() ([]LayerSummary, error) {
	nodes, err := G.Sort(n.Graph)
	if err != nil {
		return nil, err
	}
	slices.Reverse(nodes)
	var out []LayerSummary
	for _, node := range nodes {
		info, ok := OpOf(node)
		if !ok || info.Grad || node == n.Loss {
			continue
		}
		s := LayerSummary{Name: info.Op.String(), Op: info.Op.String(), Output: info.Out}
		it := n.Graph.From(node.ID())
		for it.Next() {
			p, ok := n.ParamOf(it.Node().(*G.Node))
			if !ok {
				continue
			}
			if p.Trainable() {
				s.Params += p.Value.Shape().TotalSize()
			}
			if i := strings.LastIndex(p.Name, "."); i > 0 {
				s.Name = p.Name[:i]
			}
		}
		out = append(out, s)
	}
	return out, nil
}
