//go:build !amd64

package sgemm

func setDotAVX512(bool) bool { return false }
