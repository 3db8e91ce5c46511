// Package models is cnntrain's model registry: each entry builds one of the
// course notebooks' networks, with PyTorch's layer names and default
// initialisation, for a given input shape.
//
//	m, err := models.New("cnn", models.Input{C: 1, H: 28, W: 28, Classes: 10}, models.Config{Seed: 1})
//	fmt.Println(m.NumParams()) // 6422
//
// A model that cannot take an input (too small an image for its pooling, say)
// is refused by New with an error wrapping ErrIncompatible that says why.
package models

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/cnntrain/cnntrain/internal/graph"
)

var (
	// ErrUnknownModel is wrapped by New for names not in the registry.
	ErrUnknownModel = errors.New("unknown model")
	// ErrIncompatible is wrapped by New when a model cannot take the input.
	ErrIncompatible = errors.New("model does not fit the dataset")
	// ErrBadConfig is wrapped by New for out-of-range options.
	ErrBadConfig = errors.New("bad model option")
)

// Input is what a model is built for: images of C×H×W and a number of classes.
type Input struct {
	C, H, W, Classes int
}

func (in Input) String() string {
	return fmt.Sprintf("%dx%dx%d images, %d classes", in.C, in.H, in.W, in.Classes)
}

// Config holds the options of every model; each model reads its own and
// treats zero as its notebook default.
type Config struct {
	Hidden   int    // mlp: width of both hidden layers (notebook: 8)
	Features int    // cnn on 1-channel input: feature maps of both convolutions (notebook: 6)
	Seed     uint64 // initialisation seed
}

// Model is a built network with its parameters initialised.
type Model struct {
	Name string
	// Class is the notebook's PyTorch class this model reproduces, with its
	// settings, e.g. "FC2Layer(784, 8, 10)".
	Class string
	Net   graph.Layer
	Loss  graph.LossKind
	Input Input
}

// Params lists the model's tensors in state_dict order.
func (m *Model) Params() []*graph.Param { return m.Net.Params() }

// NumParams is the number of trainable values, as the notebooks print it.
func (m *Model) NumParams() int { return graph.CountParams(m.Params()) }

type builder func(in Input, cfg Config, rng *rand.Rand) (*Model, error)

type entry struct {
	summary string
	build   builder
}

var registry = map[string]entry{
	"mlp": {"the notebook's FC2Layer: two hidden ReLU layers (--hidden, default 8)", buildMLP},
	"cnn": {"the notebook's CNN: two 5x5 convolutions with max-pooling, then two linear layers (--features, default 6)", buildCNN},
}

// Names lists the registered models, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Summary describes a registered model in one line.
func Summary(name string) string { return registry[name].summary }

// New builds model name for input, initialised from cfg.Seed.
func New(name string, in Input, cfg Config) (*Model, error) {
	e, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownModel, name, strings.Join(Names(), ", "))
	}
	if in.C < 1 || in.H < 1 || in.W < 1 || in.Classes < 2 {
		return nil, fmt.Errorf("%w: %s cannot be built for %v", ErrIncompatible, name, in)
	}
	// A fixed stream constant keeps model initialisation apart from the other
	// seeded draws (shuffling, permutation) made from the same --seed.
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6d6f64656c696e69))
	m, err := e.build(in, cfg, rng)
	if err != nil {
		return nil, err
	}
	m.Name, m.Input = name, in
	return m, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func buildMLP(in Input, cfg Config, rng *rand.Rand) (*Model, error) {
	hidden := orDefault(cfg.Hidden, 8)
	if hidden < 1 {
		return nil, fmt.Errorf("%w: --hidden must be at least 1, got %d", ErrBadConfig, hidden)
	}
	size := in.C * in.H * in.W
	return &Model{
		Class: fmt.Sprintf("FC2Layer(%d, %d, %d)", size, hidden, in.Classes),
		Net: graph.Sequential{
			graph.NewLinear("network.0", size, hidden, rng),
			graph.ReLU{},
			graph.NewLinear("network.2", hidden, hidden, rng),
			graph.ReLU{},
			graph.NewLinear("network.4", hidden, in.Classes, rng),
			graph.LogSoftmax{},
		},
		Loss: graph.NLL,
	}, nil
}

// buildCNN is the MNIST notebook's CNN: conv5-relu-pool2 twice, then
// Linear(features·h·w, 50)-relu-Linear(50, classes)-log_softmax.
func buildCNN(in Input, cfg Config, rng *rand.Rand) (*Model, error) {
	features := orDefault(cfg.Features, 6)
	if features < 1 {
		return nil, fmt.Errorf("%w: --features must be at least 1, got %d", ErrBadConfig, features)
	}
	h, w := (in.H-4)/2, (in.W-4)/2
	h, w = (h-4)/2, (w-4)/2
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("%w: cnn needs images of at least 16x16 pixels (two 5x5 convolutions, each followed by 2x2 pooling); got %dx%d", ErrIncompatible, in.H, in.W)
	}
	return &Model{
		Class: fmt.Sprintf("CNN(%d, %d, %d)", in.C*in.H*in.W, features, in.Classes),
		Net: graph.Sequential{
			graph.NewConv2d("conv1", in.C, features, 5, 0, rng),
			graph.ReLU{},
			graph.MaxPool2d{Size: 2},
			graph.NewConv2d("conv2", features, features, 5, 0, rng),
			graph.ReLU{},
			graph.MaxPool2d{Size: 2},
			graph.NewLinear("fc1", features*h*w, 50, rng),
			graph.ReLU{},
			graph.NewLinear("fc2", 50, in.Classes, rng),
			graph.LogSoftmax{},
		},
		Loss: graph.NLL,
	}, nil
}
