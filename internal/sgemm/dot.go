package sgemm

import (
	"fmt"
	"unsafe"
)

// DotRows adds to C the dot products of rows given by offsets: for i <
// len(aRows) and j < len(bRows),
//
//	C[i·ldc+j] += Σ_{t<count} Σ_{p<k} a[aRows[i] + t·aStride + p] · b[bRows[j] + t·bStride + p].
//
// It is the product A·Bᵀ for the case Gemm serves worst: few rows, a long
// inner dimension, and rows that are windows into larger arrays rather than
// a matrix with one stride (the convolution's weight gradient reads the
// input's shifted rows in place, so nothing is unfolded or transposed). The
// t sum lets one call cover a batch of images laid out count times with the
// given strides.
//
// Tiles of 6×4 or 4×4 elements are computed at once, each row read once
// per tile. Each element is accumulated 16 values of p at a time in a fixed
// order and reduced once per call, so results do not depend on how callers
// group the rows.
func DotRows(k, count int, a []float32, aRows []int, aStride int, b []float32, bRows []int, bStride int, c []float32, ldc int) {
	if err := checkRows("a", k, count, len(a), aRows, aStride); err != nil {
		panic(err)
	}
	if err := checkRows("b", k, count, len(b), bRows, bStride); err != nil {
		panic(err)
	}
	m, n := len(aRows), len(bRows)
	if m == 0 || n == 0 {
		return
	}
	if ldc < n || len(c) < (m-1)*ldc+n {
		panic(fmt.Sprintf("sgemm: DotRows: C has %d elements and ldc %d, needs %d×%d", len(c), ldc, m, n))
	}
	if k == 0 || count == 0 {
		return
	}
	var ap4, bp [4]*float32
	var ap6 [6]*float32
	var out [24]float32
	for i0 := 0; i0 < m; {
		// Tiles of 6 rows while 5 or more remain, then of 4: 6-channel
		// layers fill one 6-row tile, 16-channel ones 6 + 6 + 4.
		rows, tile := min(6, m-i0), 6
		if m-i0 <= 4 {
			rows, tile = m-i0, 4
		}
		for r := range tile {
			p := &a[aRows[i0+min(r, rows-1)]] // an edge tile repeats its last row
			if tile == 6 {
				ap6[r] = p
			} else {
				ap4[r] = p
			}
		}
		for j0 := 0; j0 < n; j0 += 4 {
			cols := min(4, n-j0)
			for r := range 4 {
				bp[r] = &b[bRows[j0+min(r, cols-1)]]
			}
			if tile == 6 {
				dot6x4(k, count, &ap6, &bp, aStride, bStride, &out)
			} else {
				dot4x4(k, count, &ap4, &bp, aStride, bStride, (*[16]float32)(out[:16]))
			}
			for r := range rows {
				dst := c[(i0+r)*ldc+j0 : (i0+r)*ldc+j0+cols]
				for j := range dst {
					dst[j] += out[4*r+j]
				}
			}
		}
		i0 += rows
	}
}

// checkRows says whether every row of a DotRows operand lies inside it.
func checkRows(name string, k, count, length int, rows []int, stride int) error {
	if k < 0 || count < 0 || stride < 0 {
		return fmt.Errorf("sgemm: DotRows: negative k=%d, count=%d or %s stride %d", k, count, name, stride)
	}
	if k == 0 || count == 0 {
		return nil
	}
	for _, off := range rows {
		if off < 0 || off+(count-1)*stride+k > length {
			return fmt.Errorf("sgemm: DotRows: row of %s at %d (k=%d, %d×stride %d) runs past its %d values", name, off, k, count, stride, length)
		}
	}
	return nil
}

// dot4x4Go is the portable dot4x4, with the same order of additions: 16
// lanes of partial sums, each reduced as the assembly does.
func dot4x4Go(k, count int, a, b *[4]*float32, aStride, bStride int, out *[16]float32) {
	dotTileGo(k, count, a[:], b[:], aStride, bStride, out[:])
}

// dot6x4Go is dot4x4Go for 6 rows of a.
func dot6x4Go(k, count int, a *[6]*float32, b *[4]*float32, aStride, bStride int, out *[24]float32) {
	dotTileGo(k, count, a[:], b[:], aStride, bStride, out[:])
}

func dotTileGo(k, count int, a, b []*float32, aStride, bStride int, out []float32) {
	for i := range a {
		for j := range b {
			var lanes [16]float32
			ar := unsafeRow(a[i], (count-1)*aStride+k)
			br := unsafeRow(b[j], (count-1)*bStride+k)
			for t := range count {
				x, y := ar[t*aStride:t*aStride+k], br[t*bStride:t*bStride+k]
				for p := range x {
					lanes[p%16] += x[p] * y[p]
				}
			}
			out[len(b)*i+j] = reduce16(&lanes)
		}
	}
}

// reduce16 sums 16 lanes as the assembly does: the upper 8 onto the lower,
// then the upper 4 of those, then lanes 2 and 3 onto 0 and 1, then 1 onto 0.
func reduce16(l *[16]float32) float32 {
	var h [8]float32
	for i := range h {
		h[i] = l[i] + l[i+8]
	}
	var q [4]float32
	for i := range q {
		q[i] = h[i] + h[i+4]
	}
	p0, p1 := q[0]+q[2], q[1]+q[3]
	return p0 + p1
}

// unsafeRow is the n floats from p.
func unsafeRow(p *float32, n int) []float32 { return unsafe.Slice(p, n) }
