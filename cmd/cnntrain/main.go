// Command cnntrain trains the classic convolutional networks of the course
// notebooks; see the README or `cnntrain --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cnntrain/cnntrain/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Streams{Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
