#include "textflag.h"

// Lane indices: evens picks the even values of two vectors (and, as int32,
// is 2·lane), odds the odd ones.
DATA evens<>+0(SB)/4, $0
DATA evens<>+4(SB)/4, $2
DATA evens<>+8(SB)/4, $4
DATA evens<>+12(SB)/4, $6
DATA evens<>+16(SB)/4, $8
DATA evens<>+20(SB)/4, $10
DATA evens<>+24(SB)/4, $12
DATA evens<>+28(SB)/4, $14
DATA evens<>+32(SB)/4, $16
DATA evens<>+36(SB)/4, $18
DATA evens<>+40(SB)/4, $20
DATA evens<>+44(SB)/4, $22
DATA evens<>+48(SB)/4, $24
DATA evens<>+52(SB)/4, $26
DATA evens<>+56(SB)/4, $28
DATA evens<>+60(SB)/4, $30
GLOBL evens<>(SB), RODATA|NOPTR, $64

DATA odds<>+0(SB)/4, $1
DATA odds<>+4(SB)/4, $3
DATA odds<>+8(SB)/4, $5
DATA odds<>+12(SB)/4, $7
DATA odds<>+16(SB)/4, $9
DATA odds<>+20(SB)/4, $11
DATA odds<>+24(SB)/4, $13
DATA odds<>+28(SB)/4, $15
DATA odds<>+32(SB)/4, $17
DATA odds<>+36(SB)/4, $19
DATA odds<>+40(SB)/4, $21
DATA odds<>+44(SB)/4, $23
DATA odds<>+48(SB)/4, $25
DATA odds<>+52(SB)/4, $27
DATA odds<>+56(SB)/4, $29
DATA odds<>+60(SB)/4, $31
GLOBL odds<>(SB), RODATA|NOPTR, $64

// TAKE moves candidate value v and index i into best (Z10) and at (Z11)
// where v > best or v is NaN: PyTorch's rule for a max-pool window.
#define TAKE(v, i) \
	VCMPPS $0x1E, Z10, v, K2; \
	VCMPPS $0x03, v, v, K3; \
	KORW K2, K3, K2; \
	VMOVAPS v, K2, Z10; \
	VMOVDQA32 i, K2, Z11

// func maxPool2PlaneAVX512(src *float32, w, ho, wo int, dst *float32, arg *int32)
//
// 2×2 max-pooling of ho line pairs of a plane w wide: for each oy < ho and
// ox < wo, dst[oy·wo + ox] is the maximum of the window at lines 2oy, 2oy+1
// and columns 2ox, 2ox+1, scanned in that order (a later value wins when
// it is greater or NaN), and arg the plane index where it was. 16 outputs
// per step, the last of each line under masks.
TEXT ·maxPool2PlaneAVX512(SB), NOSPLIT, $0-48
	MOVQ src+0(FP), R14           // the current pair of lines
	MOVQ w+8(FP), R13
	MOVQ ho+16(FP), R12
	MOVQ dst+32(FP), DX
	MOVQ arg+40(FP), R8
	VMOVDQU32 evens<>(SB), Z20
	VMOVDQU32 odds<>(SB), Z21
	VPBROADCASTD R13, Z23         // the next line
	MOVL $1, AX
	VPBROADCASTD AX, Z24
	MOVL $32, AX
	VPBROADCASTD AX, Z25          // 16 outputs on: 32 inputs on
	XORQ R15, R15                 // plane index of the pair's first value

row:
	TESTQ R12, R12
	JZ   done
	MOVQ R14, SI
	LEAQ (R14)(R13*4), DI
	VPBROADCASTD R15, Z22
	VPADDD Z20, Z22, Z22          // index of each window's first value
	MOVQ wo+24(FP), CX

chunk:
	TESTQ CX, CX
	JZ   rowdone
	// Masks: K1 for min(16, left) outputs, K4 and K5 for twice as many inputs.
	MOVQ CX, R9
	CMPQ R9, $16
	JLE  masks
	MOVQ $16, R9
masks:
	MOVQ CX, BX
	MOVQ R9, CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1
	SHLQ $1, CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K4
	SHRQ $16, AX
	KMOVW AX, K5
	MOVQ BX, CX

	VMOVUPS.Z (SI), K4, Z0
	VMOVUPS.Z 64(SI), K5, Z1
	VMOVUPS.Z (DI), K4, Z2
	VMOVUPS.Z 64(DI), K5, Z3
	VMOVAPS Z0, Z4
	VPERMT2PS Z1, Z20, Z4         // a: the first line's even columns
	VPERMT2PS Z1, Z21, Z0         // b: its odd columns
	VMOVAPS Z2, Z5
	VPERMT2PS Z3, Z20, Z5         // c: the second line's even columns
	VPERMT2PS Z3, Z21, Z2         // e: its odd columns

	VMOVAPS Z4, Z10
	VMOVDQA32 Z22, Z11
	VPADDD Z24, Z22, Z12
	TAKE(Z0, Z12)
	VPADDD Z23, Z22, Z12
	TAKE(Z5, Z12)
	VPADDD Z24, Z12, Z12
	TAKE(Z2, Z12)

	VMOVUPS Z10, K1, (DX)
	VMOVDQU32 Z11, K1, (R8)
	VPADDD Z25, Z22, Z22
	ADDQ $128, SI
	ADDQ $128, DI
	LEAQ (DX)(R9*4), DX
	LEAQ (R8)(R9*4), R8
	SUBQ R9, CX
	JMP  chunk

rowdone:
	LEAQ (R14)(R13*8), R14        // two lines on
	LEAQ (R15)(R13*2), R15
	DECQ R12
	JMP  row

done:
	VZEROUPPER
	RET
