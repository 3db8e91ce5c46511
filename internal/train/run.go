package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/evaluate"
)

// Logs say where a run reports and saves.
type Logs struct {
	// Progress gets the per-minibatch lines, Results the test results.
	// Either may be io.Discard.
	Progress, Results io.Writer
	// Folder, when set, gets metrics.jsonl as training goes, a checkpoint
	// after every epoch, every CheckpointEvery minibatches (0: never) and
	// when ctx is cancelled, and the finished run.
	Folder          *checkpoint.Folder
	CheckpointEvery int
	// Build is cnntrain's version, recorded in checkpoint.json.
	Build string
	// DataDir is the absolute data folder the run read, recorded in
	// checkpoint.json so that eval finds the test set again.
	DataDir string
	// AfterSave, when set, runs after the checkpoint of every epoch and of
	// the run's end or interruption (to draw loss.png).
	AfterSave func() error
	// Watch, when set, is told of every minibatch and evaluation (a
	// progress bar).
	Watch Watcher
}

// Watcher follows a run as it goes, for display.
type Watcher interface {
	// Epoch says an epoch starts at minibatch first (0 unless resumed).
	Epoch(epoch, epochs, first, numBatches int)
	// Minibatch says a minibatch is done: its loss, the epoch's mean loss
	// so far and the images trained on in this epoch by this process.
	Minibatch(s Step, meanLoss float64)
	// Evaluated says done of the test set's total batches are evaluated;
	// EvaluationDone that the epoch's evaluation (if any) is over.
	Evaluated(done, total int)
	EvaluationDone()
}

// Result is a finished run.
type Result struct {
	*Prepared
	Metrics    evaluate.Metrics
	Throughput Throughput // over the whole run, resumed parts included
	info       checkpoint.RunInfo
}

// Info is the checkpoint.json of the finished run.
func (r *Result) Info() checkpoint.RunInfo { return r.info }

// Interrupted is Run's error when ctx is cancelled during training.
type Interrupted struct {
	Err error // the context's error
	// Next is the minibatch training stopped before.
	Next datasets.Position
	// Saved says a checkpoint to resume from is in the run folder; it is
	// false when nothing was trained or there is no folder.
	Saved bool
}

func (e *Interrupted) Error() string {
	return fmt.Sprintf("interrupted before epoch %d, minibatch %d: %v", e.Next.Epoch+1, e.Next.Batch+1, e.Err)
}

func (e *Interrupted) Unwrap() error { return e.Err }

// FailedAfterCheckpoint is Run's error when training fails (a diverged
// loss, a full disk) after the run folder got a checkpoint, which stays
// there to resume from.
type FailedAfterCheckpoint struct {
	Err  error
	Kept datasets.Position // where the kept checkpoint continues
}

func (e *FailedAfterCheckpoint) Error() string { return e.Err.Error() }

func (e *FailedAfterCheckpoint) Unwrap() error { return e.Err }

// Run trains p's model and evaluates it, logging as the notebook of its
// dataset and model does (config.Report): tests after every epoch with the
// MNIST notebook's lines, or once at the end with the CIFAR-10 notebooks'.
// It continues a checkpoint p.Resume loaded. With logs.Folder it saves as it
// goes; cancelling ctx stops it at the next minibatch and saves a checkpoint
// to resume from (an *Interrupted error). The model's host values hold the
// trained weights when it returns.
func Run(ctx context.Context, p *Prepared, logs Logs) (*Result, error) {
	evaluator := &evaluate.Evaluator{Model: p.Model, Device: p.Device, Classes: p.Info.NotebookClasses(), BatchStatsAtTest: p.Config.BNBatchStatsAtTest}
	defer evaluator.Close()
	report := config.Report(p.Config.Model, p.Config.Dataset)
	eval := &EvalAfterEpochs{Evaluator: evaluator, Loader: p.Test, Every: 1}
	rec, err := newRecorder(p, logs, eval)
	if err != nil {
		return nil, err
	}
	defer rec.close()
	t := &Trainer{Model: p.Model, Device: p.Device, Optimizer: p.Config.NewOptimizer(), Position: rec.progress.Next.Clone()}
	t.OnStep("nan guard", NaNGuard{})
	t.OnStep("divergence guard", DivergenceGuard{Limit: DivergenceLimit(p.Model.Input.Classes)})
	switch report.Log {
	case datasets.LogCIFAR:
		eval.Every = p.Config.Epochs
		t.OnStep("progress log", EveryN(100, CIFARLog{W: logs.Progress}))
	default:
		eval.W = logs.Results
		t.OnStep("progress log", EveryN(100, MNISTLog{W: logs.Progress}))
	}
	t.OnStep("metrics", EveryN(100, StepFunc(rec.minibatchRecord)))
	t.OnUpdate("progress", StepFunc(rec.update))
	if every := logs.CheckpointEvery; logs.Folder != nil && every > 0 {
		t.OnUpdate("checkpoint", StepFunc(func(s Step) error {
			if s.Update%every != 0 {
				return nil
			}
			return rec.save(checkpoint.StatusRunning, s.Next, false)
		}))
	}
	if logs.Watch != nil {
		evaluator.Progress = logs.Watch.Evaluated
	}
	t.OnEpochEnd("evaluation", eval)
	t.OnEpochEnd("history", epochFunc(rec.epochRecord))
	if logs.Folder != nil {
		t.OnEpochEnd("checkpoint", epochFunc(func(_ context.Context, end EpochEnd) error {
			return rec.save(checkpoint.StatusRunning, datasets.Position{Epoch: end.Epoch}, true)
		}))
	}
	if err := t.Fit(ctx, p.Train, p.Config.Epochs); err != nil {
		if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
			return nil, rec.failed(err)
		}
		return nil, rec.interrupted(t.Position, ctx.Err())
	}
	if err := p.Device.Pull(); err != nil {
		return nil, err
	}
	res := &Result{Prepared: p, Metrics: eval.Last, Throughput: rec.throughput()}
	if report.Log == datasets.LogCIFAR {
		fmt.Fprintln(logs.Progress, "Finished Training")
		// 05_02 prints '%d %%' of the LeNet's accuracy, 05_03 '%.2f %%' of VGG's.
		acc := fmt.Sprintf("%d", int(res.Metrics.Accuracy()))
		if report.AccuracyDecimals > 0 {
			acc = fmt.Sprintf("%.*f", report.AccuracyDecimals, res.Metrics.Accuracy())
		}
		fmt.Fprintf(logs.Results, "Accuracy of the network on the %d test images: %s %%\n", res.Metrics.Total, acc)
	}
	if logs.Folder != nil {
		if err := rec.save(checkpoint.StatusFinished, t.Position, true); err != nil {
			return nil, rec.failed(err)
		}
	}
	res.info = rec.info(checkpoint.StatusFinished)
	return res, nil
}

type epochFunc func(context.Context, EpochEnd) error

func (f epochFunc) OnEpochEnd(ctx context.Context, e EpochEnd) error { return f(ctx, e) }

// recorder keeps the account of a run that checkpoints and metrics.jsonl
// carry: where training stands, its history, its clocks.
type recorder struct {
	p        *Prepared
	logs     Logs
	eval     *EvalAfterEpochs
	progress checkpoint.Progress
	history  []checkpoint.Record
	metrics  *checkpoint.MetricsLog // nil without a folder
	epoch    int                    // the epoch under way, from 1
	// The clocks of the checkpoint resumed from, and of this process.
	started             time.Time
	baseTrain, baseWall float64
	finishedEpochs      time.Duration // training time of epochs finished here
	loggedImages        int           // at the last minibatch record
	loggedTrain         float64
	// kept is where the run folder's committed checkpoint continues; nil
	// while it has none.
	kept *datasets.Position
}

func newRecorder(p *Prepared, logs Logs, eval *EvalAfterEpochs) (*recorder, error) {
	r := &recorder{p: p, logs: logs, eval: eval, started: time.Now()}
	if info := p.resumed; info != nil {
		r.progress = *info.Progress
		r.progress.Next = r.progress.Next.Clone()
		r.history = slices.Clone(info.History)
		r.baseTrain, r.baseWall = r.progress.TrainSeconds, r.progress.WallSeconds
		r.loggedImages, r.loggedTrain = r.progress.Images, r.baseTrain
		if info.Metrics != nil {
			eval.Last = *info.Metrics
		}
		kept := r.progress.Next.Clone()
		r.kept = &kept
	}
	if logs.Folder != nil {
		var err error
		if r.metrics, err = logs.Folder.OpenMetrics(r.progress.MetricsBytes); err != nil {
			return nil, err
		}
	}
	r.epoch = r.progress.Next.Epoch + 1
	if logs.Watch != nil && r.epoch <= p.Config.Epochs {
		logs.Watch.Epoch(r.epoch, p.Config.Epochs, r.progress.Next.Batch, p.Train.NumBatches())
	}
	return r, nil
}

func (r *recorder) close() {
	if r.metrics != nil {
		r.metrics.Close()
	}
}

func (r *recorder) trainSeconds(epochElapsed time.Duration) float64 {
	return r.baseTrain + (r.finishedEpochs + epochElapsed).Seconds()
}

func (r *recorder) wallSeconds() float64 { return r.baseWall + time.Since(r.started).Seconds() }

// update accounts for a minibatch the optimizer has applied.
func (r *recorder) update(s Step) error {
	r.progress.Steps = s.Update
	r.progress.Images += s.BatchSize
	r.progress.EpochLossSum += float64(s.Loss)
	r.progress.EpochBatches++
	r.progress.TrainSeconds = r.trainSeconds(s.Elapsed)
	if r.logs.Watch != nil {
		r.logs.Watch.Minibatch(s, r.progress.EpochLossSum/float64(r.progress.EpochBatches))
	}
	return nil
}

// minibatchRecord writes a logged minibatch's line of metrics.jsonl.
func (r *recorder) minibatchRecord(s Step) error {
	images, train := r.progress.Images+s.BatchSize, r.trainSeconds(s.Elapsed)
	rec := r.record(checkpoint.RecordMinibatch, s.Epoch, s.Update, images, float64(s.Loss))
	rec.Batch = s.Batch + 1
	if dt := train - r.loggedTrain; dt > 0 {
		rec.ImagesPerSecond = float64(images-r.loggedImages) / dt
	}
	r.loggedImages, r.loggedTrain = images, train
	return r.write(rec)
}

// epochRecord closes an epoch's account, after its evaluation if it had one.
func (r *recorder) epochRecord(_ context.Context, end EpochEnd) error {
	r.finishedEpochs += end.Duration
	r.progress.TrainSeconds = r.trainSeconds(0)
	mean := 0.0
	if r.progress.EpochBatches > 0 {
		mean = r.progress.EpochLossSum / float64(r.progress.EpochBatches)
	}
	rec := r.record(checkpoint.RecordEpoch, end.Epoch, r.progress.Steps, r.progress.Images, mean)
	if end.Duration > 0 {
		rec.ImagesPerSecond = float64(end.Images) / end.Duration.Seconds()
	}
	if r.eval.LastEpoch == end.Epoch {
		loss, acc := r.eval.Last.Loss, r.eval.Last.Accuracy()
		rec.TestLoss, rec.TestAccuracy = &loss, &acc
	}
	r.history = append(r.history, rec)
	r.progress.EpochLossSum, r.progress.EpochBatches = 0, 0
	r.epoch = end.Epoch + 1
	if r.logs.Watch != nil {
		r.logs.Watch.EvaluationDone()
		if r.epoch <= r.p.Config.Epochs {
			r.logs.Watch.Epoch(r.epoch, r.p.Config.Epochs, 0, r.p.Train.NumBatches())
		}
	}
	return r.write(rec)
}

func (r *recorder) record(kind string, epoch, step, images int, loss float64) checkpoint.Record {
	return checkpoint.Record{Kind: kind, Epoch: epoch, Step: step, Images: images, Loss: loss, LR: r.p.Config.LR,
		WallSeconds: r.wallSeconds(), Time: time.Now().UTC().Format(time.RFC3339)}
}

func (r *recorder) write(rec checkpoint.Record) error {
	if r.metrics == nil {
		return nil
	}
	return r.metrics.Write(rec)
}

func (r *recorder) throughput() Throughput {
	return Throughput{Images: r.progress.Images, Duration: time.Duration(r.progress.TrainSeconds * float64(time.Second))}
}

// info is checkpoint.json as things stand.
func (r *recorder) info(status string) checkpoint.RunInfo {
	p := r.p
	progress := r.progress
	progress.Next = progress.Next.Clone()
	throughput := r.throughput()
	info := checkpoint.RunInfo{
		Config:        p.Config,
		Class:         p.Model.Class,
		Input:         p.Model.Input,
		NumParams:     p.Model.NumParams(),
		TrainSeconds:  progress.TrainSeconds,
		ImagesPerSec:  throughput.ImagesPerSecond(),
		CnntrainBuild: r.logs.Build,
		DataDir:       r.logs.DataDir,
		Status:        status,
		Progress:      &progress,
		History:       slices.Clone(r.history),
	}
	if r.eval.Last.Total > 0 {
		m := r.eval.Last
		info.Metrics = &m
	}
	info.Normalize.Mean, info.Normalize.Std = p.Normalize.Mean, p.Normalize.Std
	return info
}

// save writes a checkpoint whose training continues at next, then runs
// AfterSave if after: at an epoch's end and the run's, not at every
// --checkpoint-every save, where drawing a picture would cost more than the
// checkpoint of a small model.
func (r *recorder) save(status string, next datasets.Position, after bool) error {
	r.progress.Next = next.Clone()
	r.progress.WallSeconds = r.wallSeconds()
	if r.metrics != nil {
		r.progress.MetricsBytes = r.metrics.Size()
	}
	if err := r.p.Device.Pull(); err != nil {
		return err
	}
	opt, err := checkpoint.FromDevice(r.p.Device, r.p.Config.NewOptimizer().Name())
	if err != nil {
		return err
	}
	if r.metrics != nil {
		// What the checkpoint says metrics.jsonl holds must be on disk
		// before it, or a power cut could leave the file shorter.
		if err := r.metrics.Sync(); err != nil {
			return err
		}
	}
	if err := r.logs.Folder.Save(r.p.Model, opt, r.info(status)); err != nil {
		return err
	}
	kept := next.Clone()
	r.kept = &kept
	if after && r.logs.AfterSave != nil {
		return r.logs.AfterSave()
	}
	return nil
}

// failed says, of a run that failed, which checkpoint its folder keeps.
func (r *recorder) failed(err error) error {
	if r.logs.Folder == nil || r.kept == nil {
		return err
	}
	return &FailedAfterCheckpoint{Err: err, Kept: r.kept.Clone()}
}

// interrupted saves what a cancelled run trained, if anything, and says so.
func (r *recorder) interrupted(next datasets.Position, cause error) error {
	e := &Interrupted{Err: cause, Next: next.Clone()}
	if r.logs.Folder == nil || r.progress.Steps == 0 {
		return e
	}
	if err := r.save(checkpoint.StatusInterrupted, next, true); err != nil {
		return fmt.Errorf("%w; saving a checkpoint failed: %w", e, err)
	}
	e.Saved = true
	return e
}
