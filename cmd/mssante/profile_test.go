package main

import (
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"
)

// MSSANTE_CPUPROFILE gives a CPU profile (gzip-compressed protobuf, as runtime/pprof writes it)
// in a file only its owner reads; unset, no profile runs.
func TestStartProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	t.Setenv(envCPUProfile, path)
	stop := startProfile()
	sum := 0
	for i := range 10_000_000 {
		sum += i % 7
	}
	stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("profile of %d bytes is not gzip data (sum %d)", len(b), sum)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("profile mode %v, want 0600", fi.Mode().Perm())
	}
	// Unset: no profile runs (another one can start).
	t.Setenv(envCPUProfile, "")
	end := startProfile()
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		t.Errorf("a profile runs without %s: %v", envCPUProfile, err)
	} else {
		pprof.StopCPUProfile()
	}
	end()
}
