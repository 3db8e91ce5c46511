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

// dotAVX512 says whether DotRows runs the assembly kernels; tests switch it.
var dotAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

// dot4x4 and dot6x4 call the kernels directly, not through function
// values, so that their array arguments stay on DotRows's stack (a call
// through a function value makes them escape: an allocation per tile).
func dot4x4(k, count int, a, b *[4]*float32, aStride, bStride int, out *[16]float32) {
	if dotAVX512 {
		dot4x4AVX512(k, count, a, b, aStride, bStride, out)
		return
	}
	dot4x4Go(k, count, a, b, aStride, bStride, out)
}

func dot6x4(k, count int, a *[6]*float32, b *[4]*float32, aStride, bStride int, out *[24]float32) {
	if dotAVX512 {
		dot6x4AVX512(k, count, a, b, aStride, bStride, out)
		return
	}
	dot6x4Go(k, count, a, b, aStride, bStride, out)
}
