package operator

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// A crash between writing a message and its index, or during a folder creation, leaves files the
// index does not name; the next start removes them and keeps the rest.
func TestStore_recoversFromInterruptedWrites(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.ensureUser("a@x.test")
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := u.mailbox("inbox")
	if _, err := inbox.appendMessage([]byte("Subject: kept\r\n\r\nok\r\n"), []imap.Flag{imap.FlagSeen, "$MDNSent"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(inbox.dir, "2.eml")
	tmp := filepath.Join(inbox.dir, ".tmp-123")
	half := filepath.Join(u.dir, "6869")
	for _, p := range []string{stray, tmp, filepath.Join(half, "1.eml")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	st2, err := openStore(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	u2, err := st2.ensureUser("a@x.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{stray, tmp, half} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s not removed at start: %v", p, err)
		}
	}
	in2, _ := u2.mailbox("INBOX")
	if len(in2.msgs) != 1 || in2.msgs[0].UID != 1 || !hasFlag(in2.msgs[0], "$mdnsent") || in2.uidNext != 2 ||
		in2.uidValidity != inbox.uidValidity {
		t.Errorf("INBOX after restart = %+v next %d validity %d", in2.msgs, in2.uidNext, in2.uidValidity)
	}
	if data, err := in2.read(1); err != nil || string(data) != "Subject: kept\r\n\r\nok\r\n" {
		t.Errorf("read(1) = %q, %v", data, err)
	}
	if got := len(u2.list()); got != 3 {
		t.Errorf("%d folders, want INBOX, Sent, Trash", got)
	}
}

// Flags: system flags in their canonical spelling, keywords kept, \Recent never stored.
func TestSetFlags(t *testing.T) {
	m := &msgMeta{}
	setFlags(m, imap.StoreFlagsAdd, []imap.Flag{`\seen`, "$MDNSent", `\Recent`, "$mdnsent"})
	if len(m.Flags) != 2 || m.Flags[0] != `\Seen` || m.Flags[1] != "$MDNSent" {
		t.Fatalf("flags = %v", m.Flags)
	}
	setFlags(m, imap.StoreFlagsDel, []imap.Flag{`\SEEN`})
	if len(m.Flags) != 1 || m.Flags[0] != "$MDNSent" {
		t.Fatalf("after -FLAGS = %v", m.Flags)
	}
	setFlags(m, imap.StoreFlagsSet, []imap.Flag{imap.FlagFlagged})
	if len(m.Flags) != 1 || m.Flags[0] != `\Flagged` {
		t.Fatalf("after FLAGS = %v", m.Flags)
	}
}
