//go:build !amd64

package sgemm

// impls lists every implementation this machine can run, the selected one
// first.
var impls = []*impl{goImpl}

func packAVX2() bool { return false }

func packA8AVX2(a *float32, lda, kb int, strip *float32) { panic("sgemm: no AVX2") }
