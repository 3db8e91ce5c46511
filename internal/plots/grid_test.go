package plots

import (
	"image/color"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/testsupport/pngtest"
)

func TestGridColumns(t *testing.T) {
	for n, want := range map[int]int{0: 1, 1: 1, 2: 2, 3: 3, 4: 2, 7: 4, 8: 4, 10: 5, 12: 4, 20: 5, 64: 8, 100: 10, 256: 16} {
		if got := GridColumns(n); got != want {
			t.Errorf("GridColumns(%d) = %d, want %d", n, got, want)
		}
	}
}

// testImage is a c×h×w image whose bytes depend on seed and position.
func testImage(seed, c, h, w int) []uint8 {
	px := make([]uint8, c*h*w)
	for k := range px {
		px[k] = uint8(seed*37 + k*11)
	}
	return px
}

// checkGridImages fails unless every image of g is in the picture at path,
// each of its pixels a Scale×Scale square of its colour.
func checkGridImages(t *testing.T, path string, g Grid) {
	t.Helper()
	l, err := g.Layout()
	if err != nil {
		t.Fatal(err)
	}
	img := pngtest.Decode(t, path)
	if b := img.Bounds(); b.Dx() != l.Width || b.Dy() != l.Height {
		t.Fatalf("%s is %dx%d, the layout says %dx%d", path, b.Dx(), b.Dy(), l.Width, l.Height)
	}
	hw := g.H * g.W
	for p, panel := range g.Panels {
		for i, tile := range panel.Tiles {
			at := l.ImageAt(p, i)
			for y := range g.H * l.Scale {
				for x := range g.W * l.Scale {
					q := y/l.Scale*g.W + x/l.Scale
					want := color.RGBA{tile.Pixels[q], tile.Pixels[q], tile.Pixels[q], 255}
					if g.C == 3 {
						want.G, want.B = tile.Pixels[hw+q], tile.Pixels[2*hw+q]
					}
					if got := color.RGBAModel.Convert(img.At(at.X+x, at.Y+y)); got != want {
						t.Fatalf("panel %d image %d at (%d, %d): %v, want %v", p, i, x, y, got, want)
					}
				}
			}
		}
	}
}

// Every image lands pixel for pixel, enlarged, where the layout says; the
// picture is the layout's size; a wrong tile is framed in red and a right
// one is not.
func TestWriteGridDrawsTheImages(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []int{1, 3} {
		const h, w = 7, 5 // not square, so that rows and columns cannot swap unnoticed
		g := Grid{Title: "some images", C: c, H: h, W: w}
		for p := range 2 {
			panel := Panel{Title: []string{"as stored", "moved"}[p]}
			for i := range 7 {
				panel.Tiles = append(panel.Tiles, Tile{Pixels: testImage(10*p+i, c, h, w), Lines: []string{"true: cat", "pred: dog"}, Wrong: i == 2})
			}
			g.Panels = append(g.Panels, panel)
		}
		path := filepath.Join(dir, "grid.png")
		if err := WriteGrid(path, g); err != nil {
			t.Fatal(err)
		}
		l, _ := g.Layout()
		if l.Scale != 14 || l.Cols != 4 || l.Rows != 2 {
			t.Errorf("%d channels: scale %d, %dx%d cells; want 14, 4x2", c, l.Scale, l.Cols, l.Rows)
		}
		checkGridImages(t, path, g)
		img := pngtest.Decode(t, path)
		red := color.RGBAModel.Convert(WrongColor)
		for i, wrong := range []bool{false, true} {
			at := l.ImageAt(0, 1+i) // tiles 1 and 2
			if got := color.RGBAModel.Convert(img.At(at.X-1, at.Y-1)); (got == red) != wrong {
				t.Errorf("tile %d (wrong: %v): %v just outside its image's corner", 1+i, wrong, got)
			}
		}
		if a, b := l.ImageAt(0, 5), l.ImageAt(1, 5); a.Y != b.Y || b.X-a.X != l.PanelStep {
			t.Errorf("the panels' cells do not line up: %v and %v", a, b)
		}
	}
}

func TestGridRefusals(t *testing.T) {
	one := func(px []uint8) []Panel { return []Panel{{Tiles: []Tile{{Pixels: px}}}} }
	many := Panel{Tiles: make([]Tile, MaxGridImages+1)}
	for _, tc := range []struct {
		name string
		g    Grid
		want string
	}{
		{"short image", Grid{C: 1, H: 2, W: 2, Panels: one(make([]uint8, 3))}, "has 3 bytes"},
		{"two channels", Grid{C: 2, H: 2, W: 2, Panels: one(make([]uint8, 8))}, "1 or 3 channels"},
		{"no images", Grid{C: 1, H: 2, W: 2}, "no images"},
		{"too many", Grid{C: 1, H: 2, W: 2, Panels: []Panel{many}}, "at most"},
	} {
		err := WriteGrid(filepath.Join(t.TempDir(), "x.png"), tc.g)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}
