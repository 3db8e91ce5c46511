package plots

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// MaxGridImages bounds the images of one panel, so that a mistyped count
// cannot ask for a picture of gigabytes.
const MaxGridImages = 256

// Grid geometry in pixels. Images are enlarged to at least minSide pixels a
// side (a 28×28 digit to 112×112, a 32×32 CIFAR-10 image to 96×96).
const (
	minSide      = 96
	margin       = 16
	titleHeight  = 30
	headHeight   = 24 // a panel's title
	cellGap      = 10 // between cells, across and down
	panelGap     = 32
	frameWidth   = 3 // the red frame of a Wrong tile, outside its image
	captionPad   = 4 // between a frame and the first caption line
	lineHeight   = 16
	captionSlack = 6 // around the widest caption line
)

// WrongColor marks mistakes: a Wrong tile's frame and last caption line.
var WrongColor = color.RGBA{214, 39, 40, 255}

// Tile is one image of a grid with its caption.
type Tile struct {
	// Pixels is the image as the datasets hold it: C planes of H×W bytes.
	Pixels []uint8
	// Lines are the caption under the image, a line each.
	Lines []string
	// Wrong frames the image and writes its last caption line in red (a
	// prediction that missed).
	Wrong bool
}

// Panel is a titled grid of tiles.
type Panel struct {
	Title string
	Tiles []Tile
}

// Grid is a picture of images with captions: its panels side by side, each
// a grid of its tiles in the same places, so that panels of the same images
// transformed line up cell for cell.
type Grid struct {
	Title   string
	C, H, W int // every tile's image shape; C is 1 (grey) or 3 (RGB)
	Panels  []Panel
}

// GridLayout is where a Grid's pieces go, in pixels from the top left.
type GridLayout struct {
	Width, Height int
	// Scale is how many pixels a side each image pixel becomes (nearest
	// neighbour).
	Scale int
	// Cols and Rows are each panel's cells across and down.
	Cols, Rows int
	// CellW and CellH are a cell's size: its image, frame and caption.
	CellW, CellH int
	// Left and Top are the first panel's top-left corner; PanelStep is how
	// far right the next panel starts.
	Left, Top, PanelStep int
	imgW, imgH           int // an image's size, enlarged
}

// GridColumns is how many images a row of a grid of n holds: the grid is
// near square, wider than tall, with as few empty cells as possible (20
// images are 4 rows of 5, the MNIST notebook's grid; 8 are 2 rows of 4;
// 64 are 8 rows of 8, torchvision's make_grid).
func GridColumns(n int) int {
	if n <= 1 {
		return 1
	}
	lo := int(math.Ceil(math.Sqrt(float64(n))))
	best, bestEmpty := lo, math.MaxInt
	for c := lo; c <= min(n, 2*lo); c++ {
		if empty := (n+c-1)/c*c - n; empty < bestEmpty {
			best, bestEmpty = c, empty
		}
	}
	return best
}

// Text styles of a grid picture.
func gridText(size vg.Length, col color.Color) text.Style {
	return text.Style{Color: col, Font: font.From(plot.DefaultFont, size), XAlign: draw.XCenter, YAlign: draw.YTop,
		Handler: plot.DefaultTextHandler}
}

var (
	titleStyle   = gridText(12, color.Black)
	headStyle    = gridText(11, color.Black)
	captionStyle = gridText(10, color.Black)
)

// textWidth is txt's width in pixels in style sty, rounded up.
func textWidth(sty text.Style, txt string) int {
	return int(math.Ceil(float64(sty.Width(txt) / vg.Inch * dpi)))
}

// Layout works out where g's pieces go. It refuses a grid with no images,
// too many, or images of another shape than g says.
func (g Grid) Layout() (GridLayout, error) {
	if g.C != 1 && g.C != 3 || g.H < 1 || g.W < 1 {
		return GridLayout{}, fmt.Errorf("plot grid: images of %dx%dx%d; want 1 or 3 channels", g.C, g.H, g.W)
	}
	n, lines, captionW := 0, 0, 0
	for _, p := range g.Panels {
		if len(p.Tiles) > MaxGridImages {
			return GridLayout{}, fmt.Errorf("plot grid: %d images in a panel; at most %d", len(p.Tiles), MaxGridImages)
		}
		n = max(n, len(p.Tiles))
		for i, t := range p.Tiles {
			if len(t.Pixels) != g.C*g.H*g.W {
				return GridLayout{}, fmt.Errorf("plot grid: image %d of %q has %d bytes, want %dx%dx%d", i, p.Title, len(t.Pixels), g.C, g.H, g.W)
			}
			lines = max(lines, len(t.Lines))
			for _, l := range t.Lines {
				captionW = max(captionW, textWidth(captionStyle, l))
			}
		}
	}
	if n == 0 {
		return GridLayout{}, fmt.Errorf("plot grid: no images to draw")
	}
	l := GridLayout{Scale: (minSide + max(g.H, g.W) - 1) / max(g.H, g.W), Cols: GridColumns(n)}
	l.Rows = (n + l.Cols - 1) / l.Cols
	l.imgW, l.imgH = g.W*l.Scale, g.H*l.Scale
	l.CellW = max(l.imgW+2*frameWidth, captionW+captionSlack)
	l.CellH = l.imgH + 2*frameWidth + captionPad + lines*lineHeight
	panelW := l.Cols*l.CellW + (l.Cols-1)*cellGap
	headW := 0
	for _, p := range g.Panels {
		headW = max(headW, textWidth(headStyle, p.Title))
	}
	panelW = max(panelW, headW)
	l.PanelStep = panelW + panelGap
	contentW := len(g.Panels)*l.PanelStep - panelGap
	l.Width = 2*margin + max(contentW, textWidth(titleStyle, g.Title))
	l.Left = (l.Width - contentW) / 2
	l.Top = margin
	if g.Title != "" {
		l.Top += titleHeight
	}
	if headW > 0 {
		l.Top += headHeight
	}
	l.Height = l.Top + l.Rows*l.CellH + (l.Rows-1)*cellGap + margin
	return l, nil
}

// cell is the top-left corner of cell i of panel p.
func (l GridLayout) cell(p, i int) image.Point {
	panelW := l.Cols*l.CellW + (l.Cols-1)*cellGap
	// A panel wider than its cells (a long title) centres them.
	x := l.Left + p*l.PanelStep + (l.PanelStep-panelGap-panelW)/2
	return image.Pt(x+i%l.Cols*(l.CellW+cellGap), l.Top+i/l.Cols*(l.CellH+cellGap))
}

// ImageAt is the top-left pixel of the image of tile i of panel p, whose
// pixel (y, x) covers the Scale×Scale square from ImageAt + (x, y)·Scale.
func (l GridLayout) ImageAt(p, i int) image.Point {
	c := l.cell(p, i)
	return image.Pt(c.X+(l.CellW-l.imgW)/2, c.Y+frameWidth)
}

// WriteGrid draws g into path: titles and captions as text, images pixel
// for pixel, enlarged by whole pixels (nearest neighbour) so that what the
// picture shows is exactly the bytes.
func WriteGrid(path string, g Grid) error {
	l, err := g.Layout()
	if err != nil {
		return err
	}
	canvas := render(l.Width, l.Height, func(dc draw.Canvas) { g.drawText(dc, l) })
	img, ok := canvas.Image().(*image.RGBA)
	if !ok {
		return fmt.Errorf("plot grid: the canvas is a %T, not RGBA", canvas.Image())
	}
	for p, panel := range g.Panels {
		for i, t := range panel.Tiles {
			at := l.ImageAt(p, i)
			if t.Wrong {
				frame(img, image.Rect(at.X, at.Y, at.X+l.imgW, at.Y+l.imgH).Inset(-frameWidth))
			}
			g.paint(img, at, l.Scale, t.Pixels)
		}
	}
	return writeCanvas(path, canvas)
}

// drawText writes the title, the panels' titles and the captions.
func (g Grid) drawText(dc draw.Canvas, l GridLayout) {
	// The canvas counts up from the bottom in points; the layout counts
	// down from the top in pixels.
	at := func(x, y int) vg.Point { return vg.Point{X: px(x), Y: px(l.Height - y)} }
	if g.Title != "" {
		dc.FillText(titleStyle, at(l.Width/2, margin), g.Title)
	}
	for p, panel := range g.Panels {
		if panel.Title != "" {
			x := l.Left + p*l.PanelStep + (l.PanelStep-panelGap)/2
			dc.FillText(headStyle, at(x, l.Top-headHeight+4), panel.Title)
		}
		for i, t := range panel.Tiles {
			c := l.cell(p, i)
			y := c.Y + l.imgH + 2*frameWidth + captionPad
			for k, line := range t.Lines {
				sty := captionStyle
				if t.Wrong && k == len(t.Lines)-1 {
					sty.Color = WrongColor
				}
				dc.FillText(sty, at(c.X+l.CellW/2, y+k*lineHeight), line)
			}
		}
	}
}

// paint copies an image of C planes into img at at, each pixel a
// scale×scale square.
func (g Grid) paint(img *image.RGBA, at image.Point, scale int, pixels []uint8) {
	hw := g.H * g.W
	for y := range g.H * scale {
		row := img.Pix[img.PixOffset(at.X, at.Y+y):]
		for x := range g.W * scale {
			p := y/scale*g.W + x/scale
			r, gr, b := pixels[p], pixels[p], pixels[p]
			if g.C == 3 {
				gr, b = pixels[hw+p], pixels[2*hw+p]
			}
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = r, gr, b, 255
		}
	}
}

// frame paints the border of r, frameWidth pixels wide, in WrongColor.
func frame(img *image.RGBA, r image.Rectangle) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if y < r.Min.Y+frameWidth || y >= r.Max.Y-frameWidth || x < r.Min.X+frameWidth || x >= r.Max.X-frameWidth {
				img.SetRGBA(x, y, WrongColor)
			}
		}
	}
}
