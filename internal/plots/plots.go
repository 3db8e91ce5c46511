// Package plots draws cnntrain's pictures as PNG files with gonum.org/v1/plot:
// a run's loss curves (loss.png), a confusion matrix (confusion.png), the
// shuffle experiment's accuracies, and grids of dataset images with their
// classes (samples.png, predictions.png). The series drawn and the grids'
// geometry are computed by exported functions, so tests can check them
// against the data they come from.
package plots

import (
	"fmt"
	"image/color"
	"io"

	"github.com/cnntrain/cnntrain/internal/atomicfile"
	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Picture sizes in pixels.
const (
	LossWidth, LossHeight           = 960, 720
	ConfusionWidth, ConfusionHeight = 760, 680
	ShuffleWidth, ShuffleHeight     = 720, 540
	dpi                             = 96
)

// Curves are one run's series, x in epochs (images seen / images per
// epoch).
type Curves struct {
	Name         string
	TrainLoss    plotter.XYs // a point per logged minibatch
	TestLoss     plotter.XYs // a point per evaluated epoch
	TestAccuracy plotter.XYs // percent, same epochs
}

// CurvesOf turns a run's metrics.jsonl records into its curves.
func CurvesOf(name string, records []checkpoint.Record, imagesPerEpoch int) Curves {
	c := Curves{Name: name}
	per := float64(max(imagesPerEpoch, 1))
	for _, r := range records {
		x := float64(r.Images) / per
		switch {
		case r.Kind == checkpoint.RecordMinibatch:
			c.TrainLoss = append(c.TrainLoss, plotter.XY{X: x, Y: r.Loss})
		case r.Kind == checkpoint.RecordEpoch && r.TestLoss != nil:
			c.TestLoss = append(c.TestLoss, plotter.XY{X: x, Y: *r.TestLoss})
			if r.TestAccuracy != nil {
				c.TestAccuracy = append(c.TestAccuracy, plotter.XY{X: x, Y: *r.TestAccuracy})
			}
		}
	}
	return c
}

// WriteLoss draws runs' curves into path: training and test loss on top,
// test accuracy below on its own axis; several runs overlay.
func WriteLoss(path string, runs ...Curves) error {
	loss, acc := plot.New(), plot.New()
	loss.Title.Text = "Loss"
	loss.Y.Label.Text = "cross-entropy loss"
	acc.Title.Text = "Test accuracy"
	acc.X.Label.Text, acc.Y.Label.Text = "epoch", "accuracy (%)"
	loss.X.Label.Text = "epoch"
	for i, r := range runs {
		prefix := ""
		if len(runs) > 1 {
			prefix = r.Name + ": "
		}
		col := plotutilColor(i)
		if err := addLine(loss, r.TrainLoss, prefix+"training loss (minibatch)", col, false); err != nil {
			return err
		}
		if err := addLine(loss, r.TestLoss, prefix+"test loss", col, true); err != nil {
			return err
		}
		if err := addLine(acc, r.TestAccuracy, prefix+"test accuracy", col, true); err != nil {
			return err
		}
	}
	loss.Legend.Top = true
	acc.Legend.Top, acc.Legend.Left = false, false
	return writePNG(path, LossWidth, LossHeight, func(dc draw.Canvas) {
		tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter * 2, PadY: vg.Millimeter * 4,
			PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
		canvases := plot.Align([][]*plot.Plot{{loss}, {acc}}, tiles, dc)
		loss.Draw(canvases[0][0])
		acc.Draw(canvases[1][0])
	})
}

// addLine adds a series, with points where it is sparse (per epoch).
func addLine(p *plot.Plot, xys plotter.XYs, name string, col color.Color, points bool) error {
	if len(xys) == 0 {
		return nil
	}
	line, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("plot %s: %w", name, err)
	}
	line.Color = col
	if points {
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		dots, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		dots.Color = col
		p.Add(dots)
	}
	p.Add(line)
	p.Legend.Add(name, line)
	return nil
}

// plotutilColor is the i-th of a few distinguishable colours.
func plotutilColor(i int) color.Color {
	cols := []color.RGBA{{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {148, 103, 189, 255},
		{255, 127, 14, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}}
	return cols[i%len(cols)]
}

// confusionGrid is a confusion matrix as a heat map's grid, true class
// down the y axis from the top.
type confusionGrid [][]int

func (g confusionGrid) Dims() (c, r int) { return len(g), len(g) }
func (g confusionGrid) Z(c, r int) float64 {
	return float64(g[len(g)-1-r][c])
}
func (g confusionGrid) X(c int) float64 { return float64(c) }
func (g confusionGrid) Y(r int) float64 { return float64(r) }

// WriteConfusion draws a confusion matrix (rows: true class, columns:
// predicted) as a heat map with class names and counts into path.
func WriteConfusion(path, title string, classes []string, confusion [][]int) error {
	if len(classes) != len(confusion) {
		return fmt.Errorf("plot confusion: %d classes for a %dx%d matrix", len(classes), len(confusion), len(confusion))
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = "predicted class", "true class"
	heat := plotter.NewHeatMap(confusionGrid(confusion), palette.Heat(64, 1))
	p.Add(heat)
	var labels plotter.XYLabels
	for r := range confusion {
		for c := range confusion {
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(c), Y: float64(len(confusion) - 1 - r)})
			labels.Labels = append(labels.Labels, fmt.Sprint(confusion[r][c]))
		}
	}
	counts, err := plotter.NewLabels(labels)
	if err != nil {
		return fmt.Errorf("plot confusion: %w", err)
	}
	for i := range counts.TextStyle {
		counts.TextStyle[i].XAlign, counts.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
		counts.TextStyle[i].Color = color.RGBA{0, 0, 90, 255}
	}
	p.Add(counts)
	p.NominalX(classes...)
	reversed := make([]string, len(classes))
	for i, c := range classes {
		reversed[len(classes)-1-i] = c
	}
	p.NominalY(reversed...)
	return writePNG(path, ConfusionWidth, ConfusionHeight, p.Draw)
}

// Bar is one bar of a bar chart: a mean and its spread.
type Bar struct {
	Label     string
	Mean, Std float64
}

// WriteBars draws bars with error bars of ±Std into path.
func WriteBars(path, title, yLabel string, bars []Bar) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = yLabel
	means, errs := make(plotter.Values, len(bars)), make(plotter.YErrors, len(bars))
	names := make([]string, len(bars))
	var xys plotter.XYs
	for i, b := range bars {
		means[i], names[i] = b.Mean, b.Label
		errs[i].Low, errs[i].High = b.Std, b.Std
		xys = append(xys, plotter.XY{X: float64(i), Y: b.Mean})
	}
	chart, err := plotter.NewBarChart(means, vg.Points(40))
	if err != nil {
		return fmt.Errorf("plot bars: %w", err)
	}
	chart.Color = plotutilColor(0)
	spread, err := plotter.NewYErrorBars(struct {
		plotter.XYs
		plotter.YErrors
	}{xys, errs})
	if err != nil {
		return fmt.Errorf("plot bars: %w", err)
	}
	p.Add(chart, spread)
	p.NominalX(names...)
	p.Y.Min = 0
	return writePNG(path, ShuffleWidth, ShuffleHeight, p.Draw)
}

// writePNG renders draw onto a canvas of w x h pixels and writes it to
// path atomically.
func writePNG(path string, w, h int, drawOn func(draw.Canvas)) error {
	return writeCanvas(path, render(w, h, drawOn))
}

// render draws onto a white canvas of w x h pixels.
func render(w, h int, drawOn func(draw.Canvas)) *vgimg.Canvas {
	img := vgimg.NewWith(vgimg.UseWH(px(w), px(h)), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	drawOn(dc)
	return img
}

// px is n pixels as a length on the canvas.
func px(n int) vg.Length { return vg.Length(n) * vg.Inch / dpi }

// writeCanvas writes a rendered canvas to path atomically.
func writeCanvas(path string, img *vgimg.Canvas) error {
	return atomicfile.Write(path, func(out io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(out)
		return err
	})
}
