package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"

	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/plots"
	"github.com/cnntrain/cnntrain/internal/train"
	"github.com/spf13/cobra"
)

// ShuffleOptions are the flags of `cnntrain shuffle-experiment`.
type ShuffleOptions struct {
	Config configFlags // the notebook's settings; model and pixel shuffling are set per run
	Seeds  int
	JSON   bool
	Data   dataOptions
	// Plot is where to draw the bar chart of the four accuracies; "none"
	// or "" for nowhere.
	Plot string
}

// ShuffleRow is one model's results: accuracies in percent, one per seed.
type ShuffleRow struct {
	Model    string       `json:"model"` // "fc" or "cnn", as the notebook calls them
	Params   int          `json:"parameters"`
	Plain    []float64    `json:"plain"`
	Permuted []float64    `json:"permuted"`
	Stats    ShuffleStats `json:"stats"`
	// ImagesPerSecond is the mean training speed over all runs of the model.
	ImagesPerSecond float64 `json:"train_images_per_second"`
}

// ShuffleStats summarises a row over seeds.
type ShuffleStats struct {
	PlainMean      float64 `json:"plain_mean"`
	PlainStd       float64 `json:"plain_std"`
	PlainMedian    float64 `json:"plain_median"`
	PermutedMean   float64 `json:"permuted_mean"`
	PermutedStd    float64 `json:"permuted_std"`
	PermutedMedian float64 `json:"permuted_median"`
	Change         float64 `json:"change"` // PermutedMean − PlainMean
}

// ShuffleReport is what shuffle-experiment prints with --json.
type ShuffleReport struct {
	Dataset string   `json:"dataset"`
	Seeds   []uint64 `json:"seeds"`
	// Config holds the settings both models share; each row names its model.
	Config config.Config `json:"config"`
	Rows   []ShuffleRow  `json:"rows"`
}

func newShuffleCommand(s Streams) *cobra.Command {
	opts := &ShuffleOptions{Seeds: 1, Plot: "shuffle-experiment.png"}
	cmd := &cobra.Command{
		Use:   "shuffle-experiment",
		Short: "Train FC and CNN on plain and on pixel-permuted images and compare",
		Long: `The notebook's experiment: a fully connected network does not care where pixels
are, a CNN does. Both models train on plain images and on images whose pixels
go through one fixed random permutation (the same for both models, for
training and test). With --seeds N, seeds --seed … --seed+N-1 each draw their
own weights, minibatch order and permutation; the table shows mean ± std.
Both models take the same flags: --hidden is the FC network's width and
--features the CNN's; a flag that neither model reads is refused.`,
		Example: `  cnntrain shuffle-experiment
  cnntrain shuffle-experiment --seeds 3
  cnntrain shuffle-experiment --config configs/shuffle-experiment.yaml --json > shuffle.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return RunShuffle(cmd.Context(), opts, s)
		},
	}
	f := cmd.Flags()
	opts.Config.addFlags(f, "model", "shuffle_pixels", "permutation_seed", "augment", "bn_batch_stats_at_test", "width", "train_subset")
	f.IntVar(&opts.Seeds, "seeds", opts.Seeds, "number of seeds to repeat the experiment with")
	f.BoolVar(&opts.JSON, "json", false, "print the results as one JSON object")
	f.StringVar(&opts.Plot, "plot", opts.Plot, "bar chart of the four accuracies with their spread across seeds (none or \"\": nowhere)")
	opts.Data.addFlags(f)
	return cmd
}

// shuffleModels are the notebook's two contestants, by its names.
var shuffleModels = []struct{ label, model string }{{"fc", "mlp"}, {"cnn", "cnn"}}

// RunShuffle runs the experiment and prints the table.
func RunShuffle(ctx context.Context, o *ShuffleOptions, s Streams) error {
	fileSeeds := 0
	base, err := o.Config.resolve(map[string]any{"seeds": &fileSeeds})
	if err != nil {
		return err
	}
	if fileSeeds != 0 && !o.Config.changed("seeds") {
		o.Seeds = fileSeeds
	}
	if o.Seeds < 1 {
		return usagef("--seeds must be at least 1, got %d", o.Seeds)
	}
	// Both models train with the same flags: --hidden is the FC network's
	// and --features the CNN's, so only a flag neither reads is refused.
	each := make([]config.Config, len(shuffleModels))
	for i, sm := range shuffleModels {
		each[i] = base
		each[i].Model = sm.model
	}
	if err := o.Config.refuseUnused(each...); err != nil {
		return err
	}
	for _, cfg := range each {
		if err := cfg.Check(); err != nil {
			return err
		}
	}
	data, err := o.Data.load(ctx, base.Dataset, s.Err)
	if err != nil {
		return err
	}
	report := ShuffleReport{Dataset: base.Dataset, Config: base}
	report.Config.Model = "" // the rows name theirs
	rows := make([]ShuffleRow, len(shuffleModels))
	var speed = make([]float64, len(shuffleModels))
	for i := range o.Seeds {
		seed := base.Seed + uint64(i)
		report.Seeds = append(report.Seeds, seed)
		for m, sm := range shuffleModels {
			for _, shuffled := range []bool{false, true} {
				cfg := base
				cfg.Model, cfg.Seed, cfg.ShufflePixels, cfg.PermutationSeed = sm.model, seed, shuffled, seed
				p, err := train.Prepare(cfg, data)
				if err != nil {
					return err
				}
				res, err := train.Run(ctx, p, train.Logs{Progress: io.Discard, Results: io.Discard})
				if err != nil {
					return err
				}
				acc := res.Metrics.Accuracy()
				rows[m].Model, rows[m].Params = sm.label, p.Model.NumParams()
				kind := "plain"
				if shuffled {
					kind = "permuted"
					rows[m].Permuted = append(rows[m].Permuted, acc)
				} else {
					rows[m].Plain = append(rows[m].Plain, acc)
				}
				speed[m] += res.Throughput.ImagesPerSecond()
				fmt.Fprintf(s.Err, "seed %d  %-3s %-8s  accuracy %.2f %%  loss %.4f  (%.0f images/s)\n",
					seed, sm.label, kind, acc, res.Metrics.Loss, res.Throughput.ImagesPerSecond())
			}
		}
	}
	for m := range rows {
		rows[m].Stats = summarize(rows[m].Plain, rows[m].Permuted)
		rows[m].ImagesPerSecond = speed[m] / float64(2*o.Seeds)
	}
	report.Rows = rows
	return o.finish(report, s)
}

// finish draws and prints the experiment's results; a picture that cannot
// be written fails it after the table is printed, so the training is not
// lost.
func (o *ShuffleOptions) finish(report ShuffleReport, s Streams) error {
	var picture error
	if !noPicture(o.Plot) {
		picture = drawn(o.Plot, plots.WriteBars(o.Plot, shuffleTitle(report), "test accuracy (%)", shuffleBars(report)), s.Err)
	}
	if o.JSON {
		return errors.Join(writeJSON(s.Out, report), picture)
	}
	return errors.Join(writeShuffleTable(s.Out, report), picture)
}

// shuffleBars are the four accuracies: each model on plain and on permuted
// pixels, mean and standard deviation over the seeds.
func shuffleBars(r ShuffleReport) []plots.Bar {
	var bars []plots.Bar
	for _, row := range r.Rows {
		bars = append(bars,
			plots.Bar{Label: row.Model + " plain", Mean: row.Stats.PlainMean, Std: row.Stats.PlainStd},
			plots.Bar{Label: row.Model + " permuted", Mean: row.Stats.PermutedMean, Std: row.Stats.PermutedStd})
	}
	return bars
}

func shuffleTitle(r ShuffleReport) string {
	return fmt.Sprintf("%s, plain vs permuted pixels (%d seed(s), ± std)", r.Dataset, len(r.Seeds))
}

func summarize(plain, permuted []float64) ShuffleStats {
	st := ShuffleStats{}
	st.PlainMean, st.PlainStd = meanStd(plain)
	st.PermutedMean, st.PermutedStd = meanStd(permuted)
	st.PlainMedian, st.PermutedMedian = median(plain), median(permuted)
	st.Change = st.PermutedMean - st.PlainMean
	return st
}

// meanStd returns the mean and the sample standard deviation (n−1), as
// numpy's std(ddof=1) and torch.std do.
func meanStd(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)-1))
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func writeShuffleTable(w io.Writer, r ShuffleReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tparameters\tplain\tpermuted\tchange\t")
	for _, row := range r.Rows {
		st := row.Stats
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%+.2f\t\n", row.Model, row.Params,
			formatAcc(st.PlainMean, st.PlainStd, len(row.Plain)), formatAcc(st.PermutedMean, st.PermutedStd, len(row.Permuted)), st.Change)
	}
	return tw.Flush()
}

func formatAcc(mean, std float64, n int) string {
	if n < 2 {
		return fmt.Sprintf("%.2f %%", mean)
	}
	return fmt.Sprintf("%.2f ± %.2f %%", mean, std)
}
