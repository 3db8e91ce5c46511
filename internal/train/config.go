package train

// Config is the effective configuration of a training run: what the flags
// (and, later, a config file) resolved to. It is saved beside every
// checkpoint as config.yaml and inside checkpoint.json, so a run can be
// rebuilt and repeated.
type Config struct {
	Model         string  `yaml:"model" json:"model"`
	Dataset       string  `yaml:"dataset" json:"dataset"`
	Epochs        int     `yaml:"epochs" json:"epochs"`
	BatchSize     int     `yaml:"batch_size" json:"batch_size"`
	TestBatchSize int     `yaml:"test_batch_size" json:"test_batch_size"`
	LR            float64 `yaml:"lr" json:"lr"`
	Momentum      float64 `yaml:"momentum" json:"momentum"`
	Seed          uint64  `yaml:"seed" json:"seed"`
	// ShufflePixels applies a fixed pixel permutation, drawn from
	// PermutationSeed, to every training and test image.
	ShufflePixels   bool   `yaml:"shuffle_pixels" json:"shuffle_pixels"`
	PermutationSeed uint64 `yaml:"permutation_seed" json:"permutation_seed"`
	Hidden          int    `yaml:"hidden,omitempty" json:"hidden,omitempty"`
	Features        int    `yaml:"features,omitempty" json:"features,omitempty"`
}
