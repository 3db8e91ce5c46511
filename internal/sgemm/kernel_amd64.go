package sgemm

import "golang.org/x/sys/cpu"

// kernelAVX2 is kernelGo for 6×16 tiles in AVX2/FMA assembly (kernel_amd64.s).
//
//go:noescape
func kernelAVX2(k int, a, b, c *float32, ldc, ldb int)

//go:generate go run gen_kernels.go

// kernelAVX512 is kernelGo for 8×32 tiles in AVX-512 assembly
// (kernel_avx512_amd64.s, generated).
//
//go:noescape
func kernelAVX512(k int, a, b, c *float32, ldc, ldb int)

// kernelAVX512Store is kernelAVX512 storing the tile instead of adding it.
//
//go:noescape
func kernelAVX512Store(k int, a, b, c *float32, ldc, ldb int)

// kernelAVX512x6Store is kernelAVX512x6 storing the tile.
//
//go:noescape
func kernelAVX512x6Store(k int, a, b, c *float32, ldc, ldb int)

// kernelAVX512x6 is kernelAVX512 for 6×32 tiles.
//
//go:noescape
func kernelAVX512x6(k int, a, b, c *float32, ldc, ldb int)

// packA8AVX2 is packA8's interleave for α = 1, 8 values of p at a time
// (pack_amd64.s); packA8 finishes the rest.
//
//go:noescape
func packA8AVX2(a *float32, lda, kb int, strip *float32)

// hasPackAVX2 says whether packA8 may call packA8AVX2; tests switch it.
var hasPackAVX2 = cpu.X86.HasAVX2

// The kernels reading B's rows at offsets from a table (GemmRows).
//
//go:noescape
func kernelAVX512Rows(k int, a, b, c *float32, ldc int, offs *int)

//go:noescape
func kernelAVX512StoreRows(k int, a, b, c *float32, ldc int, offs *int)

//go:noescape
func kernelAVX512x6Rows(k int, a, b, c *float32, ldc int, offs *int)

//go:noescape
func kernelAVX512x6StoreRows(k int, a, b, c *float32, ldc int, offs *int)

var (
	avx2Impl = &impl{name: "avx2", mr: 6, nr: 16, kc: 256, mc: 96, nc: 512, directM: 256, kernel: kernelAVX2}
	// 8×32 tiles: 16 ZMM accumulators, two ZMM rows of B and broadcasts of A
	// folded into the FMAs. kc = 192 keeps the B micro-panel (kc×32 floats,
	// 24 KB) in a 32 KB L1 while A strips stream from L2; the A block (mc×kc,
	// 96 KB) stays in L2.
	avx512Impl = &impl{name: "avx512", mr: 8, nr: 32, kc: 192, mc: 128, nc: 1024, directM: 256, kernel: kernelAVX512, store: kernelAVX512Store,
		rows: kernelAVX512Rows, storeRows: kernelAVX512StoreRows}
	// 6×32 tiles for products of at most 6 rows, with the 8×32 kernel's blocks.
	avx512x6Impl = &impl{name: "avx512x6", mr: 6, nr: 32, kc: 192, mc: 96, nc: 1024, directM: 256, kernel: kernelAVX512x6, store: kernelAVX512x6Store,
		rows: kernelAVX512x6Rows, storeRows: kernelAVX512x6StoreRows}
)

func init() {
	// The convolutions of the MNIST CNN and LeNet have 6 output channels:
	// 6-row tiles waste nothing there, 8-row tiles a quarter.
	avx512Impl.narrow = avx512x6Impl
}

// impls lists every implementation this machine can run, the selected one
// first.
var impls = func() []*impl {
	var l []*impl
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		l = append(l, avx512Impl, avx512x6Impl)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		l = append(l, avx2Impl)
	}
	return append(l, goImpl)
}()

func packAVX2() bool { return hasPackAVX2 }
