package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/plots"
	"github.com/cnntrain/cnntrain/internal/train"
	"github.com/spf13/cobra"
)

// ShowOptions are the flags of `cnntrain show`.
type ShowOptions struct {
	// Config resolves the dataset and the pixel permutation exactly as a
	// training run does (--permutation-seed defaults to --seed).
	Config configFlags
	Count  int
	Out    string
	Data   dataOptions
}

// showKeys are the settings that decide what show draws.
var showKeys = []string{"dataset", "seed", "shuffle_pixels", "permutation_seed"}

func newShowCommand(s Streams) *cobra.Command {
	opts := &ShowOptions{Count: 20, Out: SamplesPicture}
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Draw the first training images with their classes, as the notebooks do",
		Long: `Draws the first --count training images of a dataset into a labelled grid
(samples.png: the MNIST notebook's 4x5 grid of digits by default) from their
raw pixels, enlarged so that a 28x28 digit is legible, and prints their
classes, a line per row of the grid. With --shuffle-pixels it draws beside
them the same images after the fixed pixel permutation a run with the same
--seed (or --permutation-seed) trains on: what the shuffle experiment asks a
network to learn from.`,
		Example: `  cnntrain show
  cnntrain show --dataset cifar10 --count 8
  cnntrain show --shuffle-pixels --seed 1 --out shuffled.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return RunShow(cmd.Context(), opts, s) },
	}
	f := cmd.Flags()
	opts.Config.addFlags(f, exceptKeys(showKeys)...)
	f.Lookup("seed").Usage = "the run's seed: the pixel permutation's seed unless --permutation-seed is given"
	f.IntVar(&opts.Count, "count", opts.Count, fmt.Sprintf("how many training images to draw, at most %d", plots.MaxGridImages))
	f.StringVar(&opts.Out, "out", opts.Out, "where to draw the picture")
	opts.Data.addFlags(f)
	return cmd
}

// exceptKeys is every configuration key but keep.
func exceptKeys(keep []string) []string {
	var omit []string
	for _, k := range configKeys() {
		if !slices.Contains(keep, k) {
			omit = append(omit, k)
		}
	}
	return omit
}

// RunShow draws the first training images of a dataset and prints their
// classes.
func RunShow(ctx context.Context, o *ShowOptions, s Streams) error {
	if o.Count < 1 || o.Count > plots.MaxGridImages {
		return usagef("--count must be from 1 to %d, got %d", plots.MaxGridImages, o.Count)
	}
	if o.Out == "" {
		return usagef("--out must name a file")
	}
	cfg, err := o.Config.resolve(nil)
	if err != nil {
		return err
	}
	if err := o.Config.refuseUnused(cfg); err != nil {
		return err // --permutation-seed without --shuffle-pixels
	}
	data, err := o.Data.load(ctx, cfg.Dataset, s.Err)
	if err != nil {
		return err
	}
	grid, labels, err := sampleGrid(data, o.Count, cfg.Permutation(data.Info), cfg.PermutationSeed)
	if err != nil {
		return err
	}
	picture := drawn(o.Out, plots.WriteGrid(o.Out, grid), s.Err)
	return errors.Join(writeLabelRows(s.Out, data.Info.NotebookClasses(), labels, plots.GridColumns(len(labels))), picture)
}

// sampleGrid is the picture of the first n training images (fewer if the
// split is smaller) and their labels; with perm, a second panel holds the
// same images with their pixels permuted as training permutes them.
func sampleGrid(data train.Data, n int, perm []int, permSeed uint64) (plots.Grid, []int, error) {
	split, classes := data.Train, data.Info.NotebookClasses()
	n = min(n, split.N)
	size := split.ImageSize()
	plain := plots.Panel{Tiles: make([]plots.Tile, n)}
	labels := make([]int, n)
	for i := range n {
		labels[i] = int(split.Labels[i])
		plain.Tiles[i] = plots.Tile{Pixels: split.Images[i*size : (i+1)*size], Lines: []string{className(classes, labels[i])}}
	}
	g := plots.Grid{Title: fmt.Sprintf("%s: the first %d training images", data.Info.Name, n), C: split.C, H: split.H, W: split.W,
		Panels: []plots.Panel{plain}}
	if perm == nil {
		return g, labels, nil
	}
	g.Panels[0].Title = "as stored"
	moved := plots.Panel{Title: fmt.Sprintf("pixels permuted (seed %d), as the run sees them", permSeed), Tiles: slices.Clone(plain.Tiles)}
	pixels := make([]uint8, n*size)
	for i := range moved.Tiles {
		t := &moved.Tiles[i]
		dst := pixels[i*size : (i+1)*size]
		if err := datasets.PermuteImage(dst, t.Pixels, perm); err != nil {
			return plots.Grid{}, nil, err
		}
		t.Pixels = dst
	}
	g.Panels = append(g.Panels, moved)
	return g, labels, nil
}

// className is class c's name, or its number where the dataset names none.
func className(classes []string, c int) string {
	if c >= 0 && c < len(classes) {
		return classes[c]
	}
	return fmt.Sprint(c)
}

// labelRow is classes as the notebooks print them: ' '.join('%5s' % c).
func labelRow(classes []string, labels []int) string {
	names := make([]string, len(labels))
	for i, l := range labels {
		names[i] = fmt.Sprintf("%5s", className(classes, l))
	}
	return strings.Join(names, " ")
}

// writeLabelRows prints labels' classes a row of the picture to a line.
func writeLabelRows(w io.Writer, classes []string, labels []int, perRow int) error {
	for start := 0; start < len(labels); start += perRow {
		if _, err := fmt.Fprintln(w, labelRow(classes, labels[start:min(start+perRow, len(labels))])); err != nil {
			return err
		}
	}
	return nil
}
