//go:build !unix

package datasets

import "errors"

// makeFIFO fails: named pipes are a Unix thing.
func makeFIFO(string) error { return errors.New("no FIFOs on this system") }
