//go:build !linux

package main

import "errors"

// tokenLinks needs memfd_create and /proc (Linux); elsewhere login refuses to publish tokens
// rather than write them to a file.
type tokenLinks struct{}

func newTokenLinks(string, []string) (*tokenLinks, error) {
	return nil, errors.New("login: token links need Linux (memfd); not available on this system")
}

func (*tokenLinks) mailboxes() []string         { return nil }
func (*tokenLinks) paths() map[string]string    { return nil }
func (*tokenLinks) update(string, []byte) error { return errors.New("unsupported") }
func (*tokenLinks) close()                      {}
