//go:build !amd64

package sgemm

const dotAVX512 = false

func dot4x4(k, count int, a, b *[4]*float32, aStride, bStride int, out *[16]float32) {
	dot4x4Go(k, count, a, b, aStride, bStride, out)
}

func dot6x4(k, count int, a *[6]*float32, b *[4]*float32, aStride, bStride int, out *[24]float32) {
	dot6x4Go(k, count, a, b, aStride, bStride, out)
}
