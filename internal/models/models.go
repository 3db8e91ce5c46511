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
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/suggest"
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
	Hidden   int     // mlp: width of both hidden layers (notebook: 8)
	Features int     // cnn on 1-channel input: feature maps of both convolutions (notebook: 6)
	Width    float64 // vgg: channel multiplier (1 or 0: the real widths)
	Seed     uint64  // initialisation seed
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
	// tune adjusts the dataset's notebook preset where the model's own
	// notebook trains differently; nil keeps it.
	tune func(in Input, p *datasets.Preset)
	// options are the Config options (OptionHidden …) the model reads when
	// built for in; the others it ignores.
	options func(in Input) []string
	// batchNorm says the model has BatchNorm layers, whose test-time
	// statistics a run may choose.
	batchNorm bool
}

// The Config options a model may read, named as their settings are.
const (
	OptionHidden   = "hidden"
	OptionFeatures = "features"
	OptionWidth    = "width"
)

func reads(options ...string) func(Input) []string { return func(Input) []string { return options } }

var registry = map[string]entry{
	"mlp": {"the notebook's FC2Layer: two hidden ReLU layers (--hidden, default 8)", buildMLP, nil, reads(OptionHidden), false},
	"cnn": {"on 1-channel images the MNIST notebook's CNN (--features, default 6); on 3-channel images the CIFAR-10 notebook's LeNet", buildCNN, nil,
		func(in Input) []string {
			if in.C == 3 {
				return nil // the LeNet's widths are fixed
			}
			return []string{OptionFeatures}
		}, false},
	"vgg11": {"VGG11 with BatchNorm: the CIFAR-10 notebook's \"VGG16\" (--width scales the channels)", buildVGG(vggCfg11), vggNotebook, reads(OptionWidth), true},
	"vgg16": {"VGG16 with BatchNorm, the real one (--width scales the channels)", buildVGG(vggCfg16), vggNotebook, reads(OptionWidth), true},
}

// Reads says whether model name, built for in, reads option (OptionHidden,
// OptionFeatures, OptionWidth); false for an unknown model.
func Reads(name string, in Input, option string) bool {
	e, ok := registry[Canonical(name)]
	return ok && slices.Contains(e.options(in), option)
}

// HasBatchNorm says whether model name has BatchNorm layers; false for an
// unknown model.
func HasBatchNorm(name string) bool { return registry[Canonical(name)].batchNorm }

// Readers lists the models that read option when built for in.
func Readers(option string, in Input) []string {
	var names []string
	for _, n := range Names() {
		if Reads(n, in, option) {
			names = append(names, n)
		}
	}
	return names
}

// WithBatchNorm lists the models that have BatchNorm layers.
func WithBatchNorm() []string {
	var names []string
	for _, n := range Names() {
		if HasBatchNorm(n) {
			names = append(names, n)
		}
	}
	return names
}

// vggNotebook is notebook 05_03's setup: batches of 128 for training and
// test, random crop and flip, the dataset's own normalization, the accuracy
// printed with two decimals.
func vggNotebook(_ Input, p *datasets.Preset) {
	p.BatchSize, p.TestBatchSize, p.Augment, p.Normalize, p.AccuracyDecimals = 128, 128, true, nil, 2
}

// Tune applies model name's adjustments to a dataset's notebook preset for
// input in; unknown names leave it unchanged.
func Tune(name string, in Input, p *datasets.Preset) {
	if e, ok := registry[Canonical(name)]; ok && e.tune != nil {
		e.tune(in, p)
	}
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

// Canonical is the registered spelling of a model name, ignoring case
// ("VGG16" → "vgg16"), or name itself when it is not one.
func Canonical(name string) string {
	for n := range registry {
		if strings.EqualFold(n, name) {
			return n
		}
	}
	return name
}

// Summary describes a registered model in one line.
func Summary(name string) string { return registry[name].summary }

// Known is nil for a registered model name (in any case), else the error
// New gives for it: ErrUnknownModel, with a did-you-mean and the known names.
func Known(name string) error {
	name = Canonical(name)
	if _, ok := registry[name]; !ok {
		return fmt.Errorf("%w %q%s (known: %s)", ErrUnknownModel, name, suggest.Hint(name, Names()), strings.Join(Names(), ", "))
	}
	return nil
}

// New builds model name for input, initialised from cfg.Seed.
func New(name string, in Input, cfg Config) (*Model, error) {
	if err := Known(name); err != nil {
		return nil, err
	}
	name = Canonical(name)
	e := registry[name]
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

// The largest --hidden, --features and --width New builds. They keep a
// model within a few gigabytes for training (weights, gradients and
// optimizer state): VGG16 at width 4 has 235 million parameters, an MLP of
// 16384 units 282 million on MNIST, and 1024 feature maps give the MNIST
// CNN's test batches of 1000 activations of gigabytes. A larger value is
// refused before anything is allocated, instead of dying of an
// out-of-memory crash.
const (
	MaxHidden   = 16384
	MaxFeatures = 1024
	MaxWidth    = 4.0
)

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func buildMLP(in Input, cfg Config, rng *rand.Rand) (*Model, error) {
	hidden := orDefault(cfg.Hidden, 8)
	if hidden < 1 || hidden > MaxHidden {
		return nil, fmt.Errorf("%w: --hidden must be from 1 to %d, got %d", ErrBadConfig, MaxHidden, hidden)
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

// buildCNN is the MNIST notebook's CNN on 1-channel input and the CIFAR
// notebook's LeNet on 3-channel input.
func buildCNN(in Input, cfg Config, rng *rand.Rand) (*Model, error) {
	if in.C == 3 {
		return buildLeNet(in, cfg, rng)
	}
	return buildMNISTCNN(in, cfg, rng)
}

// buildMNISTCNN is the MNIST notebook's CNN: conv5-relu-pool2 twice, then
// Linear(features·h·w, 50)-relu-Linear(50, classes)-log_softmax.
func buildMNISTCNN(in Input, cfg Config, rng *rand.Rand) (*Model, error) {
	features := orDefault(cfg.Features, 6)
	if features < 1 || features > MaxFeatures {
		return nil, fmt.Errorf("%w: --features must be from 1 to %d, got %d", ErrBadConfig, MaxFeatures, features)
	}
	h, w := twoConvPoolSize(in.H), twoConvPoolSize(in.W)
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

// twoConvPoolSize is the spatial size left after two (conv5, pool2) stages.
func twoConvPoolSize(n int) int { return ((n-4)/2 - 4) / 2 }

// buildLeNet is the CIFAR-10 notebook's Net: conv5(3→6)-relu-pool2,
// conv5(6→16)-relu-pool2, then 400→120→84→classes with ReLUs, trained with
// cross-entropy on the raw scores.
func buildLeNet(in Input, cfg Config, rng *rand.Rand) (*Model, error) {
	if cfg.Features != 0 {
		return nil, fmt.Errorf("%w: --features applies to the MNIST CNN; the CIFAR-10 LeNet has fixed widths", ErrBadConfig)
	}
	h, w := twoConvPoolSize(in.H), twoConvPoolSize(in.W)
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("%w: cnn needs images of at least 16x16 pixels (two 5x5 convolutions, each followed by 2x2 pooling); got %dx%d", ErrIncompatible, in.H, in.W)
	}
	return &Model{
		Class: "Net()",
		Net: graph.Sequential{
			graph.NewConv2d("conv1", in.C, 6, 5, 0, rng),
			graph.ReLU{},
			graph.MaxPool2d{Size: 2},
			graph.NewConv2d("conv2", 6, 16, 5, 0, rng),
			graph.ReLU{},
			graph.MaxPool2d{Size: 2},
			graph.NewLinear("fc1", 16*h*w, 120, rng),
			graph.ReLU{},
			graph.NewLinear("fc2", 120, 84, rng),
			graph.ReLU{},
			graph.NewLinear("fc3", 84, in.Classes, rng),
		},
		Loss: graph.CrossEntropy,
	}, nil
}

// VGG layer lists: channel counts, with maxPool for 'M'.
const maxPool = 0

var (
	// vggCfg11 is VGG11's list, which the CIFAR-10 notebook calls "VGG16".
	vggCfg11 = []int{64, maxPool, 128, maxPool, 256, 256, maxPool, 512, 512, maxPool, 512, 512, maxPool}
	vggCfg16 = []int{64, 64, maxPool, 128, 128, maxPool, 256, 256, 256, maxPool, 512, 512, 512, maxPool, 512, 512, 512, maxPool}
)

// scaledChannels is max(1, round(c·width)), the rule --width follows.
func scaledChannels(c int, width float64) int {
	return max(1, int(math.Round(float64(c)*width)))
}

// buildVGG makes the notebook's VGG: for each entry conv3x3(padding 1),
// BatchNorm2d and ReLU, or a 2x2 max-pool; the notebook's final
// AvgPool2d(1, 1) is the identity and only takes its index in "features";
// then one Linear classifier on the flattened features.
func buildVGG(layers []int) builder {
	return func(in Input, cfg Config, rng *rand.Rand) (*Model, error) {
		width := cfg.Width
		if width == 0 {
			width = 1
		}
		if width < 0 || width > MaxWidth || math.IsNaN(width) {
			return nil, fmt.Errorf("%w: --width must be in (0, %g], got %g", ErrBadConfig, MaxWidth, width)
		}
		pools := 0
		for _, c := range layers {
			if c == maxPool {
				pools++
			}
		}
		h, w := in.H>>pools, in.W>>pools
		if h < 1 || w < 1 {
			return nil, fmt.Errorf("%w: VGG needs images of at least %dx%d pixels (its %d max-pools halve the image each time); got %dx%d", ErrIncompatible, 1<<pools, 1<<pools, pools, in.H, in.W)
		}
		var seq graph.Sequential
		idx, channels := 0, in.C
		for _, c := range layers {
			if c == maxPool {
				seq = append(seq, graph.MaxPool2d{Size: 2})
				idx++
				continue
			}
			out := scaledChannels(c, width)
			seq = append(seq,
				graph.NewConv2d(fmt.Sprintf("features.%d", idx), channels, out, 3, 1, rng),
				graph.NewBatchNorm2d(fmt.Sprintf("features.%d", idx+1), out),
				graph.ReLU{},
			)
			idx += 3
			channels = out
		}
		seq = append(seq, graph.NewLinear("classifier", channels*h*w, in.Classes, rng))
		class := fmt.Sprintf("VGG(%d conv layers)", countConvs(layers))
		if width != 1 {
			class = fmt.Sprintf("VGG(%d conv layers, width %g)", countConvs(layers), width)
		}
		return &Model{Class: class, Net: seq, Loss: graph.CrossEntropy}, nil
	}
}

func countConvs(layers []int) int {
	n := 0
	for _, c := range layers {
		if c != maxPool {
			n++
		}
	}
	return n
}
