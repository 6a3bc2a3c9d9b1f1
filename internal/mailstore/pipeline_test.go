package mailstore

import (
	"context"
	"errors"
	"testing"
)

// The bodies the sync pipeline holds are bounded: a request waits for room, a body bigger than
// the bound waits until it is alone, and a cancelled wait returns the context's error.
func TestSyncPipelineBudget(t *testing.T) {
	b := newBudget(10)
	if !b.tryAcquire(6) || b.tryAcquire(6) || !b.tryAcquire(4) {
		t.Fatal("6 then 4 of 10 should fit, 6 then 6 not")
	}
	b.release(6)
	b.release(4)
	if !b.tryAcquire(25) {
		t.Fatal("a body over the bound is taken when nothing else is held")
	}
	if b.tryAcquire(1) {
		t.Fatal("nothing fits beside a body over the bound")
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { got <- b.acquire(ctx, 1) }()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquire: %v", err)
	}
	go func() { got <- b.acquire(context.Background(), 3) }()
	b.release(25)
	// 3 held: 7 more fit, then nothing.
	if err := <-got; err != nil || !b.tryAcquire(7) || b.tryAcquire(1) {
		t.Fatalf("acquire after release: %v, or not 3 of 10 held", err)
	}
}
