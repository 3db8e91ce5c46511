package datasets

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// refAugment is the plain definition of RandomCrop(padding=pad) followed by
// a horizontal flip: build the zero-padded image, cut the window at (top,
// left), mirror it.
func refAugment(src []uint8, c, h, w, pad, top, left int, flip bool) []uint8 {
	ph, pw := h+2*pad, w+2*pad
	padded := make([]uint8, c*ph*pw)
	for ch := range c {
		for y := range h {
			for x := range w {
				padded[(ch*ph+y+pad)*pw+x+pad] = src[(ch*h+y)*w+x]
			}
		}
	}
	out := make([]uint8, c*h*w)
	for ch := range c {
		for y := range h {
			for x := range w {
				sx := x
				if flip {
					sx = w - 1 - x
				}
				out[(ch*h+y)*w+x] = padded[(ch*ph+y+top)*pw+sx+left]
			}
		}
	}
	return out
}

func randomImage(c, h, w int) []uint8 {
	rng := rand.New(rand.NewPCG(1, 2))
	img := make([]uint8, c*h*w)
	for i := range img {
		img[i] = uint8(1 + rng.IntN(255)) // never 0, so padding shows
	}
	return img
}

func TestCropFlip(t *testing.T) {
	const c, h, w, pad = 2, 5, 7, 4 // not square, padding close to the short side
	src := randomImage(c, h, w)
	dst := make([]uint8, len(src))
	at := func(img []uint8, ch, y, x int) uint8 { return img[(ch*h+y)*w+x] }

	cropFlip(dst, src, c, h, w, pad, pad, pad, false)
	if !slices.Equal(dst, src) {
		t.Errorf("offset (%d,%d) without flip is not the identity", pad, pad)
	}

	cropFlip(dst, src, c, h, w, pad, 0, 0, false)
	for ch := range c {
		for y := range h {
			for x := range w {
				want := uint8(0)
				if y >= pad && x >= pad {
					want = at(src, ch, y-pad, x-pad) // shifted down and right
				}
				if got := at(dst, ch, y, x); got != want {
					t.Fatalf("offset (0,0): channel %d (%d,%d) = %d, want %d", ch, y, x, got, want)
				}
			}
		}
	}

	cropFlip(dst, src, c, h, w, pad, pad, pad, true)
	for ch := range c {
		for y := range h {
			row := slices.Clone(src[(ch*h+y)*w : (ch*h+y+1)*w])
			slices.Reverse(row)
			if got := dst[(ch*h+y)*w : (ch*h+y+1)*w]; !slices.Equal(got, row) {
				t.Fatalf("flip: channel %d row %d = %v, want %v", ch, y, got, row)
			}
		}
	}

	// Every offset and flip against the plain definition, into a dirty
	// buffer: every byte must be written.
	for top := range 2*pad + 1 {
		for left := range 2*pad + 1 {
			for _, flip := range []bool{false, true} {
				for i := range dst {
					dst[i] = 0xAA
				}
				cropFlip(dst, src, c, h, w, pad, top, left, flip)
				if want := refAugment(src, c, h, w, pad, top, left, flip); !slices.Equal(dst, want) {
					t.Fatalf("offset (%d,%d) flip %v:\n got %v\nwant %v", top, left, flip, dst, want)
				}
			}
		}
	}
}

// coordImage is a 3xhxw image that tells where each pixel came from:
// channel 0 holds row+1, channel 1 column+1, channel 2 a constant, so no
// image pixel is 0 and padding is recognisable in every channel.
func coordImage(h, w int) []uint8 {
	img := make([]uint8, 3*h*w)
	for y := range h {
		for x := range w {
			img[y*w+x] = uint8(y + 1)
			img[(h+y)*w+x] = uint8(x + 1)
			img[(2*h+y)*w+x] = 200
		}
	}
	return img
}

// decoder maps normalized values back to bytes, per channel, with the same
// float32 arithmetic as torchvision.
type decoder []map[float32]uint8

func newDecoder(mean, std []float32) decoder {
	d := make(decoder, len(mean))
	for c := range d {
		d[c] = make(map[float32]uint8, 256)
		for b := range 256 {
			d[c][(float32(b)/255-mean[c])/std[c]] = uint8(b)
		}
	}
	return d
}

func (d decoder) decode(t *testing.T, img []float32, hw int) []uint8 {
	t.Helper()
	out := make([]uint8, len(img))
	for i, v := range img {
		b, ok := d[i/hw][v]
		if !ok {
			t.Fatalf("value %v at %d is no normalized byte of channel %d", v, i, i/hw)
		}
		out[i] = b
	}
	return out
}

type augmentation struct {
	top, left int
	flip      bool
}

// inferAugment finds the crop offset and flip that turn src (a coordImage)
// into got, checking that they reproduce got exactly.
func inferAugment(t *testing.T, src, got []uint8, h, w, pad int) augmentation {
	t.Helper()
	for p := range h * w {
		if got[p] == 0 {
			continue
		}
		y, x := p/w, p%w
		sy, sx := int(got[p])-1, int(got[h*w+p])-1
		top := sy - y + pad
		var found []augmentation
		for _, flip := range []bool{false, true} {
			left := sx - x + pad
			if flip {
				left = sx - (w - 1 - x) + pad
			}
			if top < 0 || top > 2*pad || left < 0 || left > 2*pad {
				continue
			}
			if slices.Equal(got, refAugment(src, 3, h, w, pad, top, left, flip)) {
				found = append(found, augmentation{top, left, flip})
			}
		}
		if len(found) != 1 {
			t.Fatalf("image matches %d crops: %v", len(found), found)
		}
		return found[0]
	}
	t.Fatal("image is all padding")
	return augmentation{}
}

// augmentations runs an epoch over n copies of a 3x32x32 coordImage and
// returns the augmentation of each image, in epoch order. Padding must
// decode as byte 0, that is (0-mean)/std exactly.
func augmentations(t *testing.T, cfg LoaderConfig, n, epoch int) []augmentation {
	t.Helper()
	const h, w = 32, 32
	img := coordImage(h, w)
	s := &Split{Name: "coords", N: n, C: 3, H: h, W: w, Images: make([]uint8, 0, n*len(img)), Labels: make([]uint8, n)}
	for range n {
		s.Images = append(s.Images, img...)
	}
	l, err := NewLoader(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dec := newDecoder(cfg.Normalize.Mean, cfg.Normalize.Std)
	var out []augmentation
	for b := range l.Epoch(epoch) {
		for j := range b.Size {
			got := dec.decode(t, b.Images[j*len(img):(j+1)*len(img)], h*w)
			out = append(out, inferAugment(t, img, got, h, w, cfg.RandomCrop))
		}
	}
	return out
}

var cifarNorm = Normalize{Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2023, 0.1994, 0.2010}}

func TestLoaderRandomCropAndFlip(t *testing.T) {
	const n = 2000
	for _, tc := range []struct {
		pad  int
		flip bool
	}{{4, true}, {4, false}, {0, true}, {2, true}} {
		t.Run(fmt.Sprintf("pad %d flip %v", tc.pad, tc.flip), func(t *testing.T) {
			cfg := LoaderConfig{BatchSize: 64, Shuffle: true, Seed: 11, Normalize: cifarNorm, RandomCrop: tc.pad, RandomFlip: tc.flip}
			augs := augmentations(t, cfg, n, 0)
			tops, lefts := make([]int, 2*tc.pad+1), make([]int, 2*tc.pad+1)
			flips, diagonal := 0, 0
			for _, a := range augs {
				tops[a.top]++
				lefts[a.left]++
				if a.flip {
					flips++
				}
				if a.top == a.left {
					diagonal++
				}
			}
			// Uniform in 0..2*pad, each way; generous bounds (about 5 sigma).
			k := float64(len(tops))
			lo, hi := int(n/k*0.6), int(n/k*1.4)+1
			for off := range tops {
				if tops[off] < lo || tops[off] > hi || lefts[off] < lo || lefts[off] > hi {
					t.Errorf("offset %d drawn %d times from the top, %d from the left; want each in %d..%d", off, tops[off], lefts[off], lo, hi)
				}
			}
			if tc.pad > 0 && (diagonal < lo || diagonal > hi) {
				t.Errorf("top == left %d times in %d: the offsets are not independent", diagonal, n)
			}
			switch {
			case !tc.flip && flips != 0:
				t.Errorf("%d flips without RandomFlip", flips)
			case tc.flip && (flips < n/2-120 || flips > n/2+120):
				t.Errorf("%d flips in %d images", flips, n)
			}
		})
	}
}

// The draws follow from (Seed, epoch) alone: not from the shuffle, not from
// timing.
func TestLoaderAugmentReproducible(t *testing.T) {
	cfg := LoaderConfig{BatchSize: 32, Shuffle: true, Seed: 5, Normalize: cifarNorm, RandomCrop: 4, RandomFlip: true}
	e0 := augmentations(t, cfg, 300, 0)
	if !slices.Equal(e0, augmentations(t, cfg, 300, 0)) {
		t.Error("same seed and epoch gave different augmentations")
	}
	if slices.Equal(e0, augmentations(t, cfg, 300, 1)) {
		t.Error("epochs 0 and 1 are augmented alike")
	}
	other := cfg
	other.Seed = 6
	if slices.Equal(e0, augmentations(t, other, 300, 0)) {
		t.Error("seeds 5 and 6 augment alike")
	}
	unshuffled := cfg
	unshuffled.Shuffle = false
	if !slices.Equal(e0, augmentations(t, unshuffled, 300, 0)) {
		t.Error("the augmentation depends on the shuffle")
	}

	// Whole batches of a real-looking split, two loaders with one seed.
	s := fakeSplit(200, 3, 8, 8)
	run := func() [][]float32 {
		l, err := NewLoader(s, LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 9, Normalize: cifarNorm, RandomCrop: 3, RandomFlip: true})
		if err != nil {
			t.Fatal(err)
		}
		var out [][]float32
		for b := range l.Epoch(2) {
			out = append(out, slices.Clone(b.Images))
		}
		return out
	}
	a, b := run(), run()
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Error("two loaders with the same seed gave different batches")
	}
}

// Pinned draws: a change here breaks the reproducibility of recorded runs.
func TestAugmentDrawsPinned(t *testing.T) {
	l, err := NewLoader(fakeSplit(1, 3, 32, 32), LoaderConfig{BatchSize: 1, Seed: 1, RandomCrop: 4, RandomFlip: true})
	if err != nil {
		t.Fatal(err)
	}
	var rng rand.PCG
	rng.Seed(1^augmentSalt, 0)
	var got []augmentation
	for range 6 {
		top, left, flip := l.drawAugment(&rng)
		got = append(got, augmentation{top, left, flip})
	}
	want := []augmentation{{0, 0, false}, {7, 5, false}, {2, 3, true}, {1, 3, true}, {3, 2, false}, {5, 4, false}}
	if !slices.Equal(got, want) {
		t.Errorf("draws %v, want %v", got, want)
	}
}

// Padding is a zero byte before normalization, as in torchvision, so it
// comes out as (0-mean)/std. Seed 1 draws offset (0, 0) without a flip for
// the first image (see TestAugmentDrawsPinned): the image moves 4 pixels
// down and right.
func TestLoaderPaddingIsNormalizedZero(t *testing.T) {
	const h, w, pad = 32, 32, 4
	src := randomImage(3, h, w)
	s := &Split{Name: "one", N: 1, C: 3, H: h, W: w, Images: src, Labels: []uint8{0}}
	l, err := NewLoader(s, LoaderConfig{BatchSize: 1, Seed: 1, Normalize: cifarNorm, RandomCrop: pad, RandomFlip: true})
	if err != nil {
		t.Fatal(err)
	}
	for b := range l.Epoch(0) {
		for c := range 3 {
			m, sd := cifarNorm.Mean[c], cifarNorm.Std[c]
			padding := (0 - m) / sd
			if padding > -2 {
				t.Fatalf("channel %d: padding %v, expected about -2.2 or below", c, padding)
			}
			for y := range h {
				for x := range w {
					got := b.Images[(c*h+y)*w+x]
					want := padding
					if y >= pad && x >= pad {
						want = (float32(src[(c*h+y-pad)*w+x-pad])/255 - m) / sd
					}
					if got != want {
						t.Fatalf("channel %d (%d,%d) = %v, want %v", c, y, x, got, want)
					}
				}
			}
		}
	}
}

// Filling a batch with augmentation allocates nothing, and neither does an
// epoch once the loader has its buffers.
func TestAugmentNoAllocations(t *testing.T) {
	s := fakeSplit(640, 3, 32, 32)
	l, err := NewLoader(s, LoaderConfig{BatchSize: 64, Shuffle: true, Normalize: cifarNorm, RandomCrop: 4, RandomFlip: true})
	if err != nil {
		t.Fatal(err)
	}
	buf := l.takeBuffers()
	l.order(buf.order, 0)
	var rng rand.PCG
	i := 0
	if allocs := testing.AllocsPerRun(20, func() {
		l.fill(buf.slots[0], i%l.NumBatches(), buf, &rng, nil)
		i++
	}); allocs != 0 {
		t.Errorf("%v allocations per augmented batch", allocs)
	}
	l.returnBuffers(buf)

	for range l.Epoch(0) {
	}
	epoch := 0
	if allocs := testing.AllocsPerRun(5, func() {
		epoch++
		for range l.Epoch(epoch) {
		}
	}); allocs > 30 {
		t.Errorf("%v allocations per augmented epoch", allocs)
	}
}
