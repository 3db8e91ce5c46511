package plots

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/testsupport/pngtest"
	"gonum.org/v1/plot/palette"
)

// picture draws with write into a fresh file and decodes it.
func picture(t *testing.T, write func(path string) error) *image.RGBA {
	t.Helper()
	img := pngtest.Decode(t, pngFile(t, write))
	out := image.NewRGBA(img.Bounds())
	draw.Draw(out, out.Rect, img, img.Bounds().Min, draw.Src)
	return out
}

// pngFile draws with write into a fresh file and returns its path.
func pngFile(t *testing.T, write func(path string) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.png")
	if err := write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// diffBox is the bounding box of the pixels of region where a and b differ.
func diffBox(a, b *image.RGBA, region image.Rectangle) image.Rectangle {
	var box image.Rectangle
	region = region.Intersect(a.Rect)
	for y := region.Min.Y; y < region.Max.Y; y++ {
		for x := region.Min.X; x < region.Max.X; x++ {
			if a.RGBAAt(x, y) != b.RGBAAt(x, y) {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return box
}

// drawAll draws each picture into a file of its own, two at a time (a loss
// picture takes half a second under the race detector), and returns their
// bytes: the PNG encoding is deterministic, so equal bytes are equal
// pixels and the other way round.
func drawAll(t *testing.T, writes ...func(path string) error) [][]byte {
	t.Helper()
	dir := t.TempDir()
	out := make([][]byte, len(writes))
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, write := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			path := filepath.Join(dir, fmt.Sprintf("%d.png", i))
			if errs[i] = write(path); errs[i] == nil {
				out[i], errs[i] = os.ReadFile(path)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// expectEveryInputShows checks that each variant, which changes one input
// of base, changes the picture: without it, a series, title or error bar
// that was never drawn would pass the size checks. With twice set it also
// draws base twice and checks the pixels are the same, so that a change
// cannot come from the drawing itself; the loss picture, which takes half a
// second under the race detector, relies on the others' showing that
// gonum's rendering is deterministic.
func expectEveryInputShows(t *testing.T, twice bool, base func(string) error, variants map[string]func(string) error) {
	t.Helper()
	writes := []func(string) error{base}
	if twice {
		writes = append(writes, base)
	}
	first := len(writes)
	var names []string
	for name, v := range variants {
		names = append(names, name)
		writes = append(writes, v)
	}
	drawn := drawAll(t, writes...)
	if twice && !bytes.Equal(drawn[0], drawn[1]) {
		t.Fatal("the same input drew different pictures")
	}
	for i, name := range names {
		if bytes.Equal(drawn[0], drawn[first+i]) {
			t.Errorf("changing %s left the picture as it was", name)
		}
	}
}

func TestLossPictureShowsEveryInput(t *testing.T) {
	recs := func(train, test, acc float64) []checkpoint.Record {
		return []checkpoint.Record{
			{Kind: checkpoint.RecordMinibatch, Images: 64, Loss: 2.3},
			{Kind: checkpoint.RecordMinibatch, Images: 320, Loss: train},
			{Kind: checkpoint.RecordEpoch, Epoch: 1, Images: 640, Loss: 1.4, TestLoss: ptr(1.2), TestAccuracy: ptr(50)},
			{Kind: checkpoint.RecordMinibatch, Images: 704, Loss: 1.2},
			{Kind: checkpoint.RecordEpoch, Epoch: 2, Images: 1280, Loss: 1.0, TestLoss: ptr(test), TestAccuracy: ptr(acc)},
		}
	}
	loss := func(name string, train, test, acc float64) func(string) error {
		return func(path string) error {
			return WriteLoss(path, CurvesOf(name, recs(train, test, acc), 640), CurvesOf("other", recs(1.5, 1.1, 60), 640))
		}
	}
	expectEveryInputShows(t, false, loss("run", 1.8, 0.9, 70), map[string]func(string) error{
		"training loss": loss("run", 0.6, 0.9, 70),
		"test loss":     loss("run", 1.8, 0.5, 70),
		"test accuracy": loss("run", 1.8, 0.9, 95),
		"a run's name":  loss("nur", 1.8, 0.9, 70),
	})
}

// (Counts and class names: TestConfusionLabelsStandByTheirCells.)
func TestConfusionPictureShowsItsTitle(t *testing.T) {
	confusion := func(title string) func(string) error {
		return func(path string) error {
			return WriteConfusion(path, title, []string{"cat", "dog"}, [][]int{{5, 1}, {2, 7}})
		}
	}
	expectEveryInputShows(t, true, confusion("test"), map[string]func(string) error{"the title": confusion("tset")})
}

func TestBarsPictureShowsEveryInput(t *testing.T) {
	bars := func(title string, second Bar) func(string) error {
		return func(path string) error {
			return WriteBars(path, title, "accuracy (%)", []Bar{{"fc plain", 85, 1.7}, second})
		}
	}
	expectEveryInputShows(t, true, bars("t", Bar{"cnn", 95, 0.8}), map[string]func(string) error{
		"the title":      bars("u", Bar{"cnn", 95, 0.8}),
		"a bar's mean":   bars("t", Bar{"cnn", 90, 0.8}),
		"a bar's spread": bars("t", Bar{"cnn", 95, 3}),
		"a bar's label":  bars("t", Bar{"cmm", 95, 0.8}),
	})
}

// (The images and captions: TestWriteGridDrawsTheImages and
// TestWrongTileReddensOnlyTheLastLine.)
func TestGridPictureShowsItsTitles(t *testing.T) {
	grid := func(title, panel string) func(string) error {
		return func(path string) error {
			g := Grid{Title: title, C: 1, H: 4, W: 4, Panels: []Panel{{Title: panel, Tiles: []Tile{{Pixels: testImage(1, 1, 4, 4), Lines: []string{"x"}}}}}}
			return WriteGrid(path, g)
		}
	}
	expectEveryInputShows(t, true, grid("A", "p"), map[string]func(string) error{
		"the grid's title": grid("B", "p"),
		"a panel's title":  grid("A", "q"),
	})
}

// boxOf is the bounding box of the pixels of colour c.
func boxOf(img *image.RGBA, c color.Color) image.Rectangle {
	want := color.RGBAModel.Convert(c).(color.RGBA)
	var box image.Rectangle
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.RGBAAt(x, y) == want {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return box
}

// The confusion matrix reads as printed: true classes down from the top,
// predicted classes left to right. A matrix whose only non-zero count is
// true class 0 predicted as class 0 has its hottest cell at the top left
// of the map, the rest in the coldest colour.
func TestConfusionHotCellIsTopLeft(t *testing.T) {
	img := picture(t, func(path string) error {
		return WriteConfusion(path, "", []string{"a", "b", "c"}, [][]int{{9, 0, 0}, {0, 0, 0}, {0, 0, 0}})
	})
	heat := palette.Heat(64, 1).Colors()
	hot, cold := boxOf(img, heat[len(heat)-1]), boxOf(img, heat[0])
	if hot.Empty() || cold.Empty() {
		t.Fatalf("hot cells at %v, cold at %v: the map is not drawn in the palette's ends", hot, cold)
	}
	// The map is 3×3 cells: the hot one is its top-left ninth.
	third := image.Pt(cold.Dx()/3, cold.Dy()/3)
	if d := hot.Min.Sub(cold.Min); d.X > 2 || d.Y > 2 || hot.Dx() > third.X+2 || hot.Dy() > third.Y+2 {
		t.Errorf("the hot cell is at %v in a map at %v, want its top-left ninth", hot, cold)
	}
}

// The counts and class names of a confusion matrix stand where their cells
// are: changing the count of true class 0 predicted as class 2 changes the
// picture in the top-right cell only, and changing class 0's name changes
// it, beside the map, only level with the top row.
func TestConfusionLabelsStandByTheirCells(t *testing.T) {
	draw := func(names []string, m [][]int) *image.RGBA {
		return picture(t, func(path string) error { return WriteConfusion(path, "", names, m) })
	}
	// With a largest count of 100, counts 0 and 1 share the coldest colour:
	// only the printed count differs.
	base := draw([]string{"ab", "ba", "ba"}, [][]int{{0, 0, 0}, {0, 100, 0}, {0, 0, 0}})
	heat := palette.Heat(64, 1).Colors()
	cold := boxOf(base, heat[0])
	third := image.Pt(cold.Dx()/3, cold.Dy()/3)
	topRight := image.Rect(cold.Max.X-third.X-2, cold.Min.Y-2, cold.Max.X+2, cold.Min.Y+third.Y+2)

	counted := draw([]string{"ab", "ba", "ba"}, [][]int{{0, 0, 1}, {0, 100, 0}, {0, 0, 0}})
	if d := diffBox(base, counted, base.Rect); d.Empty() || !d.In(topRight) {
		t.Errorf("changing the count of true 0, predicted 2 changed the picture at %v, want inside its cell %v", d, topRight)
	}

	// Names of equal width ("ab", "ba"), so that nothing moves: the y axis's
	// labels change level with the top row; below the map, the x axis's.
	renamed := draw([]string{"ba", "ba", "ba"}, [][]int{{0, 0, 0}, {0, 100, 0}, {0, 0, 0}})
	beside := image.Rect(0, cold.Min.Y, cold.Min.X, cold.Max.Y)
	topRow := image.Rect(0, cold.Min.Y-2, cold.Min.X, cold.Min.Y+third.Y+2)
	if d := diffBox(base, renamed, beside); d.Empty() || !d.In(topRow) {
		t.Errorf("renaming class 0 changed the y axis at %v, want level with the top row %v", d, topRow)
	}
}

// A wrong tile's last caption line is red and the lines above it are not.
func TestWrongTileReddensOnlyTheLastLine(t *testing.T) {
	g := Grid{C: 1, H: 4, W: 4, Panels: []Panel{{Tiles: []Tile{
		{Pixels: testImage(1, 1, 4, 4), Lines: []string{"true: cat", "pred: dog"}, Wrong: true},
	}}}}
	img := picture(t, func(path string) error { return WriteGrid(path, g) })
	l, err := g.Layout()
	if err != nil {
		t.Fatal(err)
	}
	c := l.cell(0, 0)
	top := c.Y + l.imgH + 2*frameWidth + captionPad
	reddish := func(y0 int) (n int) {
		for y := y0; y < y0+lineHeight; y++ {
			for x := c.X; x < c.X+l.CellW; x++ {
				p := img.RGBAAt(x, y)
				if int(p.R) > int(p.G)+80 && int(p.R) > int(p.B)+80 {
					n++
				}
			}
		}
		return n
	}
	if n := reddish(top); n != 0 {
		t.Errorf("the first caption line has %d red pixels", n)
	}
	if n := reddish(top + lineHeight); n == 0 {
		t.Error("the last caption line of a wrong tile has no red pixels")
	}
}

// Nothing is drawn in the outer half of the margin, however long the
// picture's title, the panel's title or the captions are next to the
// images: the layout makes room for them. (The inner half is left out: the
// last caption line's descenders reach a pixel into the bottom margin.)
func TestGridMarginsAreBlank(t *testing.T) {
	const long = "a text much wider than the one small image it goes with"
	tile := func(lines ...string) []Tile { return []Tile{{Pixels: testImage(1, 1, 4, 4), Lines: lines}} }
	for _, g := range []Grid{
		{Title: long, C: 1, H: 4, W: 4, Panels: []Panel{{Tiles: tile("x")}}},
		{C: 1, H: 4, W: 4, Panels: []Panel{{Title: long, Tiles: tile("x")}}},
		{C: 1, H: 4, W: 4, Panels: []Panel{{Tiles: tile(long)}}},
	} {
		img := picture(t, func(path string) error { return WriteGrid(path, g) })
		b := img.Bounds()
		white := color.RGBA{255, 255, 255, 255}
	pixels:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				const edge = margin / 2
				inside := x >= edge && x < b.Max.X-edge && y >= edge && y < b.Max.Y-edge
				if p := img.RGBAAt(x, y); !inside && p != white {
					t.Errorf("title %q, panel %q, caption %q: pixel (%d, %d) in the margin of a %dx%d picture is %v",
						g.Title, g.Panels[0].Title, g.Panels[0].Tiles[0].Lines[0], x, y, b.Dx(), b.Dy(), p)
					break pixels
				}
			}
		}
	}
}

// The picture's title and a panel's title stand one above the other and
// above the images: with a white image and no captions, every dark pixel is
// title text, in two bands of rows with blank rows between them, all above
// the image.
func TestGridTitlesStandApart(t *testing.T) {
	white := make([]uint8, 16)
	for i := range white {
		white[i] = 255
	}
	g := Grid{Title: "Title of the whole picture", C: 1, H: 4, W: 4, Panels: []Panel{{Title: "Panel", Tiles: []Tile{{Pixels: white}}}}}
	img := picture(t, func(path string) error { return WriteGrid(path, g) })
	l, err := g.Layout()
	if err != nil {
		t.Fatal(err)
	}
	var bands [][2]int // [first, last] dark row of each band
	for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
		dark := false
		for x := img.Rect.Min.X; x < img.Rect.Max.X && !dark; x++ {
			p := img.RGBAAt(x, y)
			dark = int(p.R)+int(p.G)+int(p.B) < 3*200
		}
		switch {
		case !dark:
		case len(bands) > 0 && bands[len(bands)-1][1] == y-1:
			bands[len(bands)-1][1] = y
		default:
			bands = append(bands, [2]int{y, y})
		}
	}
	if len(bands) != 2 {
		t.Fatalf("the titles' text is in %d bands of rows %v, want 2, one per title", len(bands), bands)
	}
	if top := l.ImageAt(0, 0).Y; bands[1][1] >= top {
		t.Errorf("the panel's title reaches row %d, the image starts at %d", bands[1][1], top)
	}
}
