package operator_test

import (
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Sandbox only: the mod-sequences are kept with the mail (index.json) and survive a restart; an
// index written before CONDSTORE starts at HIGHESTMODSEQ 1, every message at MODSEQ 1.
func TestIMAP_modSeqPersisted(t *testing.T) {
	w := newWorld(t)
	if _, err := w.op.Append(alice, "INBOX", testMessage(bob, alice, "modseq")); err != nil {
		t.Fatal(err)
	}
	if err := w.op.Close(); err != nil {
		t.Fatal(err)
	}
	// Rewrite the index as it was before CONDSTORE.
	ix := filepath.Join(w.dir, "mail", url.PathEscape(alice), hex.EncodeToString([]byte("INBOX")), "index.json")
	data, err := os.ReadFile(ix)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "highest_modseq")
	for _, msg := range m["messages"].([]any) {
		delete(msg.(map[string]any), "modseq")
	}
	data, _ = json.Marshal(m)
	if err := os.WriteFile(ix, data, 0o600); err != nil {
		t.Fatal(err)
	}
	w.start()

	tg := &imapTarget{name: "sandbox", addr: w.op.IMAPAddr(), tls: w.clientTLS(), tokens: map[string]string{},
		user: func(*testing.T) (string, string) { return alice, w.tokens.issue(aliceID, time.Hour) }}
	s, _ := tg.login(t)
	resp := s.cmd("a SELECT INBOX (CONDSTORE)")
	if h := modSeqOf(resp, "[HIGHESTMODSEQ "); h != 1 {
		t.Errorf("old index: HIGHESTMODSEQ %d, want 1:\n%s", h, resp)
	}
	if resp := s.cmd("b FETCH 1 (MODSEQ)"); !strings.Contains(resp, "MODSEQ (1)") {
		t.Errorf("old index: %q, want MODSEQ (1)", resp)
	}
	if resp := s.cmd(`c STORE 1 +FLAGS (\Seen)`); !strings.Contains(resp, "MODSEQ (2)") {
		t.Errorf("STORE: %q, want MODSEQ (2)", resp)
	}
	s.cmd("d LOGOUT")

	w.restart()
	tg.addr = w.op.IMAPAddr()
	s, _ = tg.login(t)
	if resp := s.cmd("e SELECT INBOX (CONDSTORE)"); modSeqOf(resp, "[HIGHESTMODSEQ ") != 2 {
		t.Errorf("after a restart: %q, want HIGHESTMODSEQ 2", resp)
	}
}
