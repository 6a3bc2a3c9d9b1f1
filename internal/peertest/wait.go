package peertest

import (
	"context"
	"testing"
	"time"

	"github.com/mssante/mssante/lps"
)

// WaitForSubject polls the INBOX of cl, for at most timeout, until a message whose subject
// contains subject arrives, and returns the UID of the last such message. The conformance tests of
// lps (against Dovecot) and of the sandbox operator share it.
func WaitForSubject(t testing.TB, ctx context.Context, cl *lps.IMAPClient, subject string, timeout time.Duration) uint32 {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; {
		if _, err := cl.Select(ctx, "INBOX"); err != nil {
			t.Fatalf("Select: %v", err)
		}
		uids, err := cl.Search(ctx, lps.Criteria{Subject: subject})
		if err != nil {
			t.Fatalf("Search: %v", err)
		}
		if len(uids) > 0 {
			return uids[len(uids)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %q never arrived", subject)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
