// Package sgemm multiplies float32 matrices: C ← α·op(A)·op(B) + β·C, row-major,
// with the arguments of BLAS's Sgemm (and of gonum's, which it replaces on the
// training path).
//
// It is a blocked product in the manner of BLIS: panels of A and B are packed
// into contiguous strips and a micro-kernel computes mr×nr tiles of C. The
// micro-kernel is chosen at run time (impls, kernel_amd64.go): on amd64 with
// AVX-512 an 8×32 assembly kernel (16 ZMM accumulators, A's values broadcast
// inside the FMAs), with AVX2 and FMA a 6×16 one (12 YMM accumulators), which
// also serves products of at most 6 rows where AVX-512 is selected;
// elsewhere plain Go. When op(A) has few rows and B is not transposed the
// kernel reads B in place rather than packing it. The product is
// single-threaded: callers split their work across cores themselves (the
// convolution spreads chunks of images over workers), which keeps results
// independent of how many cores run them. Every path computes each element
// of C as the same sequence of multiply-adds over p within each kc block
// (kc depends on the kernel), whether its tile is full or at an edge and B
// packed or not, so splitting the columns between callers does not change
// the result; different kernels may differ in the last bits.
package sgemm

import (
	"fmt"
)

// impl is one micro-kernel with its tile and block sizes. A tile of C is
// mr×nr; packed A blocks are mc×kc (L2) and packed B blocks kc×nc; a B
// micro-panel, kc×nr, is reused across the A strips and should stay in L1.
type impl struct {
	name       string
	mr, nr     int
	kc, mc, nc int
	directM    int   // up to this many rows of op(A), B is read in place, not packed
	narrow     *impl // if not nil, used for products of at most narrow.mr rows
	kernel     func(k int, a, b, c *float32, ldc, ldb int)
	// store, if not nil, is kernel writing the tile over C instead of
	// adding to it: for β = 0 products of one block of k.
	store func(k int, a, b, c *float32, ldc, ldb int)
	// rows and storeRows, if not nil, are kernel and store reading B's row
	// p at b + offs[p] (GemmRows).
	rows, storeRows func(k int, a, b, c *float32, ldc int, offs *int)
}

// use is the implementation Gemm runs: the first of impls, the fastest this
// CPU supports. Tests set it to force each path.
var use = impls[0]

// Bounds over all implementations, for the workspace.
const (
	maxMR, maxNR = 8, 32
	maxA         = 128 * 256  // mc·kc
	maxB         = 256 * 1024 // kc·nc, nc a multiple of nr
)

// Gemm computes C ← α·op(A)·op(B) + β·C where op(A) is m×k, op(B) is k×n and
// C is m×n, all row-major with leading dimensions lda, ldb, ldc. transA and
// transB say whether A and B are stored transposed.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if err := check(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		panic(err) // a programming error, as in gonum's BLAS
	}
	im, overwrite, done := start(m, n, k, alpha, beta, c, ldc)
	if done {
		return
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	mc, nc, kc := im.mc, im.nc, im.kc
	// With few rows of A, packing B costs as much as the product: the
	// kernel then reads B's rows in place (only the last, partial strip
	// of columns is packed, zero-padded).
	direct := !transB && m <= im.directM
	for j0 := 0; j0 < n; j0 += nc {
		nb := min(nc, n-j0)
		for p0 := 0; p0 < k; p0 += kc {
			kb := min(kc, k-p0)
			var bd []float32
			if direct {
				bd = b[p0*ldb+j0:]
				if tail := nb % im.nr; tail != 0 {
					packB(im.nr, false, b, ldb, p0, j0+nb-tail, kb, tail, ws.b)
				}
			} else {
				packB(im.nr, transB, b, ldb, p0, j0, kb, nb, ws.b)
			}
			for i0 := 0; i0 < m; i0 += mc {
				mb := min(mc, m-i0)
				packA(im.mr, transA, a, lda, i0, p0, mb, kb, alpha, ws.a)
				macro(im, mb, nb, kb, ws.a, ws.b, bd, ldb, c[i0*ldc+j0:], ldc, overwrite, &ws.tile)
			}
		}
	}
}

// start begins a product of m rows: it picks the implementation, and
// either reports that tiles will be stored over C (overwrite) or applies β
// to C itself. done means nothing is left to add (an empty C, k = 0 or
// α = 0).
//
// With β = 0 and k in one block, tiles are stored over C: no pass clearing
// it first, no loads of it (half the traffic of products with small k, such
// as the convolution's input gradient).
func start(m, n, k int, alpha, beta float32, c []float32, ldc int) (im *impl, overwrite, done bool) {
	if m == 0 || n == 0 {
		return nil, false, true
	}
	im = use
	if im.narrow != nil && m <= im.narrow.mr {
		im = im.narrow
	}
	overwrite = beta == 0 && alpha != 0 && k > 0 && k <= im.kc && im.store != nil
	if !overwrite {
		scale(m, n, beta, c, ldc)
	}
	return im, overwrite, k == 0 || alpha == 0
}

// workspace holds the packed panels (1.1 MB), reused across calls so that a
// small product does not pay for allocating them, and a training step
// allocates nothing once each goroutine that multiplies has had one.
type workspace struct {
	a, b []float32
	tile [maxMR * maxNR]float32
}

// freeWorkspaces keeps workspaces between calls. Unlike a sync.Pool it does
// not drop them at every garbage collection, which would make steady-state
// training allocate again.
var freeWorkspaces = make(chan *workspace, 64)

func getWorkspace() *workspace {
	select {
	case ws := <-freeWorkspaces:
		return ws
	default:
		return &workspace{a: make([]float32, maxA), b: make([]float32, maxB)}
	}
}

func putWorkspace(ws *workspace) {
	select {
	case freeWorkspaces <- ws:
	default: // more goroutines multiplied at once than we keep: let it go
	}
}

func check(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("sgemm: negative dimension m=%d n=%d k=%d", m, n, k)
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	switch {
	case lda < max(1, colsA):
		return fmt.Errorf("sgemm: lda %d < %d", lda, colsA)
	case ldb < max(1, colsB):
		return fmt.Errorf("sgemm: ldb %d < %d", ldb, colsB)
	case ldc < max(1, n):
		return fmt.Errorf("sgemm: ldc %d < %d", ldc, n)
	case rowsA > 0 && colsA > 0 && la < (rowsA-1)*lda+colsA:
		return fmt.Errorf("sgemm: A has %d elements, needs %d", la, (rowsA-1)*lda+colsA)
	case rowsB > 0 && colsB > 0 && lb < (rowsB-1)*ldb+colsB:
		return fmt.Errorf("sgemm: B has %d elements, needs %d", lb, (rowsB-1)*ldb+colsB)
	case m > 0 && n > 0 && lc < (m-1)*ldc+n:
		return fmt.Errorf("sgemm: C has %d elements, needs %d", lc, (m-1)*ldc+n)
	}
	return nil
}

// scale multiplies C by beta; beta 0 clears it (so NaNs in C do not survive,
// as BLAS specifies).
func scale(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// packA copies α·op(A)[i0:i0+mb, p0:p0+kb] into dst as strips of mr rows:
// strip s holds, for each p, the mr values of rows s·mr … s·mr+mr−1 (zero
// past mb). Each source row or column is read contiguously.
func packA(mr int, trans bool, a []float32, lda, i0, p0, mb, kb int, alpha float32, dst []float32) {
	for s := 0; s < mb; s += mr {
		strip := dst[s*kb : s*kb+mr*kb]
		rows := min(mr, mb-s)
		if rows < mr {
			clear(strip)
		}
		if trans { // op(A)'s column p is stored as row p0+p of a
			if rows == 8 && mr == 8 {
				for p := 0; p < kb; p++ {
					src := a[(p0+p)*lda+i0+s : (p0+p)*lda+i0+s+8 : (p0+p)*lda+i0+s+8]
					o := strip[p*8 : p*8+8 : p*8+8]
					o[0], o[1], o[2], o[3] = alpha*src[0], alpha*src[1], alpha*src[2], alpha*src[3]
					o[4], o[5], o[6], o[7] = alpha*src[4], alpha*src[5], alpha*src[6], alpha*src[7]
				}
				continue
			}
			for p := 0; p < kb; p++ {
				src := a[(p0+p)*lda+i0+s : (p0+p)*lda+i0+s+rows]
				out := strip[p*mr : p*mr+rows]
				for r, v := range src {
					out[r] = alpha * v
				}
			}
			continue
		}
		if rows == 8 && mr == 8 {
			packA8(a[(i0+s)*lda+p0:], lda, kb, alpha, strip)
			continue
		}
		for r := 0; r < rows; r++ {
			src := a[(i0+s+r)*lda+p0 : (i0+s+r)*lda+p0+kb]
			for p, v := range src {
				strip[p*mr+r] = alpha * v
			}
		}
	}
}

// packA8 interleaves 8 rows of a (kb values each, lda apart) into strip, one
// p at a time, so that the strip is written contiguously: the common case of
// the 8-row tiles, where writing each row at a stride of 8 costs more than
// the product on short, deep matrices.
func packA8(a []float32, lda, kb int, alpha float32, strip []float32) {
	r0 := a[:kb]
	r1 := a[lda : lda+kb]
	r2 := a[2*lda : 2*lda+kb]
	r3 := a[3*lda : 3*lda+kb]
	r4 := a[4*lda : 4*lda+kb]
	r5 := a[5*lda : 5*lda+kb]
	r6 := a[6*lda : 6*lda+kb]
	r7 := a[7*lda : 7*lda+kb]
	strip = strip[:8*kb]
	start := 0
	if alpha == 1 && kb >= 8 && packAVX2() {
		start = kb &^ 7
		packA8AVX2(&a[0], lda, kb, &strip[0])
	}
	for p := start; p < kb; p++ {
		o := strip[p*8 : p*8+8 : p*8+8]
		o[0], o[1], o[2], o[3] = alpha*r0[p], alpha*r1[p], alpha*r2[p], alpha*r3[p]
		o[4], o[5], o[6], o[7] = alpha*r4[p], alpha*r5[p], alpha*r6[p], alpha*r7[p]
	}
}

// packB copies op(B)[p0:p0+kb, j0:j0+nb] into dst as strips of nr columns:
// strip s holds, for each p, the nr values of columns s·nr … (zero past nb).
func packB(nr int, trans bool, b []float32, ldb, p0, j0, kb, nb int, dst []float32) {
	for s := 0; s < nb; s += nr {
		strip := dst[s*kb : s*kb+nr*kb]
		cols := min(nr, nb-s)
		if cols < nr {
			clear(strip)
		}
		if trans { // op(B)'s column j is stored as row j0+s+j of b
			packBTrans(nr, b, ldb, p0, j0+s, kb, cols, strip)
			continue
		}
		for p := 0; p < kb; p++ {
			copy(strip[p*nr:p*nr+cols], b[(p0+p)*ldb+j0+s:])
		}
	}
}

// packBTrans transposes cols stored rows (a column each of op(B)) into a
// strip, eight p at a time so that each source row is read in runs and the
// strip is written in whole rows of nr.
func packBTrans(nr int, b []float32, ldb, p0, j0, kb, cols int, strip []float32) {
	var rows [maxNR][]float32
	for j := 0; j < cols; j++ {
		rows[j] = b[(j0+j)*ldb+p0 : (j0+j)*ldb+p0+kb]
	}
	p := 0
	for ; p+8 <= kb; p += 8 {
		out := strip[p*nr : (p+8)*nr]
		for j := 0; j < cols; j++ {
			src := rows[j][p : p+8]
			out[j], out[nr+j], out[2*nr+j], out[3*nr+j] = src[0], src[1], src[2], src[3]
			out[4*nr+j], out[5*nr+j], out[6*nr+j], out[7*nr+j] = src[4], src[5], src[6], src[7]
		}
	}
	for ; p < kb; p++ {
		for j := 0; j < cols; j++ {
			strip[p*nr+j] = rows[j][p]
		}
	}
}

// flushTile moves the valid rows×cols corner of an edge tile (row stride
// nr) into C: added, or with overwrite copied.
func flushTile(tile []float32, nr, rows, cols int, c []float32, ldc int, overwrite bool) {
	for r := 0; r < rows; r++ {
		dst := c[r*ldc : r*ldc+cols]
		if overwrite {
			copy(dst, tile[r*nr:r*nr+cols])
			continue
		}
		for j, v := range tile[r*nr : r*nr+cols] {
			dst[j] += v
		}
	}
}

// macro adds packed A (mb×kb) times B (kb×nb) into C, tile by tile, or
// with overwrite stores it over C. B is packed in pb, or, when bd is not
// nil, read in place from bd (row stride ldb) but for its last, partial
// strip of columns, which is packed in pb. Full tiles go straight to C; edge
// tiles are computed into tile and the valid part added (or copied).
func macro(im *impl, mb, nb, kb int, pa, pb, bd []float32, ldb int, c []float32, ldc int, overwrite bool, tile *[maxMR * maxNR]float32) {
	mr, nr, kernel := im.mr, im.nr, im.kernel
	if overwrite {
		kernel = im.store
	}
	for js := 0; js < nb; js += nr {
		cols := min(nr, nb-js)
		bs, bstride := pb[js*kb:], nr
		if bd != nil {
			bs, bstride = pb, nr
			if cols == nr {
				bs, bstride = bd[js:], ldb
			}
		}
		for is := 0; is < mb; is += mr {
			as := pa[is*kb:]
			rows := min(mr, mb-is)
			if rows == mr && cols == nr {
				kernel(kb, &as[0], &bs[0], &c[is*ldc+js], ldc, bstride)
				continue
			}
			clear(tile[:mr*nr])
			kernel(kb, &as[0], &bs[0], &tile[0], nr, bstride)
			flushTile(tile[:], nr, rows, cols, c[is*ldc+js:], ldc, overwrite)
		}
	}
}
