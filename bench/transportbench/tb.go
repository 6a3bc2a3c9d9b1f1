package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// runTB lets the test peers (internal/peertest, internal/testpki), which take a testing.TB, run in
// a program: Cleanup registers, Fatal and Skip stop the program after running the cleanups (the
// servers are stopped), Log goes to stderr. The embedded nil TB is never called: the methods the
// peers use are all defined here, and any other one would panic, which a bench run shows at once.
type runTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

func (t *runTB) Helper()      {}
func (t *runTB) Name() string { return "transportbench" }
func (t *runTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}
func (t *runTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}
func (t *runTB) Log(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (t *runTB) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (t *runTB) Error(args ...any)               { t.fail(); t.Log(args...) }
func (t *runTB) Errorf(format string, args ...any) {
	t.fail()
	t.Logf(format, args...)
}
func (t *runTB) Fatal(args ...any)                 { t.Error(args...); t.exit(1) }
func (t *runTB) Fatalf(format string, args ...any) { t.Errorf(format, args...); t.exit(1) }
func (t *runTB) Skip(args ...any)                  { t.Fatal(append([]any{"peer missing:"}, args...)...) }
func (t *runTB) Skipf(format string, args ...any)  { t.Fatalf("peer missing: "+format, args...) }

func (t *runTB) fail() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = true
}

// Close runs the cleanups, last registered first, once.
func (t *runTB) Close() {
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func (t *runTB) exit(code int) {
	t.Close()
	os.Exit(code)
}
