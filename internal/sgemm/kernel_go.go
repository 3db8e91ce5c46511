package sgemm

import "unsafe"

// kernelGo adds the product of a packed A strip (k×mr) and a packed B strip
// (k×nr) into the mr×nr tile at c (row stride ldc).
func kernelGo(k int, a, b, c *float32, ldc int) {
	as := unsafe.Slice(a, k*mr)
	bs := unsafe.Slice(b, k*nr)
	var acc [mr][nr]float32
	for p := 0; p < k; p++ {
		brow := bs[p*nr : p*nr+nr]
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
