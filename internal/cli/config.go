package cli

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/suggest"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// configFlags binds the flags that mirror config.Config's keys and resolves the
// effective configuration with this precedence, lowest first:
//
//  1. the notebook preset for the model and dataset (config.Preset);
//  2. the --config file, whose keys are config.yaml's;
//  3. flags given on the command line.
//
// A flag's name is its key with '-' for '_' (--batch-size ↔ batch_size).
type configFlags struct {
	File   string
	values config.Config // what the flags parsed to; only changed ones count
	fs     *pflag.FlagSet
}

// addFlags registers the configuration flags; omit lists keys a command does
// not take.
func (c *configFlags) addFlags(fs *pflag.FlagSet, omit ...string) {
	c.fs = fs
	v := &c.values
	add := func(key string, register func(name string)) {
		if !slices.Contains(omit, key) {
			register(flagName(key))
		}
	}
	fs.StringVar(&c.File, "config", "", "YAML file of settings (keys as in a run's config.yaml); flags override it")
	add("model", func(n string) { fs.StringVar(&v.Model, n, "mlp", "model: "+strings.Join(modelNames(), ", ")) })
	add("dataset", func(n string) { fs.StringVar(&v.Dataset, n, "mnist", "dataset: "+strings.Join(datasetNames(), ", ")) })
	add("epochs", func(n string) {
		fs.IntVar(&v.Epochs, n, 0, "passes over the training set (default: the notebook preset; cnntrain models lists them)")
	})
	add("batch_size", func(n string) {
		fs.IntVar(&v.BatchSize, n, 0, "training minibatch size (default: the notebook preset)")
	})
	add("test_batch_size", func(n string) {
		fs.IntVar(&v.TestBatchSize, n, 0, "evaluation batch size (default: the notebook preset)")
	})
	add("optimizer", func(n string) {
		fs.StringVar(&v.Optimizer, n, "", "sgd or adam (default: the notebook preset)")
	})
	add("lr", func(n string) { fs.Float64Var(&v.LR, n, 0, "learning rate (default: the notebook preset)") })
	add("momentum", func(n string) { fs.Float64Var(&v.Momentum, n, 0, "SGD momentum (default: the notebook preset)") })
	add("weight_decay", func(n string) { fs.Float64Var(&v.WeightDecay, n, 0, "L2 penalty added to the gradient") })
	add("seed", func(n string) {
		fs.Uint64Var(&v.Seed, n, 0, "seed of the initial weights, minibatch order and augmentation")
	})
	add("shuffle_pixels", func(n string) {
		fs.BoolVar(&v.ShufflePixels, n, false, "apply one fixed random permutation to the pixels of every image")
	})
	add("permutation_seed", func(n string) {
		fs.Uint64Var(&v.PermutationSeed, n, 0, "seed of the pixel permutation (default: --seed)")
	})
	add("augment", func(n string) {
		fs.BoolVar(&v.Augment, n, false, "random crop (padding 4) and horizontal flip of training images (notebook: on for VGG)")
	})
	add("bn_batch_stats_at_test", func(n string) {
		fs.BoolVar(&v.BNBatchStatsAtTest, n, false, "test BatchNorm with batch statistics, as the VGG notebook did by never calling eval()")
	})
	add("train_subset", func(n string) { fs.IntVar(&v.TrainSubset, n, 0, "train on the first N training images only (0: all)") })
	add("hidden", func(n string) { fs.IntVar(&v.Hidden, n, 0, "mlp: hidden layer width (default 8, at most 16384)") })
	add("features", func(n string) {
		fs.IntVar(&v.Features, n, 0, "MNIST cnn: feature maps per convolution (default 6, at most 1024)")
	})
	add("width", func(n string) {
		fs.Float64Var(&v.Width, n, 0, "vgg: channel multiplier, e.g. 0.25 for quick CPU runs (default 1, at most 4)")
	})
	add("device", func(n string) {
		fs.StringVar(&v.Device, n, "auto", "where to train: auto (a working GPU, else the CPU), cpu, cuda or cuda:N")
	})
	add("tf32", func(n string) {
		fs.BoolVar(&v.TF32, n, false, "GPU: let matrix products and convolutions use TF32 tensor cores (faster, about 1e-3 relative error)")
	})
	add("no_cuda_graphs", func(n string) {
		fs.BoolVar(&v.NoCUDAGraphs, n, false, "GPU: launch every kernel of a step instead of replaying the step as a CUDA graph")
	})
	add("no_cudnn", func(n string) {
		fs.BoolVar(&v.NoCuDNN, n, false, "GPU: run convolutions as im2col and cuBLAS products even where cuDNN is found")
	})
}

func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// resolve computes the effective configuration. extra maps additional file
// keys a command accepts (shuffle-experiment's seeds) to where they go.
func (c *configFlags) resolve(extra map[string]any) (config.Config, error) {
	// --config "" (an unset variable in a script, say) would train the
	// preset as if no file had been meant: refused.
	if c.File == "" && c.changedFlag("config") {
		return config.Config{}, usagef("--config needs a file name (leave the flag out for none)")
	}
	file := map[string]yaml.Node{}
	if c.File != "" {
		var err error
		if file, err = readConfigFile(c.File, extra); err != nil {
			return config.Config{}, err
		}
	}
	// Model and dataset pick the preset, so they are resolved first.
	model, dataset := c.values.Model, c.values.Dataset
	var bad []error // every bad value in the file, a line each
	for _, key := range []string{"model", "dataset"} {
		if n, ok := file[key]; ok && !c.changed(key) {
			dst := &model
			if key == "dataset" {
				dst = &dataset
			}
			if e := decodeValue(&n, reflect.ValueOf(dst).Elem(), key); e != nil {
				bad = append(bad, e.at(c.File))
			}
		}
	}
	cfg := config.Preset(model, dataset)
	permutationSeedSet := false
	for _, key := range byLine(file) {
		field, ok := configField(&cfg, key)
		if !ok || key == "model" || key == "dataset" {
			continue // an extra key, or one decoded above
		}
		n := file[key]
		if e := decodeSetting(&n, field, key); e != nil {
			bad = append(bad, e.at(c.File))
			continue
		}
		permutationSeedSet = permutationSeedSet || key == "permutation_seed"
	}
	if len(bad) > 0 {
		return config.Config{}, usageError{errors.Join(bad...)}
	}
	for _, key := range configKeys() {
		if !c.changed(key) {
			continue
		}
		dst, _ := configField(&cfg, key)
		src, _ := configField(&c.values, key)
		dst.Set(src)
		permutationSeedSet = permutationSeedSet || key == "permutation_seed"
	}
	if !permutationSeedSet {
		cfg.PermutationSeed = cfg.Seed
	}
	// Names are case-insensitive (--optimizer ADAM, as --model VGG16).
	cfg.Optimizer = strings.ToLower(cfg.Optimizer)
	// A preset's momentum belongs to its SGD: asking for Adam drops it, and
	// only a momentum the user set is held against Adam.
	if _, inFile := file["momentum"]; cfg.Optimizer == "adam" && !c.changed("momentum") && !inFile {
		cfg.Momentum = 0
	}
	// 0 means "the model's default" inside Config; a 0 the user wrote is
	// refused rather than silently read as the default.
	for _, z := range []struct{ key, least string }{{"hidden", "at least 1"}, {"features", "at least 1"}, {"width", "above 0"}} {
		key, least := z.key, z.least
		v, _ := configField(&cfg, key)
		if !v.IsZero() {
			continue
		}
		if c.changed(key) {
			return config.Config{}, usagef("--%s must be %s (leave it out for the model's default)", flagName(key), least)
		}
		if n, inFile := file[key]; inFile {
			return config.Config{}, usagef("%s:%d: %s must be %s (leave it out for the model's default)", c.File, n.Line, key, least)
		}
	}
	// A bad value the file set is reported at its line; the rest, from
	// flags and presets, Check reports by name.
	for _, p := range cfg.Problems() {
		if n, inFile := file[p.Key]; inFile && !c.changed(p.Key) {
			bad = append(bad, fmt.Errorf("%s:%d: %w: %w", c.File, n.Line, config.ErrInvalidConfig, p.Err))
		}
	}
	// A value that does not fit the dataset, by the flag or line that set
	// it (--train-subset 70000 of MNIST's 60000).
	for _, p := range cfg.FitProblems() {
		if c.changed(p.Key) {
			bad = append(bad, fmt.Errorf("--%s %s: %w", flagName(p.Key), c.fs.Lookup(flagName(p.Key)).Value, p.Err))
		} else if n, inFile := file[p.Key]; inFile {
			bad = append(bad, fmt.Errorf("%s:%d: %s: %w", c.File, n.Line, p.Key, p.Err))
		}
	}
	if len(bad) > 0 {
		return config.Config{}, usageError{errors.Join(bad...)}
	}
	// Names are case-insensitive; the run records the registered spelling.
	cfg.Model, cfg.Dataset = models.Canonical(cfg.Model), datasets.Canonical(cfg.Dataset)
	cfg.Device = strings.ToLower(cfg.Device)
	return cfg, nil
}

// refuseUnused refuses a configuration flag given on the command line
// that none of the runs cfgs describe reads (--width of an mlp, --momentum
// with Adam): one rule for every flag that would do nothing, rather than
// ignoring it. A command that trains several models (shuffle-experiment)
// passes each, so a flag that applies to one of them is kept.
func (c *configFlags) refuseUnused(cfgs ...config.Config) error {
	var given []string
	for _, key := range configKeys() {
		if c.changed(key) {
			given = append(given, key)
		}
	}
	unusedBy := map[string]int{}
	why := map[string]error{}
	for _, cfg := range cfgs {
		for _, p := range cfg.Unused(given) {
			unusedBy[p.Key]++
			why[p.Key] = p.Err
		}
	}
	for _, key := range given {
		if unusedBy[key] == len(cfgs) {
			return usagef("--%s %v", flagName(key), why[key])
		}
	}
	return nil
}

func (c *configFlags) changed(key string) bool { return c.changedFlag(flagName(key)) }

// changedFlag says whether flag name was given on the command line.
func (c *configFlags) changedFlag(name string) bool {
	if c.fs == nil {
		return false
	}
	f := c.fs.Lookup(name)
	return f != nil && f.Changed
}

// decodeSetting decodes one setting of a config file into its Config field.
func decodeSetting(n *yaml.Node, field reflect.Value, key string) *valueError {
	return decodeValue(n, field, key)
}

// byLine is the keys of a config file's settings in the order they are
// written, so that its errors are too.
func byLine(file map[string]yaml.Node) []string {
	keys := make([]string, 0, len(file))
	for k := range file {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(file[a].Line, file[b].Line) })
	return keys
}

// maxConfigSize bounds a --config file: a run's config.yaml is under 1 KB.
const maxConfigSize = 1 << 20

// readConfigFile parses a YAML mapping, decodes the extra keys and returns
// the others, refusing keys that are neither.
func readConfigFile(path string, extra map[string]any) (map[string]yaml.Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--config: %v", err)
	}
	defer f.Close()
	// Bounded: --config /dev/zero, or a dataset file passed by mistake,
	// must not be read into memory until the machine gives out.
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, usagef("--config: %v", err)
	}
	if len(data) > maxConfigSize {
		return nil, usagef("%s: larger than %d bytes; a config file is a few lines of settings (key: value)", path, maxConfigSize)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlSyntaxError(path, err)
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		return nil, usagef("%s:%d: a second YAML document; a config file holds one mapping", path, second.Line)
	}
	out := map[string]yaml.Node{}
	if len(doc.Content) == 0 {
		return out, nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, usagef("%s:%d: want a mapping of settings (key: value)", path, root.Line)
	}
	known := configKeys()
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if dst, ok := extra[k.Value]; ok {
			if e := decodeValue(v, reflect.ValueOf(dst).Elem(), k.Value); e != nil {
				return nil, usageError{e.at(path)}
			}
			continue
		}
		if !slices.Contains(known, k.Value) {
			all := append(known, keysOf(extra)...)
			return nil, usagef("%s:%d: unknown setting %q%s (known: %s)", path, k.Line, k.Value, suggest.Hint(k.Value, all), strings.Join(all, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, usagef("%s:%d: %q is set twice", path, k.Line, k.Value)
		}
		// A setting is reported at its key's line, where a block value
		// (normalize:, then its lines) starts; what is inside keeps its own.
		setting := *v
		setting.Line = k.Line
		out[k.Value] = setting
	}
	return out, nil
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// configKeys lists config.Config's YAML keys in field order.
func configKeys() []string {
	t := reflect.TypeFor[config.Config]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		keys = append(keys, yamlKey(t.Field(i)))
	}
	return keys
}

func yamlKey(f reflect.StructField) string {
	key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return key
}

// configField is the field of cfg with YAML key key.
func configField(cfg *config.Config, key string) (reflect.Value, bool) {
	v := reflect.ValueOf(cfg).Elem()
	for i := range v.NumField() {
		if yamlKey(v.Type().Field(i)) == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func modelNames() []string   { return models.Names() }
func datasetNames() []string { return datasets.Names() }
