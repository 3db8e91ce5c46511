package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/cnntrain/cnntrain/internal/train"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal, where live progress bars can
// be drawn; anywhere else (a file, a pipe, a notebook) output stays lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBars draws a bar per epoch (epoch k/N, minibatch i/M, running
// loss, images/s, elapsed, ETA) and one while evaluating, with log lines
// printed above them (it is an io.Writer). It implements train.Watcher.
// The Watcher methods run on the training goroutine, the decorators on
// mpb's.
type progressBars struct {
	p         *mpb.Progress
	bar, eval *mpb.Bar
	stats     *epochStats // the current epoch's
}

// epochStats is what an epoch's bar shows besides its counters; mu guards
// it against the decorator, and is never held while calling mpb.
type epochStats struct {
	mu         sync.Mutex
	loss, mean float64
	images     int
	elapsed    time.Duration
}

func (e *epochStats) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	speed := 0.0
	if e.elapsed > 0 {
		speed = float64(e.images) / e.elapsed.Seconds()
	}
	return fmt.Sprintf("loss %.4f (epoch mean %.4f)  %.0f images/s", e.loss, e.mean, speed)
}

var _ train.Watcher = (*progressBars)(nil)

func newProgressBars(w io.Writer) *progressBars {
	return &progressBars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(30), mpb.WithRefreshRate(200*time.Millisecond))}
}

// Write prints lines above the bars.
func (b *progressBars) Write(p []byte) (int, error) { return b.p.Write(p) }

func (b *progressBars) Epoch(epoch, epochs, first, numBatches int) {
	finish(&b.bar)
	stats := &epochStats{}
	b.stats = stats
	b.bar = b.p.AddBar(int64(numBatches),
		mpb.PrependDecorators(
			decor.Name(fmt.Sprintf("epoch %d/%d", epoch, epochs), decor.WCSyncSpaceR),
			decor.CountersNoUnit("minibatch %d/%d", decor.WCSyncSpace),
		),
		mpb.AppendDecorators(
			decor.Any(func(decor.Statistics) string { return stats.String() }, decor.WCSyncSpace),
			decor.Elapsed(decor.ET_STYLE_MMSS, decor.WCSyncSpace),
			decor.OnComplete(decor.AverageETA(decor.ET_STYLE_MMSS, decor.WCSyncSpace), ""),
		))
	b.bar.SetCurrent(int64(first))
	b.bar.DecoratorAverageAdjust(time.Now())
}

func (b *progressBars) Minibatch(s train.Step, meanLoss float64) {
	st := b.stats
	st.mu.Lock()
	st.loss, st.mean = float64(s.Loss), meanLoss
	st.images += s.BatchSize
	st.elapsed = s.Elapsed
	st.mu.Unlock()
	b.bar.SetCurrent(int64(s.Batch + 1))
}

func (b *progressBars) Evaluated(done, total int) {
	if b.eval == nil {
		b.eval = b.p.AddBar(int64(total),
			mpb.PrependDecorators(decor.Name("evaluating", decor.WCSyncSpaceR), decor.CountersNoUnit("batch %d/%d", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_MMSS, decor.WCSyncSpace)),
			mpb.BarRemoveOnComplete())
	}
	b.eval.SetCurrent(int64(done))
}

func (b *progressBars) EvaluationDone() { finish(&b.eval) }

// finish completes or, if unfinished (Ctrl-C), aborts a bar, keeping it on
// screen.
func finish(bar **mpb.Bar) {
	if *bar == nil {
		return
	}
	if !(*bar).Completed() {
		(*bar).Abort(false)
	}
	*bar = nil
}

// Close stops drawing; what is printed after it goes below the bars.
func (b *progressBars) Close() {
	if b.p == nil {
		return
	}
	finish(&b.bar)
	finish(&b.eval)
	b.p.Wait()
	b.p = nil
}
