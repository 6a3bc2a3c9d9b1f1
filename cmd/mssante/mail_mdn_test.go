package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/mailbox"
)

// Issue 9 items 1 and 4, ECO.3.1.6, end to end through the CLI against the sandbox: `sync
// --watch` runs while a mail asking a read receipt arrives and prints the change as a JSON line;
// `mail settings --mdn always`; `mail displayed` twice (queued, then already); `outbox run
// --once` twice; the sender's `sync` and `mail list` show exactly one receipt. Ctrl-C ends
// `sync --watch` with exit 0.
func TestSyncWatch_mailDisplayed_oneReceipt(t *testing.T) {
	c := startCLIWorld(t)
	imap := []string{"--imap", c.w.Config.IMAP}

	// sync --watch for Paul, in the process.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &lockedBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, &cmdEnv{stdout: pw, stderr: stderr, stdin: strings.NewReader("")},
			append(append([]string{"sync", "--watch", "--every", "1h"}, imap...), c.paulArgs...))
		pw.Close()
	}()
	lines := make(chan mailbox.LiveChange, 16)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var l mailbox.LiveChange
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("sync --watch line %q: %v", sc.Text(), err)
				continue
			}
			lines <- l
		}
		close(lines)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "à l'écoute de INBOX") {
		if time.Now().After(deadline) {
			t.Fatalf("sync --watch is not watching: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	eml := filepath.Join(c.dir, "accuse.eml")
	if _, errOut, code := runMain(t, "compose", "--from", c.jeanne.Address, "--from-label", "Dr Jeanne ESSAI", "--to", c.paul.Address,
		"--subject", "demande d'accusé", "--mdn", "-o", eml); code != 0 {
		t.Fatalf("compose: %s", errOut)
	}
	if _, errOut, code := runMain(t, append([]string{"send", eml, "--smtp", c.w.Config.SMTP}, c.jeanneArgs...)...); code != 0 {
		t.Fatalf("send: %s", errOut)
	}
	// The initial sync gives its own line (the sandbox's welcome mail): read until the new mail
	// is in the store.
	var out string
	for {
		select {
		case l := <-lines:
			if l.Folder != "INBOX" || l.New < 1 {
				t.Errorf("sync --watch change = %+v, want INBOX new ≥ 1", l)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no change line from sync --watch; stderr: %s", stderr.String())
		}
		out, _, _ = runMain(t, "mail", "list", "--account", c.paul.Address, "--data-dir", filepath.Join(c.dir, "client"))
		if strings.Contains(out, "demande d'accusé") {
			break
		}
	}
	cancel()
	select {
	case n := <-code:
		if n != 0 {
			t.Errorf("sync --watch after Ctrl-C: exit %d, stderr %s", n, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sync --watch did not end")
	}

	var listed mailLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(l, "demande d'accusé") {
			_ = json.Unmarshal([]byte(l), &listed)
		}
	}

	if out, errOut, code := runMain(t, "mail", "settings", "--account", c.paul.Address, "--mdn", "always", "--data-dir", filepath.Join(c.dir, "client")); code != 0 || !strings.Contains(out, `"mdn": "always"`) {
		t.Fatalf("mail settings: %d %s %s", code, out, errOut)
	}
	for i, want := range []string{mailbox.OutcomeQueued, mailbox.OutcomeAlready} {
		out, errOut, code := runMain(t, append(append([]string{"mail", "displayed", "--uid", itoa(listed.UID)}, imap...), c.paulArgs...)...)
		var res mailbox.DisplayedResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || res.Outcome != want {
			t.Fatalf("mail displayed %d: code %d, %s (%v), stderr %s; want %s", i, code, out, err, errOut, want)
		}
	}
	for range 2 {
		if _, errOut, code := runMain(t, append([]string{"outbox", "run", "--once", "--smtp", c.w.Config.SMTP}, c.paulArgs...)...); code != 0 {
			t.Fatalf("outbox run: %s", errOut)
		}
	}
	receipts := 0
	for range 100 {
		if _, errOut, code := runMain(t, append(append([]string{"sync"}, imap...), c.jeanneArgs...)...); code != 0 {
			t.Fatalf("sync of the sender: %s", errOut)
		}
		out, _, _ := runMain(t, "mail", "list", "--account", c.jeanne.Address, "--data-dir", filepath.Join(c.dir, "client"))
		receipts = strings.Count(out, "Accusé de lecture")
		if receipts > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if receipts != 1 {
		t.Errorf("the sender has %d read receipt(s), want 1", receipts)
	}
}

func itoa(u uint32) string { return strconv.FormatUint(uint64(u), 10) }
