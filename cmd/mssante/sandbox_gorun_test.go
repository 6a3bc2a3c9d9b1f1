package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// `go run ./cmd/mssante sandbox` killed with SIGTERM used to leave the sandbox running, orphaned,
// with its ports and data directory (QA issue 5): the go command does not relay the signal. The
// sandbox recognises a `go run` binary and stops when its parent changes.
func TestUnderGoRun(t *testing.T) {
	for exe, want := range map[string]bool{
		"/tmp/go-build2631372009/b001/exe/mssante": true,
		"/root/.cache/go-build/x/exe/mssante":      true,
		"/usr/local/bin/mssante":                   false,
		"/work/main/mssante":                       false,
		"/tmp/go-build123/b001/mssante.test":       false,
		"/root/.cache/go-build/c7/c78c41fb55a66f23e77bae73b821da9e15a4bdf291c3f53f8a315dfb7562158e-d/mssante": true,
		"/tmp/gocache/c7/c78c41fb55a66f23e77bae73b821da9e15a4bdf291c3f53f8a315dfb7562158e-d/mssante":          true,
		"/tmp/gocache/c7/d78c41fb55a66f23e77bae73b821da9e15a4bdf291c3f53f8a315dfb7562158e-d/mssante":          false,
		"/opt/app-d/mssante": false,
	} {
		if got := underGoRun(exe); got != want {
			t.Errorf("underGoRun(%q) = %v, want %v", exe, got, want)
		}
	}
}

func TestWatchParent(t *testing.T) {
	var ppid atomic.Int64
	ppid.Store(4242)
	var gone atomic.Bool
	ctx, cancel := watchParent(context.Background(), func() int { return int(ppid.Load()) }, time.Millisecond,
		func() { gone.Store(true) })
	defer cancel()
	select {
	case <-ctx.Done():
		t.Fatal("cancelled while the parent lives")
	case <-time.After(20 * time.Millisecond):
	}
	ppid.Store(1) // reparented to init: `go run` ended
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not cancelled after the parent ended")
	}
	if !gone.Load() {
		t.Error("onGone not called")
	}
}
