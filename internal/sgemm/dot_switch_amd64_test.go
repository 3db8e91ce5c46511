package sgemm

// setDotAVX512 selects the assembly or the Go kernels and returns the
// previous choice.
func setDotAVX512(on bool) bool {
	old := dotAVX512
	dotAVX512 = on
	return old
}
