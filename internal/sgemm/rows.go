package sgemm

import "fmt"

// GemmRows is Gemm for a B given as rows at offsets rather than a matrix
// with one stride: C ← α·A·B + β·C, A m×k row-major (lda), B's row p the n
// values b[bRows[p] :], C m×n (ldc).
//
// It serves a convolution that multiplies its weights by shifted windows of
// an image (the wide layout's rows start at c·H·W + ki·W + kj): the kernels
// read the image where it is instead of a copy unfolded row by row. Where
// the selected kernels cannot read rows at offsets (AVX2, plain Go), or A
// has more rows than B is read in place for, the rows are packed first; the
// result is the same either way.
func GemmRows(m, n, k int, alpha float32, a []float32, lda int, b []float32, bRows []int, beta float32, c []float32, ldc int) {
	if err := checkGemmRows(m, n, k, len(a), lda, len(b), bRows, len(c), ldc); err != nil {
		panic(err)
	}
	im, overwrite, done := start(m, n, k, alpha, beta, c, ldc)
	if done {
		return
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	inPlace := m <= im.directM && im.rows != nil
	for j0 := 0; j0 < n; j0 += im.nc {
		nb := min(im.nc, n-j0)
		for p0 := 0; p0 < k; p0 += im.kc {
			kb := min(im.kc, k-p0)
			offs := bRows[p0 : p0+kb]
			if inPlace {
				if tail := nb % im.nr; tail != 0 {
					packRows(im.nr, b, offs, j0+nb-tail, tail, ws.b)
				}
			} else {
				for s := 0; s < nb; s += im.nr {
					packRows(im.nr, b, offs, j0+s, min(im.nr, nb-s), ws.b[s*kb:])
				}
			}
			for i0 := 0; i0 < m; i0 += im.mc {
				mb := min(im.mc, m-i0)
				packA(im.mr, false, a, lda, i0, p0, mb, kb, alpha, ws.a)
				if inPlace {
					macroRows(im, mb, nb, kb, ws.a, ws.b, b[j0:], offs, c[i0*ldc+j0:], ldc, overwrite, &ws.tile)
				} else {
					macro(im, mb, nb, kb, ws.a, ws.b, nil, 0, c[i0*ldc+j0:], ldc, overwrite, &ws.tile)
				}
			}
		}
	}
}

// packRows copies columns j0 … j0+cols−1 of the rows at offs into a strip
// of nr columns (zero past cols), row p at p·nr.
func packRows(nr int, b []float32, offs []int, j0, cols int, strip []float32) {
	strip = strip[:len(offs)*nr]
	if cols < nr {
		clear(strip)
	}
	for p, off := range offs {
		copy(strip[p*nr:p*nr+cols], b[off+j0:off+j0+cols])
	}
}

// macroRows is macro with B read in place through row offsets: full strips
// of columns by the rows kernels, the last, partial one from its packed
// copy in pb.
func macroRows(im *impl, mb, nb, kb int, pa, pb, b []float32, offs []int, c []float32, ldc int, overwrite bool, tile *[maxMR * maxNR]float32) {
	mr, nr := im.mr, im.nr
	kernel, rowKernel := im.kernel, im.rows
	if overwrite {
		kernel, rowKernel = im.store, im.storeRows
	}
	for js := 0; js < nb; js += nr {
		cols := min(nr, nb-js)
		for is := 0; is < mb; is += mr {
			as := pa[is*kb:]
			rows := min(mr, mb-is)
			if rows == mr && cols == nr {
				rowKernel(kb, &as[0], &b[js], &c[is*ldc+js], ldc, &offs[0])
				continue
			}
			clear(tile[:mr*nr])
			if cols == nr {
				rowKernel(kb, &as[0], &b[js], &tile[0], nr, &offs[0])
			} else {
				kernel(kb, &as[0], &pb[0], &tile[0], nr, nr)
			}
			flushTile(tile[:], nr, rows, cols, c[is*ldc+js:], ldc, overwrite)
		}
	}
}

func checkGemmRows(m, n, k, la, lda, lb int, bRows []int, lc, ldc int) error {
	switch {
	case m < 0 || n < 0 || k < 0:
		return fmt.Errorf("sgemm: GemmRows: negative dimension m=%d n=%d k=%d", m, n, k)
	case len(bRows) != k:
		return fmt.Errorf("sgemm: GemmRows: %d row offsets for k=%d", len(bRows), k)
	case lda < max(1, k) || ldc < max(1, n):
		return fmt.Errorf("sgemm: GemmRows: lda %d or ldc %d too small", lda, ldc)
	case m > 0 && k > 0 && la < (m-1)*lda+k:
		return fmt.Errorf("sgemm: GemmRows: A has %d elements, needs %d", la, (m-1)*lda+k)
	case m > 0 && n > 0 && lc < (m-1)*ldc+n:
		return fmt.Errorf("sgemm: GemmRows: C has %d elements, needs %d", lc, (m-1)*ldc+n)
	}
	for p, off := range bRows {
		if off < 0 || off+n > lb {
			return fmt.Errorf("sgemm: GemmRows: row %d at %d runs past B's %d values", p, off, lb)
		}
	}
	return nil
}
