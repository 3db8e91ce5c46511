package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/spf13/cobra"
)

// ModelsOptions are the flags of `cnntrain models`.
type ModelsOptions struct {
	Summary string // a model whose layer table to print
	Dataset string // the dataset it is built for
	Width   float64
	JSON    bool
}

// ModelInfo is one row of `cnntrain models`.
type ModelInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Parameters per dataset; absent where the model cannot take it.
	Parameters map[string]int `json:"parameters"`
	// Presets describe the notebook settings per dataset.
	Presets map[string]string `json:"presets"`
}

// ModelSummary is `cnntrain models --summary NAME --json`.
type ModelSummary struct {
	Model      string               `json:"model"`
	Dataset    string               `json:"dataset"`
	Class      string               `json:"class"`
	Input      string               `json:"input"`
	Layers     []graph.LayerSummary `json:"layers"`
	Parameters int                  `json:"parameters"`
}

func newModelsCommand(s Streams) *cobra.Command {
	opts := &ModelsOptions{}
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the models, their parameters and notebook presets, or one model's layers",
		Long: `Lists every model cnntrain trains: what it is, its number of trainable
parameters on each dataset it fits, and the notebook settings it trains with
there. --summary NAME prints that model's layer table for --dataset (layer,
output shape, parameters), like a Keras or Lightning summary.`,
		Example: `  cnntrain models
  cnntrain models --json
  cnntrain models --summary vgg16 --dataset cifar10
  cnntrain models --summary cnn --dataset mnist`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return RunModels(cmd.Context(), opts, s) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.Summary, "summary", "", "print the layer table of this model")
	f.StringVar(&opts.Dataset, "dataset", "", "the dataset the summary's model is built for (default: the first it fits)")
	f.Float64Var(&opts.Width, "width", 0, "vgg: channel multiplier of the summary's model")
	f.BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// RunModels lists the models or prints one model's layer table.
func RunModels(_ context.Context, o *ModelsOptions, s Streams) error {
	if o.Summary != "" {
		return o.summary(s)
	}
	if o.Dataset != "" || o.Width != 0 {
		return usagef("--dataset and --width go with --summary")
	}
	var rows []ModelInfo
	for _, name := range models.Names() {
		row := ModelInfo{Name: name, Description: models.Summary(name), Parameters: map[string]int{}, Presets: map[string]string{}}
		for _, ds := range datasets.Names() {
			info, _ := datasets.Lookup(ds)
			m, err := models.New(name, config.InputOf(info), models.Config{})
			if err != nil {
				continue
			}
			row.Parameters[ds] = m.NumParams()
			row.Presets[ds] = describePreset(config.Preset(name, ds))
		}
		rows = append(rows, row)
	}
	if o.JSON {
		return writeJSON(s.Out, rows)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\tdataset\tparameters\tpreset")
	for _, r := range rows {
		first := true
		for _, ds := range datasets.Names() {
			n, ok := r.Parameters[ds]
			if !ok {
				continue
			}
			name := ""
			if first {
				name, first = r.Name, false
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, ds, thousands(n), r.Presets[ds])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(s.Out)
	for _, r := range rows {
		fmt.Fprintf(s.Out, "%-6s %s\n", r.Name, r.Description)
	}
	return nil
}

// modelError is err from models.New, as a usage error where the flags
// asked for a model that cannot be built.
func modelError(err error) error {
	if errors.Is(err, models.ErrUnknownModel) || errors.Is(err, models.ErrIncompatible) || errors.Is(err, models.ErrBadConfig) {
		return usagef("%v", err)
	}
	return err
}

func (o *ModelsOptions) summary(s Streams) error {
	name := strings.ToLower(o.Summary)
	// The name first: with no --dataset an unknown model fits none, and
	// that is not what is wrong.
	if err := models.Known(name); err != nil {
		return usagef("%v", err)
	}
	ds := o.Dataset
	if ds == "" { // the first dataset the model fits
		var why error // why none fits: rather a bad option than a misfit
		for _, d := range datasets.Names() {
			info, _ := datasets.Lookup(d)
			_, err := models.New(name, config.InputOf(info), models.Config{Width: o.Width})
			if err == nil {
				ds, why = d, nil
				break
			}
			if why == nil || errors.Is(why, models.ErrIncompatible) {
				why = err
			}
		}
		if why != nil {
			return modelError(why)
		}
	}
	info, err := datasets.Lookup(ds)
	if err != nil {
		return usagef("--dataset: %v", err)
	}
	if o.Width != 0 {
		if p := (config.Config{Model: name, Dataset: ds}).Unused([]string{"width"}); len(p) > 0 {
			return usagef("--width %v", p[0].Err) // as train refuses it
		}
	}
	m, err := models.New(name, config.InputOf(info), models.Config{Width: o.Width})
	if err != nil {
		return modelError(err)
	}
	in := m.Input
	net, err := graph.Compile(m.Net, []int{1, in.C, in.H, in.W}, graph.NetOptions{})
	if err != nil {
		return err
	}
	layers, err := net.Summary()
	if err != nil {
		return err
	}
	sum := ModelSummary{Model: name, Dataset: ds, Class: m.Class, Input: in.String(), Layers: layers, Parameters: m.NumParams()}
	if o.JSON {
		return writeJSON(s.Out, sum)
	}
	fmt.Fprintf(s.Out, "%s on %s: %s, input %s\n\n", name, ds, m.Class, in)
	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\top\toutput shape\tparameters")
	for _, l := range layers {
		op := l.Op
		if op == l.Name {
			op = ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", l.Name, op, l.Output, thousands(l.Params))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "\ntrainable parameters: %s\n", thousands(sum.Parameters))
	return nil
}

// describePreset is a preset in one line: optimizer, epochs, batches, extras.
func describePreset(c config.Config) string {
	opt := fmt.Sprintf("%s lr %g", c.Optimizer, c.LR)
	if c.Momentum != 0 {
		opt += fmt.Sprintf(" momentum %g", c.Momentum)
	}
	s := fmt.Sprintf("%s, %d epoch(s), batch %d/%d", opt, c.Epochs, c.BatchSize, c.TestBatchSize)
	if c.Augment {
		s += ", crop+flip"
	}
	return s
}

// thousands writes n with thousands separators, as the README does.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
