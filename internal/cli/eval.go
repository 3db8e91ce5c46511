package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/device"
	"github.com/cnntrain/cnntrain/internal/evaluate"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/plots"
	"github.com/cnntrain/cnntrain/internal/train"
	"github.com/cnntrain/cnntrain/internal/vm"
	"github.com/spf13/cobra"
)

// EvalOptions are the flags of `cnntrain eval`.
type EvalOptions struct {
	Checkpoint string
	BatchSize  int
	JSON       bool
	Data       dataOptions
	// For a bare state_dict (a .safetensors file without checkpoint.json
	// beside it, e.g. saved from PyTorch): what it is.
	Model, Dataset  string
	Hidden          int
	Features        int
	Width           float64
	ShufflePixels   bool
	PermutationSeed uint64
	// BNBatchStats evaluates BatchNorm with batch statistics (as the VGG
	// notebook did); the default is the run's own setting.
	BNBatchStats bool
	// BNBatchStatsSet says the flag was given: then it overrides the run's
	// setting either way (--bn-batch-stats-at-test=false included).
	BNBatchStatsSet bool
	// Device is where to evaluate: auto, cpu, cuda or cuda:N.
	Device string
	// Plot is where to draw the confusion matrix: "" beside the
	// checkpoint, "none" nowhere (as is --plot "" on the command line).
	// predictions.png goes beside it.
	Plot string
	// Show draws the first Show test images with their true and predicted
	// classes and prints both rows of classes, as the notebooks do.
	Show int
	// bareFlags are the flags given that describe a bare state_dict
	// (--model, --hidden …): refused for a checkpoint that describes
	// itself, rather than silently ignored.
	bareFlags []string
}

// EvalReport is what eval prints with --json.
type EvalReport struct {
	Checkpoint string  `json:"checkpoint"`
	Model      string  `json:"model"`
	Dataset    string  `json:"dataset"`
	Accuracy   float64 `json:"accuracy"`
	evaluate.Metrics
}

func newEvalCommand(s Streams) *cobra.Command {
	opts := &EvalOptions{}
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate a saved model on its test set",
		Long: `Rebuilds the model of a run folder (or of a checkpoint.json or model.safetensors
in one), reapplies its normalization and pixel permutation, and prints the test
loss, accuracy, per-class accuracy and the confusion matrix (rows: true class,
columns: predicted), which it also draws as confusion.png. --show N draws the
first N test images with their true and predicted classes (mistakes in red)
into predictions.png beside it and prints the notebooks' two rows of classes
(GroundTruth, Predicted). A bare state_dict (safetensors, such as one saved
from PyTorch) needs --model and --dataset.`,
		Example: `  cnntrain eval --checkpoint runs/cnn-mnist-20261126-101500
  cnntrain eval --checkpoint runs/cnn-mnist-20261126-101500 --json
  cnntrain eval --checkpoint runs/cnn-cifar10-20261127-001500 --show 8
  cnntrain eval --checkpoint from_pytorch.safetensors --model cnn --dataset mnist`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.BNBatchStatsSet = cmd.Flags().Changed("bn-batch-stats-at-test")
			for _, name := range []string{"model", "dataset", "hidden", "features", "width", "shuffle-pixels", "permutation-seed"} {
				if cmd.Flags().Changed(name) {
					opts.bareFlags = append(opts.bareFlags, name)
				}
			}
			if cmd.Flags().Changed("plot") && noPicture(opts.Plot) {
				opts.Plot = "none" // --plot "" too, as shuffle-experiment takes it
			}
			return RunEval(cmd.Context(), opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Checkpoint, "checkpoint", "", "run folder, checkpoint.json or .safetensors file (required)")
	f.IntVar(&opts.BatchSize, "batch-size", 0, "evaluation batch size (default: the run's test batch size, so results match its training log)")
	f.BoolVar(&opts.JSON, "json", false, "print the results as one JSON object")
	f.StringVar(&opts.Model, "model", "", "bare state_dict only: model ("+strings.Join(models.Names(), ", ")+")")
	f.StringVar(&opts.Dataset, "dataset", "", "bare state_dict only: dataset")
	f.IntVar(&opts.Hidden, "hidden", 0, "bare state_dict only: mlp hidden width")
	f.IntVar(&opts.Features, "features", 0, "bare state_dict only: cnn feature maps")
	f.Float64Var(&opts.Width, "width", 0, "bare state_dict only: vgg channel multiplier")
	f.BoolVar(&opts.BNBatchStats, "bn-batch-stats-at-test", false, "evaluate BatchNorm with batch statistics instead of the running ones")
	f.BoolVar(&opts.ShufflePixels, "shuffle-pixels", false, "bare state_dict only: the model was trained on permuted pixels")
	f.Uint64Var(&opts.PermutationSeed, "permutation-seed", 0, "bare state_dict only: seed of that permutation")
	f.StringVar(&opts.Device, "device", "auto", "where to evaluate: auto (a working GPU, else the CPU), cpu, cuda or cuda:N")
	f.StringVar(&opts.Plot, "plot", "", "where to draw the confusion matrix (default: confusion.png beside the checkpoint; none or \"\": nowhere)")
	f.IntVar(&opts.Show, "show", 0, fmt.Sprintf("draw the first N test images with their true and predicted classes into predictions.png beside the confusion matrix and print both rows of classes (at most %d; the notebooks show 8)", plots.MaxGridImages))
	opts.Data.addFlags(f)
	return cmd
}

// evalTarget is a checkpoint resolved to what eval needs.
type evalTarget struct {
	cfg       config.Config
	normalize *datasets.Normalize // nil: the dataset's default
	weights   string
	dataDir   string // the run's data folder, "" if unknown
	// infoFile is the checkpoint.json the model is described by; "" for a
	// bare state_dict described by flags.
	infoFile string
}

func (o *EvalOptions) resolve() (evalTarget, error) {
	if o.Checkpoint == "" {
		return evalTarget{}, usagef("--checkpoint is required")
	}
	st, err := os.Stat(o.Checkpoint)
	if err != nil {
		return evalTarget{}, fmt.Errorf("checkpoint: %w", err)
	}
	infoPath := o.Checkpoint
	// A file is weights or checkpoint.json by what it holds, whatever its
	// name says (a state_dict saved as model.bin is still weights); a
	// run's other files are called what they are. A file of no kind known
	// is taken for weights, whose reader says what is wrong with it.
	isWeights := false
	if !st.IsDir() {
		switch kind := checkpoint.DetectKind(o.Checkpoint); kind {
		case checkpoint.KindWeights, checkpoint.KindUnknown:
			isWeights = true
		case checkpoint.KindRunInfo:
		default:
			return evalTarget{}, checkpoint.WrongKind(o.Checkpoint, kind, "a model's weights or a run's "+checkpoint.InfoFile)
		}
	}
	if isWeights {
		infoPath = filepath.Join(filepath.Dir(o.Checkpoint), checkpoint.InfoFile)
		if _, err := os.Stat(infoPath); err != nil {
			return o.bareTarget()
		}
	}
	given := o.bareFlags
	if given == nil { // called without the command line
		for name, set := range map[string]bool{"model": o.Model != "", "dataset": o.Dataset != ""} {
			if set {
				given = append(given, name)
			}
		}
		slices.Sort(given)
	}
	if len(given) > 0 {
		return evalTarget{}, usagef("--%s only describe a bare .safetensors file; %s describes its own model", strings.Join(given, ", --"), o.Checkpoint)
	}
	info, weights, err := checkpoint.LoadRunInfo(infoPath)
	if err != nil {
		return evalTarget{}, err
	}
	// A bad value in the file is the file's fault, not the command line's:
	// reported as a bad checkpoint naming it, not as a usage error.
	file := checkpoint.InfoPath(infoPath)
	if err := info.Check(file); err != nil {
		return evalTarget{}, err
	}
	if err := info.CheckTrained(infoPath); err != nil {
		return evalTarget{}, err
	}
	if isWeights {
		weights = o.Checkpoint
	}
	t := evalTarget{cfg: info.Config, weights: weights, dataDir: info.DataDir, infoFile: file}
	// A checkpoint.json that records no normalization (written by hand
	// for a PyTorch state_dict, say) gets the configuration's, as
	// torch_eval.py does, rather than none at all.
	if len(info.Normalize.Mean) > 0 {
		t.normalize = &datasets.Normalize{Mean: info.Normalize.Mean, Std: info.Normalize.Std}
	}
	return t, nil
}

func (o *EvalOptions) bareTarget() (evalTarget, error) {
	if o.Model == "" || o.Dataset == "" {
		return evalTarget{}, usagef("%s is a bare state_dict with no %s beside it: say what it is with --model and --dataset", o.Checkpoint, checkpoint.InfoFile)
	}
	cfg := config.Preset(o.Model, o.Dataset)
	cfg.Hidden, cfg.Features, cfg.Width = o.Hidden, o.Features, o.Width
	cfg.ShufflePixels, cfg.PermutationSeed = o.ShufflePixels, o.PermutationSeed
	if err := cfg.Check(); err != nil {
		return evalTarget{}, err
	}
	return evalTarget{cfg: cfg, weights: o.Checkpoint}, nil
}

// refuseUnused refuses a flag given that the model evaluated never reads
// (--bn-batch-stats-at-test of a net without BatchNorm, --width of a bare
// mlp, --permutation-seed without --shuffle-pixels), as train does.
func (o *EvalOptions) refuseUnused(cfg config.Config) error {
	var keys []string
	for _, name := range o.bareFlags {
		keys = append(keys, strings.ReplaceAll(name, "-", "_"))
	}
	if o.BNBatchStatsSet {
		keys = append(keys, "bn_batch_stats_at_test")
	}
	if p := cfg.Unused(keys); len(p) > 0 {
		return usagef("--%s %v", flagName(p[0].Key), p[0].Err)
	}
	return nil
}

// RunEval evaluates a checkpoint on its dataset's test set.
func RunEval(ctx context.Context, o *EvalOptions, s Streams) error {
	if o.Device == "" {
		o.Device = "auto"
	}
	if err := device.Available(o.Device); err != nil {
		if errors.Is(err, device.ErrBadSpec) {
			return usagef("%v", err)
		}
		return err
	}
	if o.BatchSize < 0 {
		return usagef("--batch-size must be at least 1, got %d", o.BatchSize)
	}
	if o.Show < 0 || o.Show > plots.MaxGridImages {
		return usagef("--show must be from 0 to %d, got %d", plots.MaxGridImages, o.Show)
	}
	t, err := o.resolve()
	if err != nil {
		return err
	}
	if err := o.refuseUnused(t.cfg); err != nil {
		return err
	}
	// Without --data-dir or $CNNTRAIN_DATA, the folder the run read, if it
	// is still there.
	if o.Data.DataDir == "" && os.Getenv("CNNTRAIN_DATA") == "" && t.dataDir != "" {
		if st, err := os.Stat(t.dataDir); err == nil && st.IsDir() {
			o.Data.DataDir = t.dataDir
		}
	}
	data, err := o.Data.loadTest(ctx, t.cfg.Dataset, s.Err)
	if err != nil {
		return err
	}
	m, err := models.New(t.cfg.Model, data.Input(), t.cfg.ModelConfig())
	if err != nil && t.infoFile != "" {
		// A model that cannot be built from checkpoint.json (vgg11 on
		// mnist, say) is the file's fault: exit 1, naming it.
		return fmt.Errorf("%w: %s: %v", checkpoint.ErrCheckpoint, t.infoFile, err)
	}
	if err != nil {
		return err
	}
	if err := checkpoint.LoadWeights(t.weights, m); err != nil {
		return err
	}
	if err := checkpoint.CheckFinite(t.weights, m); err != nil {
		return err
	}
	norm := t.cfg.Normalization(data.Info)
	if t.normalize != nil {
		norm = *t.normalize
	}
	batch := o.BatchSize
	if batch == 0 {
		batch = t.cfg.TestBatchSize
	}
	loader, err := train.TestLoader(data.Test, batch, norm, t.cfg.Permutation(data.Info))
	if err != nil {
		return err
	}
	classes := data.Info.NotebookClasses()
	choice, err := device.Open(o.Device, device.Options{})
	if err != nil {
		return err
	}
	fmt.Fprintln(s.Err, choice.Line)
	dev, err := vm.NewDevice(choice.Backend, m.Params())
	if err != nil {
		return err
	}
	batchStats := batchStatsAtTest(t.cfg.BNBatchStatsAtTest, o.BNBatchStats, o.BNBatchStatsSet)
	if hasBatchNorm(m) {
		mode := "running statistics (PyTorch's model.eval())"
		if batchStats {
			mode = "each test batch's statistics (as a notebook that never calls model.eval())"
		}
		fmt.Fprintf(s.Err, "BatchNorm: %s\n", mode)
	}
	ev := &evaluate.Evaluator{Model: m, Device: dev, Classes: classes, BatchStatsAtTest: batchStats, Keep: o.Show}
	defer ev.Close()
	metrics, err := ev.Evaluate(ctx, loader)
	if err != nil {
		return err
	}
	// Drawing beside a run's checkpoint writes into its folder: hold it,
	// removing what a process killed while drawing there left.
	if t.infoFile != "" && o.Plot == "" {
		release, err := tidy(filepath.Dir(t.infoFile), s.Err)
		if err != nil {
			return err
		}
		defer release()
	}
	// A picture that cannot be written fails the command, after the
	// results are printed: the evaluation is not lost.
	pictures := errors.Join(o.drawConfusion(metrics, s.Err), o.drawPredictions(data.Test, classes, metrics, s.Err))
	if c, ok := oneClass(metrics); ok {
		fmt.Fprintf(s.Err, "cnntrain: warning: the model predicts %q for every test image: it has not learned to tell the classes apart\n", c)
	}
	if o.JSON {
		return errors.Join(writeJSON(s.Out, EvalReport{Checkpoint: o.Checkpoint, Model: m.Name, Dataset: data.Info.Name, Accuracy: metrics.Accuracy(), Metrics: metrics}), pictures)
	}
	if len(metrics.Predictions) > 0 {
		writePredictionRows(s.Out, classes, metrics.Predictions)
	}
	fmt.Fprintf(s.Out, "Test set: Average loss: %.4f, Accuracy: %d/%d (%.0f%%)\n", metrics.Loss, metrics.Correct, metrics.Total, metrics.Accuracy())
	for _, c := range metrics.PerClass {
		// The notebooks' '%5s : %2d %%', which truncates the percentage.
		fmt.Fprintf(s.Out, "Accuracy of %5s : %2d %%\n", c.Class, int(c.Percent))
	}
	return errors.Join(writeConfusion(s.Out, metrics), pictures)
}

// picturePath is where eval draws picture name: beside the checkpoint,
// or beside the confusion matrix --plot names (which is that file), or
// nowhere ("") with --plot none.
func (o *EvalOptions) picturePath(name string) string {
	switch o.Plot {
	case "none":
		return ""
	case "":
		dir := o.Checkpoint
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			dir = filepath.Dir(dir)
		}
		return filepath.Join(dir, name)
	}
	if name == ConfusionPicture {
		return o.Plot
	}
	return filepath.Join(filepath.Dir(o.Plot), name)
}

// drawConfusion writes the confusion matrix's picture.
func (o *EvalOptions) drawConfusion(m evaluate.Metrics, msgs io.Writer) error {
	path := o.picturePath(ConfusionPicture)
	if path == "" {
		return nil
	}
	return drawn(path, plots.WriteConfusion(path, confusionTitle(o.Checkpoint, m.Accuracy()), classNames(m.PerClass), m.Confusion), msgs)
}

// drawPredictions writes predictions.png, the first test images with
// their true and predicted classes, from their raw pixels as stored (a
// permuted run's images unpermuted, so that people can read them).
func (o *EvalOptions) drawPredictions(test *datasets.Split, classes []string, m evaluate.Metrics, msgs io.Writer) error {
	path := o.picturePath(PredictionsPicture)
	if path == "" || len(m.Predictions) == 0 {
		return nil
	}
	return drawn(path, plots.WriteGrid(path, predictionGrid(o.Checkpoint, test, classes, m.Predictions)), msgs)
}

// predictionGrid is predictions.png: test image i with its true and
// predicted class under it, for each of ps.
func predictionGrid(checkpoint string, test *datasets.Split, classes []string, ps []evaluate.Prediction) plots.Grid {
	size := test.ImageSize()
	panel := plots.Panel{Tiles: make([]plots.Tile, len(ps))}
	wrong := 0
	for i, p := range ps {
		panel.Tiles[i] = plots.Tile{Pixels: test.Images[i*size : (i+1)*size], Wrong: p.Predicted != p.Label,
			Lines: []string{"true: " + className(classes, p.Label), "pred: " + className(classes, p.Predicted)}}
		if p.Predicted != p.Label {
			wrong++
		}
	}
	title := fmt.Sprintf("%s: the first %d test images, %d wrong (red)", filepath.Base(filepath.Clean(checkpoint)), len(ps), wrong)
	return plots.Grid{Title: title, C: test.C, H: test.H, W: test.W, Panels: []plots.Panel{panel}}
}

// drawn reports a picture written, or returns why not as the command's
// error, naming the picture: every command that draws fails (exit 1) on a
// picture it cannot write, which atomicfile leaves untouched or absent.
func drawn(path string, err error, msgs io.Writer) error {
	if err != nil {
		return fmt.Errorf("picture %s not drawn: %w", path, err)
	}
	fmt.Fprintf(msgs, "Wrote %s\n", path)
	return nil
}

// writePredictionRows prints the notebooks' two rows: print('GroundTruth: ',
// ' '.join('%5s' % classes[labels[j]] ...)), then the same of the
// predictions after 'Predicted: '.
func writePredictionRows(w io.Writer, classes []string, ps []evaluate.Prediction) {
	labels, predicted := make([]int, len(ps)), make([]int, len(ps))
	for i, p := range ps {
		labels[i], predicted[i] = p.Label, p.Predicted
	}
	fmt.Fprintln(w, "GroundTruth: ", labelRow(classes, labels))
	fmt.Fprintln(w, "Predicted: ", labelRow(classes, predicted))
}

// writeConfusion prints the confusion matrix: a row per true class, a column
// per predicted class.
func writeConfusion(w io.Writer, m evaluate.Metrics) error {
	fmt.Fprintln(w, "\nConfusion matrix (rows: true class, columns: predicted):")
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	header := "\t"
	for _, c := range m.PerClass {
		header += c.Class + "\t"
	}
	fmt.Fprintln(tw, header)
	for i, row := range m.Confusion {
		line := m.PerClass[i].Class + "\t"
		for _, n := range row {
			line += fmt.Sprintf("%d\t", n)
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// hasBatchNorm says whether m keeps running statistics.
func hasBatchNorm(m *models.Model) bool {
	for _, p := range m.Params() {
		if p.Kind == graph.Buffer {
			return true
		}
	}
	return false
}

// oneClass reports the class a model predicted for every image, if it did.
func oneClass(m evaluate.Metrics) (string, bool) {
	predicted := -1
	for _, row := range m.Confusion {
		for col, n := range row {
			if n == 0 {
				continue
			}
			if predicted >= 0 && predicted != col {
				return "", false
			}
			predicted = col
		}
	}
	if predicted < 0 || m.Total < 2 {
		return "", false
	}
	return m.PerClass[predicted].Class, true
}

// batchStatsAtTest is the BatchNorm mode eval uses: an explicit flag wins
// either way, else the run's own setting.
func batchStatsAtTest(run, flag, flagSet bool) bool {
	if flagSet {
		return flag
	}
	return run || flag
}
