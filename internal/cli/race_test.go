//go:build race

package cli

// raceDetector: the race detector maps terabytes of shadow memory, so a
// child process under `ulimit -v` cannot start.
const raceDetector = true
