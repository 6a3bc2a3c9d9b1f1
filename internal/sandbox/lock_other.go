//go:build !unix

package sandbox

// lockDir does not lock outside Unix: two sandboxes on one data directory then fail on their
// ports instead.
func lockDir(string) (func(), error) { return func() {}, nil }

// Running cannot tell outside Unix (no lock): it reports false.
func Running(string) (running bool, pid int) { return false, 0 }
