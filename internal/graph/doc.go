// Package graph builds cnntrain's networks as Gorgonia expression graphs.
//
// # Layers
//
// A model is a Layer, usually a Sequential of them: Linear, Conv2d,
// BatchNorm2d, MaxPool2d, ReLU and LogSoftmax, each with PyTorch's semantics
// and state_dict names. Their tensors are Params, shared by every graph the
// model is compiled into, so one optimizer step is seen by all of them.
//
//	rng := rand.New(rand.NewPCG(1, 2))
//	model := graph.Sequential{
//		graph.NewConv2d("conv1", 1, 6, 5, 0, rng), graph.ReLU{}, graph.MaxPool2d{Size: 2},
//		graph.NewLinear("fc", 6*12*12, 10, rng), graph.LogSoftmax{},
//	}
//
// # Ops
//
// Every layer is one op of our own: a kernel with a forward pass and the
// gradient with respect to each input, adapted to Gorgonia's Op and SDOp so
// that gorgonia.Grad builds the backward graph from our ops alone. Gorgonia's
// own convolution, pooling, BatchNorm and losses are not used: their
// numerics differ from PyTorch's (BatchNorm's running variance starts at 0
// and its statistics live inside one graph's op; initializers seed from the
// clock), and one op per layer is what the CUDA VM runs as well. Matrix
// products go through internal/sgemm.
//
// # Running
//
// Compile builds a Net for one input shape: forward-only for evaluation, or
// with the loss and every parameter's gradient for training. Net.Run copies a
// batch in, runs Gorgonia's tape machine, and exposes the output, the loss
// and the gradients. Shapes are fixed per graph, so training keeps one Net
// per batch size (the last partial batch gets its own).
package graph
