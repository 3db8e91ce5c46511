package vec

import "fmt"

// MaxPool2Row pools one line of a 2×2 max-pool with stride 2: for ox < wo,
// dst[ox] is the largest of r0[2ox], r0[2ox+1], r1[2ox], r1[2ox+1] and
// arg[ox] its index in the plane, base + 2ox, +1 for the odd column, +w for
// r1 (base is r0's index, w the plane's width). Scanning in that order, a
// value replaces the maximum when it is greater or NaN: PyTorch's rule, so
// the first of equal values wins and NaN always does.
func MaxPool2Row(r0, r1 []float32, wo, base, w int, dst []float32, arg []int32) {
	if len(r0) < 2*wo || len(r1) < 2*wo || len(dst) < wo || len(arg) < wo {
		panic(fmt.Sprintf("vec: MaxPool2Row of %d outputs from lines of %d and %d into %d and %d", wo, len(r0), len(r1), len(dst), len(arg)))
	}
	if wo == 0 {
		return
	}
	maxPool2Row(&r0[0], &r1[0], wo, base, w, &dst[0], &arg[0])
}

func maxPool2RowGo(r0p, r1p *float32, wo, base, w int, dstp *float32, argp *int32) {
	r0, r1 := unsafeSlice(r0p, 2*wo), unsafeSlice(r1p, 2*wo)
	dst, arg := unsafeSlice(dstp, wo), unsafeSlice(argp, wo)
	for ox := range dst {
		a, b, c, e := r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1]
		best, at := a, base+2*ox
		if b > best || b != b {
			best, at = b, base+2*ox+1
		}
		if c > best || c != c {
			best, at = c, base+w+2*ox
		}
		if e > best || e != e {
			best, at = e, base+w+2*ox+1
		}
		dst[ox], arg[ox] = best, int32(at)
	}
}
