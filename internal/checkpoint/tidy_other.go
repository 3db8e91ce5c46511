//go:build !unix

package checkpoint

// Tidy removes nothing where folders cannot be locked: a temporary file
// could be a live process's.
func Tidy(string) (cleaned []string, release func(), err error) { return nil, func() {}, nil }
