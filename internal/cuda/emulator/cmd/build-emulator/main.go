// Command build-emulator builds the CPU stand-in for NVIDIA's libraries
// (internal/cuda/emulator) into a folder: go run ./internal/cuda/emulator/cmd/build-emulator DIR.
package main

import (
	"fmt"
	"os"

	"github.com/cnntrain/cnntrain/internal/cuda/emulator"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: build-emulator DIR")
		os.Exit(2)
	}
	if err := os.MkdirAll(os.Args[1], 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := emulator.Build(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
