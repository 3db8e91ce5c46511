package train

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/evaluate"
)

// MNISTLog prints the MNIST notebook's progress line (wrap it in EveryN to
// print every 100 minibatches, as the notebook does):
//
//	Train: [6400/60000 (11%)]	Loss: 0.812345
type MNISTLog struct{ W io.Writer }

var (
	_ StepHook  = MNISTLog{}
	_ StepHook  = CIFARLog{}
	_ EpochHook = (*EvalAfterEpochs)(nil)
	_ EpochHook = (*Throughput)(nil)
)

func (l MNISTLog) OnStep(s Step) error {
	// batch_idx * len(data) and 100. * batch_idx / len(train_loader), as printed by the notebook.
	_, err := fmt.Fprintf(l.W, "Train: [%d/%d (%.0f%%)]\tLoss: %.6f\n",
		s.Batch*s.BatchSize, s.Total, 100*float64(s.Batch)/float64(s.NumBatches), s.Loss)
	return err
}

// CIFARLog prints the CIFAR-10 notebooks' progress line, numbering
// minibatches from 1:
//
//	Epoch: 1 Minibatch:   101 loss: 1.736
type CIFARLog struct{ W io.Writer }

func (l CIFARLog) OnStep(s Step) error {
	_, err := fmt.Fprintf(l.W, "Epoch: %d Minibatch: %5d loss: %.3f\n", s.Epoch, s.Batch+1, s.Loss)
	return err
}

// EvalAfterEpochs evaluates on the test set after every Every-th epoch,
// keeps the result and, when W is set, prints the MNIST notebook's line:
//
//	Test set: Average loss: 0.4412, Accuracy: 8735/10000 (87%)
type EvalAfterEpochs struct {
	Evaluator *evaluate.Evaluator
	Loader    *datasets.Loader
	Every     int
	W         io.Writer
	Last      evaluate.Metrics
	LastEpoch int // the epoch Last was measured after; 0 before any
}

func (e *EvalAfterEpochs) OnEpochEnd(ctx context.Context, end EpochEnd) error {
	if e.Every > 1 && end.Epoch%e.Every != 0 {
		return nil
	}
	m, err := e.Evaluator.Evaluate(ctx, e.Loader)
	if err != nil {
		return err
	}
	e.Last, e.LastEpoch = m, end.Epoch
	if e.W != nil {
		_, err = fmt.Fprintf(e.W, "Test set: Average loss: %.4f, Accuracy: %d/%d (%.0f%%)\n", m.Loss, m.Correct, m.Total, m.Accuracy())
	}
	return err
}

// Throughput adds up training time and images over the epochs.
type Throughput struct {
	Images   int
	Duration time.Duration
}

func (t *Throughput) OnEpochEnd(_ context.Context, e EpochEnd) error {
	t.Images += e.Images
	t.Duration += e.Duration
	return nil
}

// ImagesPerSecond is the training speed so far.
func (t *Throughput) ImagesPerSecond() float64 {
	if t.Duration <= 0 {
		return 0
	}
	return float64(t.Images) / t.Duration.Seconds()
}
