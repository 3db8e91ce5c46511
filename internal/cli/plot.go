package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/evaluate"
	"github.com/cnntrain/cnntrain/internal/plots"
	"github.com/spf13/cobra"
)

// Picture file names.
const (
	LossPicture        = "loss.png"
	ConfusionPicture   = "confusion.png"
	SamplesPicture     = "samples.png"
	PredictionsPicture = "predictions.png"
)

// noPicture is whether a --plot value asks for no picture: "none", or
// empty. eval's flag defaults to "" (beside the checkpoint), so eval
// turns a --plot "" the user typed into "none" before asking.
func noPicture(plot string) bool { return plot == "" || plot == "none" }

// PlotOptions are the flags of `cnntrain plot`.
type PlotOptions struct {
	Runs []string
	// Out is the overlay of several runs' curves.
	Out string
}

func newPlotCommand(s Streams) *cobra.Command {
	opts := &PlotOptions{}
	cmd := &cobra.Command{
		Use:   "plot RUN...",
		Short: "Redraw a run folder's pictures, or overlay several runs' curves",
		Long: `Redraws loss.png (training loss per logged minibatch, test loss per epoch, and
test accuracy on its own axis, against epochs) from each run folder's
metrics.jsonl, and confusion.png from its checkpoint.json's test results. With
several runs it also draws their curves together into --out.`,
		Example: `  cnntrain plot runs/cnn-cifar10-20261127-001500
  cnntrain plot runs/cnn-mnist-* --out comparison.png`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("plot needs the run folders to redraw (folders train wrote, holding checkpoint.json and metrics.jsonl): cnntrain plot RUN...")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Runs = args
			return RunPlot(cmd.Context(), opts, s)
		},
	}
	cmd.Flags().StringVar(&opts.Out, "out", "runs-comparison.png", "picture of several runs' curves together")
	return cmd
}

// RunPlot redraws the pictures of opts.Runs.
func RunPlot(_ context.Context, opts *PlotOptions, s Streams) error {
	var all []plots.Curves
	for _, dir := range opts.Runs {
		// plot reads a folder's metrics.jsonl beside its checkpoint.json:
		// a file, even the checkpoint.json, is not what it needs.
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			return checkpoint.WrongKind(dir, checkpoint.DetectKind(dir), "a run folder")
		}
		curves, err := redraw(dir, s.Err)
		if err != nil {
			return err
		}
		all = append(all, curves)
	}
	if len(all) > 1 {
		if err := drawn(opts.Out, plots.WriteLoss(opts.Out, all...), s.Err); err != nil {
			return err
		}
	}
	return nil
}

// redraw draws a run folder's loss.png and confusion.png and returns its
// curves. It holds the folder meanwhile, removing what a process killed
// while drawing there left (Tidy).
func redraw(dir string, msgs io.Writer) (plots.Curves, error) {
	info, _, err := checkpoint.LoadRunInfo(dir)
	if err != nil {
		return plots.Curves{}, err
	}
	if err := info.CheckTrained(dir); err != nil {
		return plots.Curves{}, err
	}
	curves, err := runCurves(dir, info)
	if err != nil {
		return plots.Curves{}, err
	}
	release, err := tidy(dir, msgs)
	if err != nil {
		return plots.Curves{}, err
	}
	defer release()
	loss := filepath.Join(dir, LossPicture)
	if err := drawn(loss, plots.WriteLoss(loss, curves), msgs); err != nil {
		return plots.Curves{}, err
	}
	if m := info.Metrics; m != nil && len(m.Confusion) > 0 {
		path := filepath.Join(dir, ConfusionPicture)
		if err := drawn(path, plots.WriteConfusion(path, confusionTitle(dir, m.Accuracy()), classNames(m.PerClass), m.Confusion), msgs); err != nil {
			return plots.Curves{}, err
		}
	}
	return curves, nil
}

// tidy holds a run folder a command draws into and says what a dead
// process's temporary files it removed (checkpoint.Tidy).
func tidy(dir string, msgs io.Writer) (release func(), err error) {
	cleaned, release, err := checkpoint.Tidy(dir)
	if err != nil {
		return nil, err
	}
	if n := len(cleaned); n > 0 {
		fmt.Fprintf(msgs, "Removed %d temporary file(s) a dead process left in %s\n", n, dir)
	}
	return release, nil
}

// runCurves reads a run folder's metrics.jsonl as curves against epochs.
func runCurves(dir string, info checkpoint.RunInfo) (plots.Curves, error) {
	recs, err := checkpoint.ReadMetrics(filepath.Join(dir, checkpoint.MetricsFile))
	if err != nil {
		return plots.Curves{}, err
	}
	return plots.CurvesOf(filepath.Base(filepath.Clean(dir)), recs, imagesPerEpoch(info)), nil
}

// imagesPerEpoch is how many images a run trains on per epoch.
func imagesPerEpoch(info checkpoint.RunInfo) int {
	n := 0
	if ds, err := datasets.Lookup(info.Config.Dataset); err == nil {
		n = ds.TrainSize
	}
	if sub := info.Config.TrainSubset; sub > 0 && (n == 0 || sub < n) {
		n = sub
	}
	return n
}

// drawLoss redraws a run folder's loss.png; a failure is reported, not
// fatal, since the run itself is saved.
func drawLoss(dir string, msgs io.Writer) func() error {
	return func() error {
		info, _, err := checkpoint.LoadRunInfo(dir)
		if err == nil {
			var curves plots.Curves
			if curves, err = runCurves(dir, info); err == nil {
				err = plots.WriteLoss(filepath.Join(dir, LossPicture), curves)
			}
		}
		if err != nil {
			fmt.Fprintf(msgs, "cnntrain: warning: %s not drawn: %v\n", LossPicture, err)
		}
		return nil
	}
}

func confusionTitle(what string, accuracy float64) string {
	return fmt.Sprintf("%s: %.2f %% correct", filepath.Base(filepath.Clean(what)), accuracy)
}

func classNames(per []evaluate.ClassMetrics) []string {
	names := make([]string, len(per))
	for i, c := range per {
		names[i] = c.Class
	}
	return names
}
