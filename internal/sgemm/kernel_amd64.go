package sgemm

import "golang.org/x/sys/cpu"

// kernelAVX2 is kernelGo in AVX2/FMA assembly (kernel_amd64.s).
//
//go:noescape
func kernelAVX2(k int, a, b, c *float32, ldc int)

// kernel is the micro-kernel this machine runs.
var kernel = func() func(k int, a, b, c *float32, ldc int) {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		return kernelAVX2
	}
	return kernelGo
}()
