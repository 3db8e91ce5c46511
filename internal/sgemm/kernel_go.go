package sgemm

import "unsafe"

// goImpl is the portable implementation, 6×16 tiles in plain Go.
var goImpl = &impl{name: "go", mr: goMR, nr: goNR, kc: 256, mc: 96, nc: 512, directM: 256, kernel: kernelGo}

const goMR, goNR = 6, 16

// kernelGo adds the product of a packed A strip (k×mr) and a packed B strip
// (k×nr, row stride ldb: nr when packed) into the mr×nr tile at c (row stride
// ldc), for goImpl's mr and nr.
func kernelGo(k int, a, b, c *float32, ldc, ldb int) {
	const mr, nr = goMR, goNR
	if k == 0 {
		return
	}
	as := unsafe.Slice(a, k*mr)
	bs := unsafe.Slice(b, (k-1)*ldb+nr)
	var acc [mr][nr]float32
	for p := 0; p < k; p++ {
		brow := bs[p*ldb : p*ldb+nr]
		for r := 0; r < mr; r++ {
			av := as[p*mr+r]
			row := &acc[r]
			for j, bv := range brow {
				row[j] += av * bv
			}
		}
	}
	cs := unsafe.Slice(c, (mr-1)*ldc+nr)
	for r := 0; r < mr; r++ {
		dst := cs[r*ldc : r*ldc+nr]
		for j := range dst {
			dst[j] += acc[r][j]
		}
	}
}
