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
