package sgemm

import "golang.org/x/sys/cpu"

// dot4x4AVX512 is dot4x4Go in AVX-512 assembly (dot_avx512_amd64.s).
//
//go:noescape
func dot4x4AVX512(k, count int, a, b *[4]*float32, aStride, bStride int, out *[16]float32)

// dot6x4AVX512 is dot6x4Go in AVX-512 assembly.
//
//go:noescape
func dot6x4AVX512(k, count int, a *[6]*float32, b *[4]*float32, aStride, bStride int, out *[24]float32)

// dot6x4 is the 6-row kernel this CPU runs.
var dot6x4 = func() func(k, count int, a *[6]*float32, b *[4]*float32, aStride, bStride int, out *[24]float32) {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		return dot6x4AVX512
	}
	return dot6x4Go
}()

// dot4x4 is the fastest of the two this CPU runs; tests switch it.
var dot4x4 = func() func(k, count int, a, b *[4]*float32, aStride, bStride int, out *[16]float32) {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		return dot4x4AVX512
	}
	return dot4x4Go
}()
