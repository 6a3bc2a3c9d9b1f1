package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// Issue 9 item 5 (peak RSS): sync applies its soft heap limit only when none is set (GOMEMLIMIT
// or the embedding process wins), and restores the previous one.
func TestLimitMemory(t *testing.T) {
	prev := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(prev)
	restore := limitMemory()
	if got := debug.SetMemoryLimit(-1); got != syncMemoryLimit {
		t.Errorf("limit during sync = %d, want %d", got, syncMemoryLimit)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("limit after sync = %d, want none (MaxInt64)", got)
	}
	debug.SetMemoryLimit(64 << 20)
	restore = limitMemory()
	if got := debug.SetMemoryLimit(-1); got != 64<<20 {
		t.Errorf("a limit set before the sync became %d", got)
	}
	restore()
}

// The garbage collector's target during a sync is syncGCPercent unless GOGC is set, and the
// previous one afterwards.
func TestLimitMemory_gcPercent(t *testing.T) {
	gcPercent := func() int { p := debug.SetGCPercent(100); debug.SetGCPercent(p); return p }
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	t.Setenv("GOGC", "")
	restore := limitMemory()
	if got := gcPercent(); got != syncGCPercent {
		t.Errorf("GC percent during sync = %d, want %d", got, syncGCPercent)
	}
	restore()
	if got := gcPercent(); got != 100 {
		t.Errorf("GC percent after sync = %d, want 100", got)
	}
	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	restore = limitMemory()
	if got := gcPercent(); got != 50 {
		t.Errorf("GOGC=50 became %d during sync", got)
	}
	restore()
}
