// Package graph builds cnntrain's networks as Gorgonia expression graphs.
//
// # Layers
//
// A model is a Layer, usually a Sequential of them: Linear, Conv2d,
// BatchNorm2d, MaxPool2d, ReLU and LogSoftmax, each with PyTorch's semantics
// and state_dict names. Their tensors are Params; Param.Value is the host
// copy, and the executor keeps the working copy on its device.
//
//	rng := rand.New(rand.NewPCG(1, 2))
//	model := graph.Sequential{
//		graph.NewConv2d("conv1", 1, 6, 5, 0, rng), graph.ReLU{}, graph.MaxPool2d{Size: 2},
//		graph.NewLinear("fc", 6*12*12, 10, rng), graph.LogSoftmax{},
//	}
//
// # Ops
//
// Every layer adds one node whose op is an internal/ops descriptor (kind,
// attributes, shape rule, saved tensors), adapted to Gorgonia's Op and SDOp
// so that gorgonia.Grad builds the backward graph from our ops alone: one
// gradient node per differentiable input. Gorgonia's own convolution,
// pooling, BatchNorm and losses are not used: their numerics differ from
// PyTorch's (BatchNorm's running variance starts at 0 and its statistics live
// inside one graph's op; initializers seed from the clock).
//
// # Compiling
//
// Compile builds a Net for one input shape: forward-only for evaluation, or
// with the loss and every parameter's gradient for training. A Net holds no
// data and runs nothing: vm.Compile plans its memory and runs it on a
// backend. OpOf reads a node's descriptor back. Shapes are fixed per graph,
// so training compiles one Net per batch size (the last partial batch gets
// its own).
package graph
