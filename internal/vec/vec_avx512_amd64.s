#include "textflag.h"

// Each function runs 16 values per step and the last n mod 16 under the
// mask K1 = (1 << (n mod 16)) − 1, set up by TAILMASK from the count in CX
// (which it leaves holding n/16).
#define TAILMASK \
	MOVQ CX, AX; \
	ANDQ $15, AX; \
	MOVQ CX, R8; \
	MOVQ AX, CX; \
	MOVL $1, DX; \
	SHLL CX, DX; \
	DECL DX; \
	KMOVW DX, K1; \
	MOVQ R8, CX; \
	SHRQ $4, CX

// func reluAVX512(dst, src []float32)
// dst = max(0, src) with VMAXPS's rule (second operand, src, when either is
// NaN or they compare equal), which is PyTorch's.
TEXT ·reluAVX512(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	TAILMASK
	VPXORD Z31, Z31, Z31
	TESTQ CX, CX
	JZ   relutail
reluloop:
	VMAXPS (SI), Z31, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  reluloop
relutail:
	VMOVUPS.Z (SI), K1, Z1
	VMAXPS Z1, Z31, Z0
	VMOVUPS Z0, K1, (DI)
	VZEROUPPER
	RET

// func reluGradAVX512(dx, dy, out []float32)
// dx = dy where !(out <= 0) (predicate NLE_UQ: true for NaN), else 0.
TEXT ·reluGradAVX512(SB), NOSPLIT, $0-72
	MOVQ dx_base+0(FP), DI
	MOVQ dy_base+24(FP), SI
	MOVQ out_base+48(FP), BX
	MOVQ out_len+56(FP), CX
	TAILMASK
	VPXORD Z31, Z31, Z31
	TESTQ CX, CX
	JZ   gradtail
gradloop:
	VMOVUPS (BX), Z1
	VCMPPS $0x16, Z31, Z1, K2
	VMOVUPS.Z (SI), K2, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, BX
	DECQ CX
	JNZ  gradloop
gradtail:
	VMOVUPS.Z (BX), K1, Z1
	VCMPPS $0x16, Z31, Z1, K2
	VMOVUPS.Z (SI), K2, Z0
	VMOVUPS Z0, K1, (DI)
	VZEROUPPER
	RET

// func addToAVX512(dst, src []float32)
TEXT ·addToAVX512(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	TAILMASK
	TESTQ CX, CX
	JZ   addtail
addloop:
	VMOVUPS (DI), Z0
	VADDPS (SI), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  addloop
addtail:
	VMOVUPS.Z (DI), K1, Z0
	VMOVUPS.Z (SI), K1, Z1
	VADDPS Z1, Z0, Z0
	VMOVUPS Z0, K1, (DI)
	VZEROUPPER
	RET

// func sumAVX512(x []float32) float32
// Lane i mod 64 of Z0–Z3 accumulates x[i]; the 64-value steps run first,
// then 16 at a time into Z0..Z3 in turn, then the masked tail, so that
// every value lands in the lane sumGo gives it.
TEXT ·sumAVX512(SB), NOSPLIT, $0-28
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	TAILMASK
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	MOVQ CX, BX
	SHRQ $2, BX            // steps of 64
	ANDQ $3, CX            // then 0–3 steps of 16
	TESTQ BX, BX
	JZ   sum16
sum64:
	VADDPS (SI), Z0, Z0
	VADDPS 64(SI), Z1, Z1
	VADDPS 128(SI), Z2, Z2
	VADDPS 192(SI), Z3, Z3
	ADDQ $256, SI
	DECQ BX
	JNZ  sum64
sum16:
	// CX (0–3) more whole vectors go to Z0, Z1, Z2; the tail to the next.
	VMOVUPS.Z (SI), K1, Z5 // placeholder, replaced below when CX > 0
	CMPQ CX, $0
	JEQ  tail0
	VADDPS (SI), Z0, Z0
	ADDQ $64, SI
	CMPQ CX, $1
	JEQ  tail1
	VADDPS (SI), Z1, Z1
	ADDQ $64, SI
	CMPQ CX, $2
	JEQ  tail2
	VADDPS (SI), Z2, Z2
	ADDQ $64, SI
	VMOVUPS.Z (SI), K1, Z5
	VADDPS Z5, Z3, Z3
	JMP  reduce
tail0:
	VADDPS Z5, Z0, Z0
	JMP  reduce
tail1:
	VMOVUPS.Z (SI), K1, Z5
	VADDPS Z5, Z1, Z1
	JMP  reduce
tail2:
	VMOVUPS.Z (SI), K1, Z5
	VADDPS Z5, Z2, Z2
reduce:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func addScalarAVX512(dst, src []float32, c float32)
TEXT ·addScalarAVX512(SB), NOSPLIT, $0-52
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	VBROADCASTSS c+48(FP), Z2
	TAILMASK
	TESTQ CX, CX
	JZ   scalartail
scalarloop:
	VADDPS (SI), Z2, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  scalarloop
scalartail:
	VMOVUPS.Z (SI), K1, Z1
	VADDPS Z1, Z2, Z0
	VMOVUPS Z0, K1, (DI)
	VZEROUPPER
	RET

// func addScalarRowsAVX512(dst *float32, dstStride int, src *float32, srcStride int, rows, cols int, c float32)
TEXT ·addScalarRowsAVX512(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), R9
	MOVQ dstStride+8(FP), R10
	SHLQ $2, R10
	MOVQ src+16(FP), R11
	MOVQ srcStride+24(FP), R12
	SHLQ $2, R12
	MOVQ rows+32(FP), BX
	VBROADCASTSS c+48(FP), Z2
	MOVQ cols+40(FP), CX
	TAILMASK                       // K1 and CX = cols/16, kept in R13
	MOVQ CX, R13
rowsloop:
	MOVQ R9, DI
	MOVQ R11, SI
	MOVQ R13, CX
	TESTQ CX, CX
	JZ   rowstail
rowsinner:
	VADDPS (SI), Z2, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  rowsinner
rowstail:
	VMOVUPS.Z (SI), K1, Z1
	VADDPS Z1, Z2, Z0
	VMOVUPS Z0, K1, (DI)
	ADDQ R10, R9
	ADDQ R12, R11
	DECQ BX
	JNZ  rowsloop
	VZEROUPPER
	RET
