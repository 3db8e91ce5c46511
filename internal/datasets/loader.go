package datasets

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// Normalize holds per-channel mean and std (len == C), applied after scaling
// bytes to [0,1] as torchvision's Normalize does.
type Normalize struct{ Mean, Std []float32 }

// Stream constants keep the random streams of different uses apart, so that
// e.g. Permutation(s, n) and the shuffle of epoch 0 with seed s are unrelated.
const (
	permutationStream = 0x7065726d75746531 // "permute1"
	augmentSalt       = 0x6175676d656e7431 // "augment1"
)

// Permutation returns a fixed permutation of n pixel positions drawn from
// seed. The same seed and n give the same permutation on every platform and
// Go version: it uses the PCG generator of math/rand/v2 (a fully specified
// algorithm) with a Fisher-Yates shuffle whose bounded draws are done here
// rather than by library helpers that might change.
func Permutation(seed uint64, n int) []int {
	p := make([]int, max(n, 0))
	for i := range p {
		p[i] = i
	}
	var src rand.PCG
	src.Seed(seed, permutationStream)
	shuffle(p, &src)
	return p
}

// PermuteImage writes the image src (C planes of len(perm) bytes) into dst
// with its pixels moved as a Loader with that Permute moves them before
// normalizing: dst[p] = src[perm[p]] in every channel. It is how cnntrain
// shows what a permuted run sees.
func PermuteImage(dst, src []uint8, perm []int) error {
	hw := len(perm)
	if hw == 0 || len(src)%hw != 0 || len(dst) != len(src) {
		return fmt.Errorf("permute image: %d bytes into %d with a permutation of %d pixels", len(src), len(dst), hw)
	}
	for c := 0; c < len(src); c += hw {
		in, out := src[c:c+hw], dst[c:c+hw]
		for p, q := range perm {
			out[p] = in[q]
		}
	}
	return nil
}

// shuffle is Fisher-Yates driven by src.
func shuffle(s []int, src *rand.PCG) {
	for i := len(s) - 1; i > 0; i-- {
		j := uniform(src, uint64(i+1))
		s[i], s[j] = s[j], s[i]
	}
}

// uniform returns an unbiased draw from [0, n) using Lemire's multiply-shift
// method with rejection.
func uniform(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// Batch is one batch of an epoch. The loader owns it and reuses its memory:
// it is valid until the next batch is requested.
type Batch struct {
	Images []float32 // Size*C*H*W, normalized (and permuted)
	Labels []uint8   // Size
	Size   int
	Index  int // batch number within the epoch, from 0
	// Next is where the loader stands after this batch, for a checkpoint to
	// continue from. Its AugmentRNG shares the batch's memory: Clone it to
	// keep it.
	Next Position
}

// Position is a place in a loader's sequence of batches: the next batch of
// an epoch and the state of the augmentation stream before that batch. It is
// all a resumed run needs, since the minibatch order of an epoch is drawn
// from (Seed, epoch) alone.
type Position struct {
	Epoch int `json:"epoch"` // as Loader.Epoch counts, from 0
	Batch int `json:"batch"` // the next batch; NumBatches when the epoch is done
	// AugmentRNG is the augmentation stream's PCG state (MarshalBinary); nil
	// at an epoch's start and without augmentation.
	AugmentRNG []byte `json:"augment_rng,omitempty"`
}

// Clone returns p with its own copy of AugmentRNG.
func (p Position) Clone() Position {
	if p.AugmentRNG != nil {
		p.AugmentRNG = append([]byte(nil), p.AugmentRNG...)
	}
	return p
}

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	BatchSize int
	// Shuffle draws a new order each epoch, from (Seed, epoch) alone, so an
	// epoch's order is reproducible and differs between epochs.
	Shuffle bool
	Seed    uint64
	// Normalize is per-channel mean and std. Leaving both nil means no
	// normalization: pixels are just scaled to [0,1].
	Normalize Normalize
	// Permute optionally permutes the H*W pixel positions, identically for
	// every channel and image: out[p] = in[Permute[p]] (PyTorch:
	// data.view(-1, 784)[:, perm]).
	Permute []int
	// DropLast drops a final partial batch; otherwise it is kept (60000
	// images in batches of 64 give 938 batches, the last one of 32).
	DropLast bool

	// RandomCrop, if positive, is torchvision's RandomCrop((H, W),
	// padding=RandomCrop): each image is padded with RandomCrop zero bytes
	// on every side and an HxW window is cut out of that at a random
	// offset. As in torchvision it works on the raw bytes, before
	// normalization, so a padding pixel comes out as (0-mean)/std, not 0.
	// At most min(H, W).
	RandomCrop int
	// RandomFlip mirrors each image left-right with probability 1/2, after
	// the crop: torchvision's RandomHorizontalFlip().
	//
	// The random draws come from (Seed, epoch) alone, image after image in
	// epoch order: the crop's top offset, then its left offset, each uniform
	// in 0..2*RandomCrop, then the flip. So augmentation is reproducible,
	// and the same whether Shuffle is on or not. With Permute, pixels are
	// permuted after augmentation.
	RandomFlip bool

	// Workers is how many goroutines prepare a batch (crop, flip,
	// normalize), each a share of its images: 0 means GOMAXPROCS. The
	// batches are the same for every value: the random draws are made in
	// order first.
	Workers int
}

// Loader serves a Split as batches of normalized float32 images.
type Loader struct {
	split      *Split
	cfg        LoaderConfig
	hw, chw    int
	lut        [][256]float32 // per channel: the float value of each byte
	perm       []int          // nil when no (or the identity) permutation
	augment    bool           // RandomCrop or RandomFlip is on
	numBatches int

	mu    sync.Mutex
	spare *epochBuffers // reused by the next epoch; nil while one runs
}

// prefetch is how many batches the producer may have ready beyond the one
// the consumer holds.
const prefetch = 2

// epochBuffers is the memory an epoch works in: the sample order, a ring of
// batch slots, one held by the consumer and up to prefetch in flight, and
// with augmentation each worker's scratch image and the batch's draws.
type epochBuffers struct {
	order   []int
	slots   [prefetch + 1]*slot
	scratch [][]uint8
	draws   []augmentDraw
}

// augmentDraw is one image's augmentation.
type augmentDraw struct {
	top, left int
	flip      bool
}

// slot is one reusable batch. The backing arrays are kept apart from the
// Batch handed out, so a caller that reslices Batch.Images cannot shrink the
// memory of later batches.
type slot struct {
	batch  Batch
	images []float32
	labels []uint8
	rng    []byte // the augmentation stream's state after the batch
}

// NewLoader checks the split and cfg and prepares a loader.
func NewLoader(s *Split, cfg LoaderConfig) (*Loader, error) {
	if s == nil {
		return nil, errors.New("loader: nil split")
	}
	if s.N <= 0 || s.C <= 0 || s.H <= 0 || s.W <= 0 {
		return nil, fmt.Errorf("loader: split %q has shape %dx%dx%dx%d; every dimension must be positive", s.Name, s.N, s.C, s.H, s.W)
	}
	if len(s.Images) != s.N*s.ImageSize() || len(s.Labels) != s.N {
		return nil, fmt.Errorf("loader: split %q holds %d image bytes and %d labels, expected %d and %d for N=%d, %dx%dx%d",
			s.Name, len(s.Images), len(s.Labels), s.N*s.ImageSize(), s.N, s.N, s.C, s.H, s.W)
	}
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("loader: batch size %d, must be positive", cfg.BatchSize)
	}
	if cfg.Workers < 0 {
		return nil, fmt.Errorf("loader: %d workers, must be 0 (all cores) or more", cfg.Workers)
	}
	if cfg.DropLast && s.N < cfg.BatchSize {
		return nil, fmt.Errorf("loader: DropLast with batch size %d and only %d samples would give no batches", cfg.BatchSize, s.N)
	}
	l := &Loader{split: s, cfg: cfg, hw: s.H * s.W, chw: s.ImageSize()}

	mean, std := cfg.Normalize.Mean, cfg.Normalize.Std
	if mean == nil && std == nil {
		mean, std = make([]float32, s.C), make([]float32, s.C)
		for c := range std {
			std[c] = 1
		}
	}
	if len(mean) != s.C || len(std) != s.C {
		return nil, fmt.Errorf("loader: normalize has %d means and %d stds, split %q has %d channels", len(mean), len(std), s.Name, s.C)
	}
	l.lut = make([][256]float32, s.C)
	for c := range s.C {
		m, sd := float64(mean[c]), float64(std[c])
		if math.IsNaN(m) || math.IsInf(m, 0) || math.IsNaN(sd) || math.IsInf(sd, 0) || sd == 0 {
			return nil, fmt.Errorf("loader: channel %d has mean %v and std %v; both must be finite and std non-zero", c, mean[c], std[c])
		}
		// Exactly torchvision's float32 arithmetic: ToTensor divides by 255,
		// Normalize subtracts the mean and divides by the std. A table of the
		// 256 possible results makes the per-pixel work a lookup.
		for b := range 256 {
			x := float32(b) / 255
			l.lut[c][b] = (x - mean[c]) / std[c]
		}
	}

	if cfg.Permute != nil {
		if len(cfg.Permute) != l.hw {
			return nil, fmt.Errorf("loader: permutation has %d entries, images have %dx%d = %d pixels", len(cfg.Permute), s.H, s.W, l.hw)
		}
		seen := make([]bool, l.hw)
		identity := true
		for p, q := range cfg.Permute {
			if q < 0 || q >= l.hw {
				return nil, fmt.Errorf("loader: permutation entry %d is %d, outside 0..%d", p, q, l.hw-1)
			}
			if seen[q] {
				return nil, fmt.Errorf("loader: permutation entry %d repeats pixel %d; it is not a permutation", p, q)
			}
			seen[q] = true
			identity = identity && p == q
		}
		if !identity {
			// A private copy: the caller may reuse its slice.
			l.perm = append([]int(nil), cfg.Permute...)
		}
	}
	l.cfg.Permute = l.perm

	if pad, limit := cfg.RandomCrop, min(s.H, s.W); pad < 0 || pad > limit {
		return nil, fmt.Errorf("loader: random crop padding %d, must be in 0..%d (the shorter image side)", pad, limit)
	}
	l.augment = cfg.RandomCrop > 0 || cfg.RandomFlip

	l.numBatches = s.N / cfg.BatchSize
	if !cfg.DropLast && s.N%cfg.BatchSize != 0 {
		l.numBatches++
	}
	return l, nil
}

// BatchSize is the size of every batch but perhaps the last.
func (l *Loader) BatchSize() int { return l.cfg.BatchSize }

// NumBatches returns the number of batches per epoch.
func (l *Loader) NumBatches() int { return l.numBatches }

// NumSamples returns the number of samples per epoch (fewer than the split
// holds when DropLast drops a partial batch).
func (l *Loader) NumSamples() int {
	return min(l.numBatches*l.cfg.BatchSize, l.split.N)
}

// Epoch returns an iterator over the batches of epoch number epoch. A
// goroutine prepares batches up to two ahead of the consumer, so the training
// step rarely waits for data; leaving the loop early stops it. Each yielded
// batch is valid until the loop asks for the next one.
//
// Iterating the same epoch twice gives the same batches.
func (l *Loader) Epoch(epoch int) iter.Seq[*Batch] {
	seq, _ := l.From(Position{Epoch: epoch}) // an epoch's start is always valid
	return seq
}

// From is Epoch starting at pos, a Batch.Next of an earlier iteration: it
// yields exactly the batches that iteration went on to yield.
func (l *Loader) From(pos Position) (iter.Seq[*Batch], error) {
	var rng rand.PCG
	rng.Seed(l.cfg.Seed^augmentSalt, uint64(pos.Epoch))
	switch {
	case pos.Epoch < 0 || pos.Batch < 0 || pos.Batch > l.numBatches:
		return nil, fmt.Errorf("loader: position epoch %d, batch %d is outside 0..%d batches", pos.Epoch, pos.Batch, l.numBatches)
	case pos.AugmentRNG != nil:
		if !l.augment {
			return nil, errors.New("loader: position has an augmentation state but this loader does not augment")
		}
		if err := rng.UnmarshalBinary(pos.AugmentRNG); err != nil {
			return nil, fmt.Errorf("loader: position's augmentation state: %w", err)
		}
	case l.augment && pos.Batch > 0:
		return nil, fmt.Errorf("loader: position at batch %d lacks the augmentation stream's state", pos.Batch)
	}
	return func(yield func(*Batch) bool) {
		rng := rng // each iteration draws the same stream
		buf := l.takeBuffers()
		defer l.returnBuffers(buf)
		l.order(buf.order, pos.Epoch)

		free := make(chan *slot, len(buf.slots))
		ready := make(chan *slot, prefetch)
		for _, s := range buf.slots {
			free <- s
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { l.produce(pos.Epoch, pos.Batch, &rng, buf, free, ready, stop) })
		// Runs on normal end, early break and panic alike, and waits, so no
		// goroutine outlives the loop and the buffers are idle when returned.
		defer func() {
			close(stop)
			wg.Wait()
		}()

		var held *slot
		for s := range ready {
			if held != nil {
				free <- held // never blocks: free has room for every slot
			}
			held = s
			if !yield(&s.batch) {
				return
			}
		}
	}, nil
}

// produce fills batches first… in order, drawing augmentation from rng, and
// hands them to the consumer until the epoch is done or stop is closed.
func (l *Loader) produce(epoch, first int, rng *rand.PCG, buf *epochBuffers, free <-chan *slot, ready chan<- *slot, stop <-chan struct{}) {
	defer close(ready)
	pool, stopPool := l.startFillPool(buf)
	defer stopPool()
	for i := first; i < l.numBatches; i++ {
		var s *slot
		select {
		case s = <-free:
		case <-stop:
			return
		}
		l.fill(s, i, buf, rng, pool)
		s.batch.Next = Position{Epoch: epoch, Batch: i + 1}
		if l.augment {
			s.rng, _ = rng.AppendBinary(s.rng[:0]) // PCG's encoding cannot fail
			s.batch.Next.AugmentRNG = s.rng
		}
		select {
		case ready <- s:
		case <-stop:
			return
		}
	}
}

// fill computes batch i of the epoch into sl. With augmentation on, the
// batch's draws come from rng first, image after image, and each image is
// then cropped and flipped into its worker's scratch. The images are split
// among the caller and pool's helpers (nil: the caller does all).
func (l *Loader) fill(sl *slot, i int, buf *epochBuffers, rng *rand.PCG, pool *fillPool) {
	chw := l.chw
	start := i * l.cfg.BatchSize
	size := min(l.cfg.BatchSize, len(buf.order)-start)
	b := &sl.batch
	*b = Batch{Images: sl.images[:size*chw], Labels: sl.labels[:size], Size: size, Index: i}
	order := buf.order[start : start+size]
	if l.augment {
		for j := range order {
			d := &buf.draws[j]
			d.top, d.left, d.flip = l.drawAugment(rng)
		}
	}
	// A share below ~64 KB of output is not worth a hand-off.
	workers := 1
	if pool != nil {
		workers = min(1+pool.helpers, max(1, size*chw/(16<<10)))
	}
	for w := 1; w < workers; w++ {
		pool.work <- fillShare{b: b, order: order, w: w, lo: w * size / workers, hi: (w + 1) * size / workers}
	}
	l.fillImages(buf, fillShare{b: b, order: order, lo: 0, hi: size / workers})
	for w := 1; w < workers; w++ {
		<-pool.done
	}
}

// fillShare is images [lo, hi) of a batch, prepared by worker w.
type fillShare struct {
	b         *Batch
	order     []int
	w, lo, hi int
}

// fillPool is the helpers of an epoch's producer: they take shares from
// work and report each one done.
type fillPool struct {
	helpers int
	work    chan fillShare
	done    chan struct{}
}

// startFillPool starts the workers beyond the producer; stop ends them.
func (l *Loader) startFillPool(buf *epochBuffers) (pool *fillPool, stop func()) {
	helpers := len(buf.scratch) - 1
	if helpers == 0 {
		return nil, func() {}
	}
	pool = &fillPool{helpers: helpers, work: make(chan fillShare, helpers), done: make(chan struct{}, helpers)}
	var wg sync.WaitGroup
	for range helpers {
		wg.Go(func() {
			for sh := range pool.work {
				l.fillImages(buf, sh)
				pool.done <- struct{}{}
			}
		})
	}
	return pool, func() {
		close(pool.work)
		wg.Wait()
	}
}

func (l *Loader) fillImages(buf *epochBuffers, sh fillShare) {
	s, chw := l.split, l.chw
	for j := sh.lo; j < sh.hi; j++ {
		idx := sh.order[j]
		img := s.Images[idx*chw : (idx+1)*chw]
		if l.augment {
			d := buf.draws[j]
			cropFlip(buf.scratch[sh.w], img, s.C, s.H, s.W, l.cfg.RandomCrop, d.top, d.left, d.flip)
			img = buf.scratch[sh.w]
		}
		l.normalize(sh.b.Images[j*chw:(j+1)*chw], img)
		sh.b.Labels[j] = s.Labels[idx]
	}
}

func (l *Loader) workers() int {
	if l.cfg.Workers > 0 {
		return l.cfg.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// normalize turns one image of bytes into floats through the lookup table,
// permuting the pixels if asked to.
func (l *Loader) normalize(dst []float32, src []uint8) {
	hw := l.hw
	for c := range l.split.C {
		lut := &l.lut[c]
		in, out := src[c*hw:(c+1)*hw], dst[c*hw:(c+1)*hw]
		if l.perm == nil {
			for p, v := range in {
				out[p] = lut[v]
			}
		} else {
			for p, q := range l.perm {
				out[p] = lut[in[q]]
			}
		}
	}
}

// drawAugment draws the augmentation of one image: the crop offsets into the
// padded image (pad, pad when there is no crop: the image itself) and
// whether to flip. The order of the draws is part of reproducibility.
func (l *Loader) drawAugment(rng *rand.PCG) (top, left int, flip bool) {
	pad := l.cfg.RandomCrop
	top, left = pad, pad
	if pad > 0 {
		n := uint64(2*pad + 1)
		top = int(uniform(rng, n))
		left = int(uniform(rng, n))
	}
	flip = l.cfg.RandomFlip && uniform(rng, 2) == 1
	return top, left, flip
}

// cropFlip writes into dst the h x w window at offset (top, left) of src
// (c planes of h x w bytes) padded with pad zero bytes on every side,
// mirrored left-right if flip. Offset (pad, pad) without flip copies src.
func cropFlip(dst, src []uint8, c, h, w, pad, top, left int, flip bool) {
	dy, dx := top-pad, left-pad // output pixel (y, x) comes from (y+dy, x+dx)
	x0 := min(max(-dx, 0), w)   // the output columns [x0, x1) have a source
	x1 := max(min(w-dx, w), 0)
	for ch := range c {
		for y := range h {
			out := dst[(ch*h+y)*w : (ch*h+y+1)*w]
			sy := y + dy
			if sy < 0 || sy >= h || x0 >= x1 {
				clear(out)
				continue
			}
			in := src[(ch*h+sy)*w : (ch*h+sy+1)*w]
			clear(out[:x0])
			copy(out[x0:x1], in[x0+dx:x1+dx])
			clear(out[x1:])
			if flip {
				slices.Reverse(out)
			}
		}
	}
}

// order writes the sample order of epoch into dst: 0..N-1, shuffled by a
// generator seeded with (Seed, epoch) if Shuffle is set.
func (l *Loader) order(dst []int, epoch int) {
	for i := range dst {
		dst[i] = i
	}
	if l.cfg.Shuffle {
		var src rand.PCG
		src.Seed(l.cfg.Seed, uint64(epoch))
		shuffle(dst, &src)
	}
}

// takeBuffers hands out the spare buffers, or new ones if another epoch is
// using them (two epochs iterated at once). In the usual one-epoch-at-a-time
// use nothing is allocated after the first epoch.
func (l *Loader) takeBuffers() *epochBuffers {
	l.mu.Lock()
	buf := l.spare
	l.spare = nil
	l.mu.Unlock()
	if buf != nil {
		return buf
	}
	buf = &epochBuffers{order: make([]int, l.split.N), scratch: make([][]uint8, l.workers())}
	if l.augment {
		for w := range buf.scratch {
			buf.scratch[w] = make([]uint8, l.chw)
		}
		buf.draws = make([]augmentDraw, min(l.cfg.BatchSize, l.split.N))
	}
	// No batch holds more than the split: a batch size beyond it (1e7, say)
	// gives one batch of everything, as a PyTorch DataLoader does, not a
	// buffer the machine cannot allocate.
	per := min(l.cfg.BatchSize, l.split.N)
	for i := range buf.slots {
		buf.slots[i] = &slot{
			images: make([]float32, per*l.chw),
			labels: make([]uint8, per),
		}
	}
	return buf
}

func (l *Loader) returnBuffers(buf *epochBuffers) {
	l.mu.Lock()
	l.spare = buf
	l.mu.Unlock()
}
