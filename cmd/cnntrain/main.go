// Command cnntrain trains the classic convolutional networks of the course
// notebooks; see the README or `cnntrain --help`.
package main

import (
	"os"

	"github.com/cnntrain/cnntrain/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:]))
}
