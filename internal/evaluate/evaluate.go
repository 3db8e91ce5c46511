// Package evaluate runs a model forward over a test set and measures it:
// average loss, accuracy, per-class accuracy and the confusion matrix.
package evaluate

import (
	"context"
	"fmt"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// Metrics are a model's results on a test set.
type Metrics struct {
	Loss     float64        `json:"loss"`      // average loss per image
	Correct  int            `json:"correct"`   // images whose top class is the label
	Total    int            `json:"total"`     // images evaluated
	PerClass []ClassMetrics `json:"per_class"` // in class order
	// Confusion[label][predicted] counts the test images.
	Confusion [][]int `json:"confusion"`
	// Predictions are the first test images' labels and predicted classes,
	// in the loader's order, when the Evaluator was asked for them (Keep).
	Predictions []Prediction `json:"predictions,omitempty"`
}

// Prediction is one test image's label and the class the model predicted.
type Prediction struct {
	Label     int `json:"label"`
	Predicted int `json:"predicted"`
}

// ClassMetrics is the accuracy on one class.
type ClassMetrics struct {
	Class   string  `json:"class"`
	Correct int     `json:"correct"`
	Total   int     `json:"total"`
	Percent float64 `json:"accuracy"`
}

// Accuracy is the fraction of correct predictions, in percent.
func (m Metrics) Accuracy() float64 {
	if m.Total == 0 {
		return 0
	}
	return 100 * float64(m.Correct) / float64(m.Total)
}

// Evaluator runs a model forward over a test set on the model's Device. It
// keeps one compiled forward-only program per batch size, so evaluating
// after every epoch costs no recompilation.
type Evaluator struct {
	Model  *models.Model
	Device *vm.Device
	// Classes name the classes in the results (numbers when missing).
	Classes []string
	// BatchStatsAtTest evaluates BatchNorm with batch statistics.
	BatchStatsAtTest bool
	// Progress, when set, is told after every batch how many of the
	// loader's batches are done (a progress bar).
	Progress func(done, total int)
	// Keep is how many of the first images' predictions Metrics.Predictions
	// records (eval --show); 0 records none.
	Keep int

	progs *vm.Programs
}

// Evaluate runs the whole loader through the model in eval mode.
func (e *Evaluator) Evaluate(ctx context.Context, loader *datasets.Loader) (Metrics, error) {
	if e.progs == nil {
		in := e.Model.Input
		e.progs = &vm.Programs{Device: e.Device, Model: e.Model.Net, Input: [3]int{in.C, in.H, in.W},
			Options: graph.NetOptions{Loss: e.Model.Loss, BatchStatsAtTest: e.BatchStatsAtTest}}
	}
	k := e.Model.Input.Classes
	m := Metrics{PerClass: make([]ClassMetrics, k), Confusion: make([][]int, k)}
	for i := range m.Confusion {
		m.Confusion[i] = make([]int, k)
	}
	if e.Keep > 0 {
		m.Predictions = make([]Prediction, 0, min(e.Keep, loader.NumSamples()))
	}
	var lossSum float64
	for b := range loader.Epoch(0) {
		if err := ctx.Err(); err != nil {
			return Metrics{}, err
		}
		prog, err := e.progs.Get(b.Size)
		if err != nil {
			return Metrics{}, err
		}
		if err := prog.Run(b.Images, b.Labels); err != nil {
			return Metrics{}, err
		}
		lossSum += float64(prog.Loss()) * float64(b.Size)
		out, err := prog.Output()
		if err != nil {
			return Metrics{}, err
		}
		for i, label := range b.Labels[:b.Size] {
			pred := argmax(out[i*k : (i+1)*k])
			m.Confusion[label][pred]++
			if len(m.Predictions) < cap(m.Predictions) {
				m.Predictions = append(m.Predictions, Prediction{Label: int(label), Predicted: pred})
			}
		}
		m.Total += b.Size
		if e.Progress != nil {
			e.Progress(b.Index+1, loader.NumBatches())
		}
	}
	if m.Total == 0 {
		return Metrics{}, fmt.Errorf("evaluate: the test set is empty")
	}
	m.Loss = lossSum / float64(m.Total)
	for c := range k {
		pc := &m.PerClass[c]
		pc.Class = fmt.Sprint(c)
		if c < len(e.Classes) {
			pc.Class = e.Classes[c]
		}
		for _, n := range m.Confusion[c] {
			pc.Total += n
		}
		pc.Correct = m.Confusion[c][c]
		m.Correct += pc.Correct
		if pc.Total > 0 {
			pc.Percent = 100 * float64(pc.Correct) / float64(pc.Total)
		}
	}
	return m, nil
}

// argmax is the index of the largest score, the first one on ties, as
// torch.max returns.
func argmax(xs []float32) int {
	best := 0
	for i, v := range xs {
		if v > xs[best] {
			best = i
		}
	}
	return best
}

// Close releases the compiled programs.
func (e *Evaluator) Close() {
	if e.progs != nil {
		e.progs.Release()
	}
}
