//go:build !amd64

package sgemm

var kernel = kernelGo
