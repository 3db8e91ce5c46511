//go:build !amd64

package sgemm

var dot4x4 = dot4x4Go

var dot6x4 = dot6x4Go
