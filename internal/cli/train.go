package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/train"
	"github.com/spf13/cobra"
)

// TrainOptions are the flags of `cnntrain train`.
type TrainOptions struct {
	Config   configFlags
	Data     dataOptions
	RunDir   string
	RunsRoot string
	JSON     bool
}

func newTrainCommand(s Streams) *cobra.Command {
	opts := &TrainOptions{RunsRoot: "runs"}
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model and save it to a run folder",
		Long: `Trains a model with its notebook's settings (see 'Notebook presets' in the README),
prints the notebook's log lines, evaluates on the test set and saves a run
folder with the weights (PyTorch state_dict names), checkpoint.json and
config.yaml. Settings come from the notebook preset of the model and dataset,
then --config, then flags.`,
		Example: `  cnntrain train --model mlp --dataset mnist
  cnntrain train --model cnn --dataset mnist --shuffle-pixels
  cnntrain train --model cnn --dataset cifar10
  cnntrain train --model vgg16 --dataset cifar10 --width 0.25 --epochs 2
  cnntrain train --config configs/cifar10-vgg-notebook.yaml --epochs 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return RunTrain(cmd.Context(), opts, s) },
	}
	f := cmd.Flags()
	opts.Config.addFlags(f)
	f.StringVar(&opts.RunDir, "run-dir", "", "folder to save the run in (default runs/<model>-<dataset>-<time>)")
	f.BoolVar(&opts.JSON, "json", false, "print the run's checkpoint.json on stdout when done")
	opts.Data.addFlags(f)
	return cmd
}

// RunTrain trains, evaluates and saves the run folder.
func RunTrain(ctx context.Context, opts *TrainOptions, s Streams) error {
	cfg, err := opts.Config.resolve(nil)
	if err != nil {
		return err
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
	res, err := train.Run(ctx, p, train.Logs{Progress: s.Err, Results: results})
	if err != nil {
		return err
	}
	if runDir == "" {
		runDir = uniqueRunDir(opts.RunsRoot, cfg)
	}
	info := res.Info()
	info.CnntrainBuild = Version()
	optState, err := res.OptimizerState()
	if err != nil {
		return err
	}
	if err := checkpoint.SaveRun(runDir, p.Model, optState, info); err != nil {
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
func uniqueRunDir(root string, cfg config.Config) string {
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
