package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/train"
	"github.com/spf13/cobra"
)

// TrainOptions are the flags of `cnntrain train`.
type TrainOptions struct {
	train.Config
	Data dataOptions
	// PermutationSeedSet says --permutation-seed was given; otherwise the
	// permutation is drawn from --seed.
	PermutationSeedSet bool
	RunDir             string
	RunsRoot           string
	JSON               bool
}

// DefaultConfig is the MNIST notebook's settings.
func DefaultConfig() train.Config {
	return train.Config{
		Model: "mlp", Dataset: "mnist", Epochs: 1, BatchSize: 64, TestBatchSize: 1000,
		LR: 0.01, Momentum: 0.5, Seed: 0,
	}
}

func newTrainCommand(s Streams) *cobra.Command {
	opts := &TrainOptions{Config: DefaultConfig(), RunsRoot: "runs"}
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model and save it to a run folder",
		Example: `  cnntrain train --model mlp --dataset mnist
  cnntrain train --model cnn --dataset mnist --epochs 3 --seed 1
  cnntrain train --model cnn --shuffle-pixels --permutation-seed 7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.PermutationSeedSet = cmd.Flags().Changed("permutation-seed")
			return RunTrain(cmd.Context(), opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Model, "model", opts.Model, "model: "+strings.Join(models.Names(), ", "))
	f.StringVar(&opts.Dataset, "dataset", opts.Dataset, "dataset: mnist, fashion-mnist")
	f.IntVar(&opts.Epochs, "epochs", opts.Epochs, "passes over the training set")
	f.IntVar(&opts.BatchSize, "batch-size", opts.BatchSize, "training minibatch size")
	f.IntVar(&opts.TestBatchSize, "test-batch-size", opts.TestBatchSize, "evaluation batch size")
	f.Float64Var(&opts.LR, "lr", opts.LR, "learning rate")
	f.Float64Var(&opts.Momentum, "momentum", opts.Momentum, "SGD momentum")
	f.Uint64Var(&opts.Seed, "seed", opts.Seed, "seed of the initial weights and of the minibatch order")
	f.BoolVar(&opts.ShufflePixels, "shuffle-pixels", false, "apply one fixed random permutation to the pixels of every image")
	f.Uint64Var(&opts.PermutationSeed, "permutation-seed", 0, "seed of the pixel permutation (default: --seed)")
	f.IntVar(&opts.Hidden, "hidden", 0, "mlp: hidden layer width (default 8)")
	f.IntVar(&opts.Features, "features", 0, "cnn: feature maps per convolution (default 6)")
	f.StringVar(&opts.RunDir, "run-dir", "", "folder to save the run in (default runs/<model>-<dataset>-<time>)")
	f.BoolVar(&opts.JSON, "json", false, "print the run's checkpoint.json on stdout when done")
	opts.Data.addFlags(f)
	return cmd
}

// RunTrain trains, evaluates after each epoch and saves the run folder.
func RunTrain(ctx context.Context, opts *TrainOptions, s Streams) error {
	cfg := opts.Config
	if !opts.PermutationSeedSet {
		cfg.PermutationSeed = cfg.Seed
	}
	if err := cfg.Check(); err != nil {
		return err
	}
	// Refuse an existing --run-dir before spending time on training.
	runDir := opts.RunDir
	if runDir != "" {
		if _, err := os.Stat(runDir); err == nil {
			return usagef("--run-dir %s already exists; choose a new folder", runDir)
		}
	}
	data, err := opts.Data.load(ctx, cfg.Dataset, s.Err)
	if err != nil {
		return err
	}
	p, err := train.Prepare(cfg, data)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "Number of parameters: %d\n", p.Model.NumParams())
	results := s.Out
	if opts.JSON {
		results = s.Err
	}
	res, err := train.Run(ctx, p, data.Info.Classes, train.Logs{Progress: s.Err, Results: results})
	if err != nil {
		return err
	}
	if runDir == "" {
		runDir = uniqueRunDir(opts.RunsRoot, cfg)
	}
	info := res.Info()
	if err := train.SaveRun(runDir, p.Model, info); err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "Trained %d images in %.1f s (%.0f images/s). Saved to %s\n",
		res.Throughput.Images, res.Throughput.Duration.Seconds(), res.Throughput.ImagesPerSecond(), runDir)
	if opts.JSON {
		return writeJSON(s.Out, info)
	}
	return nil
}

// uniqueRunDir names a run after what it trained and when.
func uniqueRunDir(root string, cfg train.Config) string {
	name := cfg.Model + "-" + cfg.Dataset
	if cfg.ShufflePixels {
		name += "-shuffled"
	}
	base := filepath.Join(root, name+"-"+time.Now().Format("20060102-150405"))
	dir := base
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return dir
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
