package vec

import "fmt"

// MaxPool2Plane pools a plane with 2×2 windows and stride 2: src holds lines
// of w values; for oy < ho and ox < wo, dst[oy·wo+ox] is the largest of the
// window at lines 2oy, 2oy+1 and columns 2ox, 2ox+1, and arg[oy·wo+ox] its
// index in src. Scanning the window line by line, a value replaces the
// maximum when it is greater or NaN: PyTorch's rule, so the first of equal
// values wins and NaN always does.
func MaxPool2Plane(src []float32, w, ho, wo int, dst []float32, arg []int32) {
	if ho < 0 || wo < 0 || 2*wo > w || len(src) < 2*ho*w || len(dst) < ho*wo || len(arg) < ho*wo {
		panic(fmt.Sprintf("vec: MaxPool2Plane of %d×%d outputs from %d values %d wide into %d and %d", ho, wo, len(src), w, len(dst), len(arg)))
	}
	if ho == 0 || wo == 0 {
		return
	}
	maxPool2Plane(&src[0], w, ho, wo, &dst[0], &arg[0])
}

func maxPool2PlaneGo(srcp *float32, w, ho, wo int, dstp *float32, argp *int32) {
	src, dst, arg := unsafeSlice(srcp, 2*ho*w), unsafeSlice(dstp, ho*wo), unsafeSlice(argp, ho*wo)
	for oy := range ho {
		base := 2 * oy * w
		r0, r1 := src[base:base+w], src[base+w:base+2*w]
		for ox := range wo {
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
			dst[oy*wo+ox], arg[oy*wo+ox] = best, int32(at)
		}
	}
}
