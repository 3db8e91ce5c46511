package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/device"
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
	// Resume is a run folder whose training continues.
	Resume string
	// CheckpointEvery saves a checkpoint every N minibatches, besides the
	// one after every epoch.
	CheckpointEvery int
	// Quiet prints results only: no header, progress or log lines.
	Quiet bool
}

// resumeKeys are the settings --resume accepts: they choose the hardware,
// not the training. (--data-dir, no setting, may move the run's data folder.)
var resumeKeys = []string{"device", "tf32", "no_cuda_graphs", "no_cudnn"}

// resumeFlags are the flags of resumeKeys, as the command line spells them.
func resumeFlags() []string {
	names := make([]string, len(resumeKeys))
	for i, key := range resumeKeys {
		names[i] = flagName(key)
	}
	return names
}

func newTrainCommand(s Streams) *cobra.Command {
	return trainCommand(&TrainOptions{RunsRoot: "runs"}, s)
}

// trainCommand binds train's flags to opts.
func trainCommand(opts *TrainOptions, s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model and save it to a run folder",
		Long: `Trains a model with its notebook's settings (see 'Notebook presets' in the README),
prints the notebook's log lines, evaluates on the test set and saves a run
folder with the weights (PyTorch state_dict names), the optimizer state,
checkpoint.json, config.yaml and metrics.jsonl. Settings come from the notebook
preset of the model and dataset, then --config, then flags.

The run folder is claimed when training starts and gets a checkpoint after
every epoch (and every --checkpoint-every minibatches). Ctrl-C stops at the
next minibatch and saves a checkpoint (Ctrl-C again quits at once);
--resume RUN continues a stopped or killed run where it was, to the same
final weights as an uninterrupted run.`,
		Example: `  cnntrain train --model mlp --dataset mnist
  cnntrain train --model cnn --dataset mnist --shuffle-pixels
  cnntrain train --model cnn --dataset cifar10
  cnntrain train --model vgg16 --dataset cifar10 --width 0.25 --epochs 2
  cnntrain train --config configs/cifar10-vgg-notebook.yaml --checkpoint-every 100
  cnntrain train --resume runs/vgg11-cifar10-20261127-001500`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return RunTrain(cmd.Context(), opts, s) },
	}
	f := cmd.Flags()
	opts.Config.addFlags(f)
	f.StringVar(&opts.RunDir, "run-dir", "", "folder to save the run in (default runs/<model>-<dataset>-<time>)")
	f.StringVar(&opts.Resume, "resume", "", "continue the stopped or killed run in this folder")
	f.IntVar(&opts.CheckpointEvery, "checkpoint-every", 0, "also save a checkpoint every N minibatches (default: after every epoch only)")
	f.BoolVar(&opts.JSON, "json", false, "print the run's checkpoint.json on stdout when done")
	f.BoolVar(&opts.Quiet, "quiet", false, "print results only: no header, progress or log lines")
	opts.Data.addFlags(f)
	return cmd
}

// RunTrain trains, evaluates and saves the run folder, or continues the
// training of one with Resume.
func RunTrain(ctx context.Context, opts *TrainOptions, s Streams) error {
	if opts.CheckpointEvery < 0 {
		return usagef("--checkpoint-every must be at least 0, got %d", opts.CheckpointEvery)
	}
	// Until training starts, nothing waits for a next minibatch: reading a
	// config file (a FIFO nobody writes), the data, compiling; a signal
	// quits at once, removing a folder this run claimed and saved nothing in.
	setup := quitAtOnce(ctx, "nothing was trained yet")
	defer setup.End()
	var (
		cfg     config.Config
		folder  *checkpoint.Folder
		resumed *checkpoint.RunInfo
		err     error
	)
	if opts.Resume == "" && opts.Config.changedFlag("resume") {
		// --resume "$RUN" with RUN unset must not start a new run.
		return usagef("--resume needs a run folder (leave the flag out for a new run)")
	}
	if opts.Resume != "" {
		folder, resumed, cfg, err = opts.openResumed(s.Err)
	} else {
		folder, cfg, err = opts.claimNew()
	}
	if err != nil {
		return err
	}
	// Whatever happens next, release the folder, and remove it if this
	// process created it and never saved into it, so the name can be reused.
	defer folder.Discard()
	setup.OnQuit(func() { folder.Discard() })

	data, err := opts.Data.load(ctx, cfg.Dataset, s.Err)
	if err != nil {
		return err
	}
	p, err := train.Prepare(cfg, data)
	if err != nil {
		return err
	}
	if resumed != nil {
		if err := p.Resume(folder.Dir, *resumed); err != nil {
			return err
		}
		fmt.Fprintf(s.Err, "Resuming %s at %s (%d optimizer steps done)\n", folder.Dir, where(resumed.Progress.Next, p.Train.NumBatches()), resumed.Progress.Steps)
	}
	progress, results := s.Err, s.Out
	if opts.JSON {
		results = s.Err
	}
	logs := train.Logs{Folder: folder, CheckpointEvery: opts.CheckpointEvery, Build: Version(), AfterSave: drawLoss(folder.Dir, s.Err),
		DataDir: absPath(datasets.ResolveDataDir(opts.Data.DataDir))}
	var bars *progressBars
	switch {
	case opts.Quiet:
		progress = io.Discard
	case isTerminal(s.Err):
		writeHeader(s.Err, p, opts, folder.Dir)
		bars = newProgressBars(s.Err)
		defer bars.Close() // on errors; a no-op after the Close below
		// Lines go above the bars, results too when they share the screen.
		progress, logs.Watch = bars, bars
		if isTerminal(results) {
			results = bars
		}
	default:
		writeHeader(s.Err, p, opts, folder.Dir)
	}
	logs.Progress, logs.Results = progress, results
	fmt.Fprintf(progress, "Number of parameters: %d\n", p.Model.NumParams())
	setup.End()
	res, err := train.Run(ctx, p, logs)
	if bars != nil {
		bars.Close()
		progress = s.Err
	}
	if err != nil {
		return keptWork(err, folder.Dir, p.Train.NumBatches())
	}
	// The run is saved: a signal now quits at once.
	defer quitAtOnce(ctx, "the run is saved").End()
	fmt.Fprintf(progress, "Trained %d images in %.1f s (%.0f images/s). Saved to %s\n",
		res.Throughput.Images, res.Throughput.Duration.Seconds(), res.Throughput.ImagesPerSecond(), folder.Dir)
	if g, ok := p.Device.Backend().(interface{ Notes() []string }); ok {
		// A GPU that took a slower way somewhere trained correctly but
		// slower: say so rather than leave the speed unexplained.
		for _, note := range g.Notes() {
			fmt.Fprintf(s.Err, "note: %s\n", note)
		}
	}
	if opts.JSON {
		// What was saved, read back: the same checkpoint.json, with its path.
		info, _, err := checkpoint.LoadRunInfo(folder.Dir)
		if err != nil {
			return err
		}
		return writeJSON(s.Out, TrainReport{Run: folder.Dir, RunInfo: info})
	}
	return nil
}

// TrainReport is what train prints with --json: the run folder and its
// checkpoint.json.
type TrainReport struct {
	Run string `json:"run"`
	checkpoint.RunInfo
}

// writeHeader prints what a run is about to do, on one screen.
func writeHeader(w io.Writer, p *train.Prepared, opts *TrainOptions, dir string) {
	cfg := p.Config
	fmt.Fprintf(w, "cnntrain %s\n", Version())
	fmt.Fprintf(w, "  model       %s (%s), %d parameters\n", cfg.Model, p.Model.Class, p.Model.NumParams())
	fmt.Fprintf(w, "  dataset     %s in %s: %d training images, %d test\n", cfg.Dataset, datasets.ResolveDataDir(opts.Data.DataDir), p.Train.NumSamples(), p.Test.NumSamples())
	fmt.Fprintf(w, "  %s\n", p.DeviceLine)
	fmt.Fprintf(w, "  optimizer   %s\n", cfg.NewOptimizer().Name())
	augment := ""
	if cfg.Augment {
		augment = ", augmented"
	}
	fmt.Fprintf(w, "  epochs      %d of %d minibatches of %d%s\n", cfg.Epochs, p.Train.NumBatches(), cfg.BatchSize, augment)
	every := "after every epoch"
	if opts.CheckpointEvery > 0 {
		every += fmt.Sprintf(" and every %d minibatches", opts.CheckpointEvery)
	}
	fmt.Fprintf(w, "  run folder  %s (checkpoint %s)\n", dir, every)
}

// claimNew resolves the settings of a new run and claims its folder, before
// any data is read, so a folder that cannot be written fails at once.
func (opts *TrainOptions) claimNew() (*checkpoint.Folder, config.Config, error) {
	cfg, err := opts.Config.resolve(nil)
	if err != nil {
		return nil, cfg, err
	}
	if err := opts.Config.refuseUnused(cfg); err != nil {
		return nil, cfg, err
	}
	if err := cfg.Check(); err != nil {
		return nil, cfg, err
	}
	if opts.RunDir == "" {
		name := cfg.Model + "-" + cfg.Dataset
		if cfg.ShufflePixels {
			name += "-shuffled"
		}
		folder, err := checkpoint.CreateUnique(opts.RunsRoot, name, time.Now())
		if err != nil {
			return nil, cfg, err
		}
		return folder, cfg, opts.begin(folder, cfg)
	}
	folder, err := checkpoint.Create(opts.RunDir)
	if errors.Is(err, checkpoint.ErrRunExists) {
		hint := "choose a new folder"
		if info, _, err := checkpoint.LoadRunInfo(opts.RunDir); err == nil && info.Resumable() {
			hint = "continue it with --resume " + opts.RunDir
		}
		return nil, cfg, usagef("--run-dir %s already exists; %s", opts.RunDir, hint)
	}
	if err != nil {
		return nil, cfg, err
	}
	return folder, cfg, opts.begin(folder, cfg)
}

// begin records a new run's settings in its folder, so that a run killed
// before its first checkpoint can be started over with --resume.
func (opts *TrainOptions) begin(folder *checkpoint.Folder, cfg config.Config) error {
	err := folder.Begin(checkpoint.RunInfo{Config: cfg, CnntrainBuild: Version(), DataDir: absPath(datasets.ResolveDataDir(opts.Data.DataDir))})
	if err != nil {
		folder.Discard()
	}
	return err
}

// openResumed takes hold of the folder to resume and reads its settings;
// only the flags of resumeKeys may change them.
func (opts *TrainOptions) openResumed(msgs io.Writer) (*checkpoint.Folder, *checkpoint.RunInfo, config.Config, error) {
	if opts.RunDir != "" || opts.Config.File != "" {
		return nil, nil, config.Config{}, usagef("--resume continues a run in its own folder with its own settings; drop --run-dir and --config")
	}
	for _, key := range configKeys() {
		if opts.Config.changed(key) && !slices.Contains(resumeKeys, key) {
			return nil, nil, config.Config{}, usagef("--resume continues a run with its own settings; --%s cannot change them (only --%s can)",
				flagName(key), strings.Join(resumeFlags(), ", --"))
		}
	}
	info, _, err := checkpoint.LoadRunInfo(opts.Resume)
	if err != nil {
		return nil, nil, config.Config{}, err
	}
	// The run's own settings are checked as the file's: a bad value there
	// is a bad checkpoint (exit 1, naming checkpoint.json), not a usage
	// error of this command line. Checked first, so that a status no run
	// writes is called that, not "nothing to resume".
	file := checkpoint.InfoPath(opts.Resume)
	if err := info.Check(file); err != nil {
		return nil, nil, config.Config{}, err
	}
	if !info.Resumable() {
		return nil, nil, config.Config{}, usagef("%s holds a %s run; there is nothing to resume", opts.Resume, cmp.Or(info.Status, checkpoint.StatusFinished))
	}
	own := info.Config
	own.Device = "" // whether its device is here is not the file's fault
	if err := own.Check(); err != nil {
		return nil, nil, config.Config{}, fmt.Errorf("%w: %s: %v", checkpoint.ErrCheckpoint, file, err)
	}
	cfg := info.Config
	for _, key := range resumeKeys {
		if opts.Config.changed(key) {
			dst, _ := configField(&cfg, key)
			src, _ := configField(&opts.Config.values, key)
			dst.Set(src)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, config.Config{}, err
	}
	if cfg.Device != "" {
		if err := device.Available(cfg.Device); err != nil {
			return nil, nil, config.Config{}, err
		}
	}
	if err := opts.useRecordedDataDir(info); err != nil {
		return nil, nil, config.Config{}, err
	}
	folder, err := checkpoint.Open(opts.Resume)
	if err != nil {
		return nil, nil, config.Config{}, err
	}
	if n := len(folder.Cleaned); n > 0 {
		fmt.Fprintf(msgs, "Removed %d temporary file(s) a dead run left in %s\n", n, folder.Dir)
	}
	// Open may have published a checkpoint the dead run committed but had
	// not yet put at the top: what is resumed is what the folder holds now.
	if info, _, err = checkpoint.LoadRunInfo(folder.Dir); err == nil {
		err = info.Check(file)
	}
	if err != nil {
		folder.Close()
		return nil, nil, config.Config{}, err
	}
	if !info.Resumable() {
		// The dead run had committed its last checkpoint, finished, and
		// died before checkpoint.json at the top said so.
		folder.Close()
		return nil, nil, config.Config{}, usagef("%s holds a %s run; there is nothing to resume", opts.Resume, cmp.Or(info.Status, checkpoint.StatusFinished))
	}
	if info.Status == checkpoint.StatusStarted {
		fmt.Fprintf(msgs, "Starting %s over: the run was stopped before its first checkpoint\n", folder.Dir)
		return folder, nil, cfg, nil
	}
	// "Resuming" is said once the checkpoint is loaded (RunTrain): a
	// position the data cannot take is refused first.
	return folder, &info, cfg, nil
}

// where words a position for people: "epoch 2, minibatch 101", or the end
// of an epoch whose evaluation had not finished ("the end of epoch 2,
// before its evaluation"), which is no 501st minibatch of 500.
func where(next datasets.Position, numBatches int) string {
	if next.Batch >= numBatches && numBatches > 0 {
		return fmt.Sprintf("the end of epoch %d, before its evaluation", next.Epoch+1)
	}
	return fmt.Sprintf("epoch %d, minibatch %d", next.Epoch+1, next.Batch+1)
}

// useRecordedDataDir makes a resumed run read the data folder it was
// started with (checkpoint.json's data_dir), not the default one, so that
// a run trained with --data-dir resumes as written; --data-dir moves it. A
// run that recorded none reads the default, as before.
func (opts *TrainOptions) useRecordedDataDir(info checkpoint.RunInfo) error {
	if opts.Data.DataDir != "" || info.DataDir == "" {
		return nil
	}
	if st, err := os.Stat(info.DataDir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s was trained on the data in %s, which is no longer a folder; give --data-dir where the data is now", opts.Resume, info.DataDir)
	}
	opts.Data.DataDir = info.DataDir
	return nil
}

// keptWork says what a run that stopped keeps: an interrupted one that
// saved, how to continue it; one that failed after a checkpoint (a full
// disk, a diverged loss), which checkpoint stays and what --resume does.
func keptWork(err error, dir string, numBatches int) error {
	var stopped *train.Interrupted
	if errors.As(err, &stopped) && stopped.Saved {
		return interruptedError{err: err, msg: fmt.Sprintf(
			"interrupted; saved a checkpoint at %s in %s\nTo continue: cnntrain train --resume %s",
			where(stopped.Next, numBatches), dir, dir)}
	}
	var failed *train.FailedAfterCheckpoint
	if !errors.As(err, &failed) {
		return err
	}
	kept := fmt.Sprintf("%s keeps the checkpoint at %s", dir, where(failed.Kept, numBatches))
	if errors.Is(err, train.ErrDiverged) || errors.Is(err, train.ErrNaNLoss) {
		// Resuming repeats the same steps to the same loss.
		return fmt.Errorf("%w\n%s, before it diverged; resuming would repeat the same steps, so a smaller --lr needs a new run", err, kept)
	}
	return fmt.Errorf("%w\n%s: once the cause is mended, cnntrain train --resume %s continues from it", err, kept, dir)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// absPath is path made absolute where that is possible.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
