//go:build !amd64

package sgemm

// impls lists every implementation this machine can run, the selected one
// first.
var impls = []*impl{goImpl}
