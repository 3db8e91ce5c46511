// Package vec holds the float32 loops the CPU backend runs over whole
// tensors: ReLU forward and backward, adding one slice into another, and
// sums. On amd64 with AVX-512 they are assembly, 16 values per instruction
// (vec_avx512_amd64.s); elsewhere plain Go with the same results, NaN and
// signed zeros included.
//
// They are here rather than in the backend because Go does not vectorize
// loops: over the activations of a small CNN's first layer, a plain loop
// took as long as the layer's matrix product.
package vec

import (
	"fmt"
	"unsafe"
)

// ReLU sets dst[i] = max(src[i], 0) as PyTorch's relu does: NaN stays NaN,
// and −0 stays −0 (the comparison 0 > −0 is false).
func ReLU(dst, src []float32) {
	mustMatch("ReLU", len(dst), len(src))
	relu(dst, src)
}

// ReLUGrad sets dx[i] = dy[i] where out[i] > 0 or out[i] is NaN, else 0:
// PyTorch's threshold_backward(dy, out, 0), which passes the gradient
// unless out ≤ 0.
func ReLUGrad(dx, dy, out []float32) {
	mustMatch("ReLUGrad", len(dx), len(dy))
	mustMatch("ReLUGrad", len(dx), len(out))
	reluGrad(dx, dy, out)
}

// AddTo adds src into dst.
func AddTo(dst, src []float32) {
	mustMatch("AddTo", len(dst), len(src))
	addTo(dst, src)
}

// AddScalar sets dst[i] = src[i] + c.
func AddScalar(dst, src []float32, c float32) {
	mustMatch("AddScalar", len(dst), len(src))
	addScalar(dst, src, c)
}

// AddScalarRows sets dst[r·dstStride+j] = src[r·srcStride+j] + c for r <
// rows and j < cols: AddScalar over the lines of two matrices at once.
func AddScalarRows(dst []float32, dstStride int, src []float32, srcStride int, rows, cols int, c float32) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if dstStride < cols || srcStride < cols || len(dst) < (rows-1)*dstStride+cols || len(src) < (rows-1)*srcStride+cols {
		panic(fmt.Sprintf("vec: AddScalarRows of %d×%d from %d values (stride %d) into %d (stride %d)", rows, cols, len(src), srcStride, len(dst), dstStride))
	}
	addScalarRows(&dst[0], dstStride, &src[0], srcStride, rows, cols, c)
}

// Sum is the sum of x, accumulated in 64 lanes (x[i] into lane i mod 64)
// that are then added pairwise: the same order on every machine.
func Sum(x []float32) float32 { return sum(x) }

func mustMatch(name string, a, b int) {
	if a != b {
		panic(fmt.Sprintf("vec: %s of %d and %d values", name, a, b))
	}
}

func reluGo(dst, src []float32) {
	for i, v := range src {
		if 0 > v {
			v = 0
		}
		dst[i] = v
	}
}

func reluGradGo(dx, dy, out []float32) {
	for i, y := range out {
		if y <= 0 {
			dx[i] = 0
		} else {
			dx[i] = dy[i]
		}
	}
}

func addToGo(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

func addScalarGo(dst, src []float32, c float32) {
	for i, v := range src {
		dst[i] = v + c
	}
}

func addScalarRowsGo(dstp *float32, dstStride int, srcp *float32, srcStride int, rows, cols int, c float32) {
	dst, src := unsafeSlice(dstp, (rows-1)*dstStride+cols), unsafeSlice(srcp, (rows-1)*srcStride+cols)
	for r := range rows {
		addScalarGo(dst[r*dstStride:r*dstStride+cols], src[r*srcStride:r*srcStride+cols], c)
	}
}

func sumGo(x []float32) float32 {
	var lanes [64]float32
	for i, v := range x {
		lanes[i%64] += v
	}
	return reduceLanes(&lanes)
}

// reduceLanes adds the 64 lanes as the assembly does: the four vectors of
// 16 into one (0+1, 2+3, then the two), then its halves, quarters and pairs.
func reduceLanes(l *[64]float32) float32 {
	var v [16]float32
	for i := range v {
		v[i] = (l[i] + l[16+i]) + (l[32+i] + l[48+i])
	}
	var h [8]float32
	for i := range h {
		h[i] = v[i] + v[i+8]
	}
	var q [4]float32
	for i := range q {
		q[i] = h[i] + h[i+4]
	}
	return (q[0] + q[2]) + (q[1] + q[3])
}

func unsafeSlice[T any](p *T, n int) []T { return unsafe.Slice(p, n) }
