package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// outboxPeer is a Dovecot+Postfix stack, alice's credentials to submit and bob's to read, and
// the mssante binary for the tests that run (and kill) real processes.
type outboxPeer struct {
	st        *peertest.Stack
	pki       *testpki.PKI
	dir, data string
	root      string
	tokenFile string
	bin       string
}

const (
	obAlice = "alice@test.mssante.fr"
	obBob   = "bob@test.mssante.fr"
)

func newOutboxPeer(t *testing.T) *outboxPeer {
	t.Helper()
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki})
	p := &outboxPeer{st: st, pki: pki, dir: t.TempDir()}
	p.data = filepath.Join(p.dir, "data")
	p.root = filepath.Join(p.dir, "root.pem")
	writeTestFile(t, p.root, pki.RootPEM())
	p.tokenFile = filepath.Join(p.dir, "token")
	writeTestFile(t, p.tokenFile, []byte(st.Token(obAlice, 2*time.Hour)))
	return p
}

// build compiles the mssante binary once per test.
func (p *outboxPeer) build(t *testing.T) {
	t.Helper()
	p.bin = filepath.Join(p.dir, "mssante")
	out, err := exec.Command("go", "build", "-o", p.bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

func (p *outboxPeer) args(db string) []string {
	return []string{"--account", obAlice, "--token-file", p.tokenFile, "--smtp", p.st.Submission,
		"--trust-root", p.root, "--data-dir", p.data, "--db", db}
}

// add writes n messages for bob, Message-IDs tag-i (every seventh without one: outbox add gives
// it one), stores them with outbox add and returns their Message-IDs.
func (p *outboxPeer) add(t *testing.T, db, tag string, n int) []string {
	t.Helper()
	var files []string
	for i := range n {
		f := filepath.Join(p.dir, fmt.Sprintf("%s-%d.eml", tag, i))
		h := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s %d\r\nDate: Wed, 02 Dec 2026 10:00:00 +0100\r\n", obAlice, obBob, tag, i)
		if i%7 != 3 {
			h += fmt.Sprintf("Message-ID: <%s-%d@test.mssante.fr>\r\n", tag, i)
		}
		writeTestFile(t, f, []byte(h+"\r\nCompte rendu "+strconv.Itoa(i)+".\r\n"+strings.Repeat("Ligne de texte.\r\n", 200)))
		files = append(files, f)
	}
	out, errOut, code := runMain(t, append(append([]string{"outbox", "add"}, files...), p.args(db)...)...)
	if code != 0 {
		t.Fatalf("outbox add: code %d: %s", code, errOut)
	}
	var ids []string
	for _, l := range outboxLines(t, out) {
		if l.State != outbox.Queued || l.ID == 0 {
			t.Fatalf("outbox add line %+v", l)
		}
		ids = append(ids, l.MessageID)
	}
	if len(ids) != n {
		t.Fatalf("outbox add printed %d lines for %d files", len(ids), n)
	}
	return ids
}

func outboxLines(t *testing.T, out string) []outboxLine {
	t.Helper()
	var lines []outboxLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l outboxLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("outbox line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func (p *outboxPeer) status(t *testing.T, db string) map[outbox.State]int {
	t.Helper()
	out, errOut, code := runMain(t, "outbox", "status", "--data-dir", p.data, "--db", db)
	if code != 0 {
		t.Fatalf("outbox status: code %d: %s", code, errOut)
	}
	n := map[outbox.State]int{}
	for _, l := range outboxLines(t, out) {
		n[l.State]++
	}
	return n
}

// received returns how many copies of each Message-ID bob's INBOX holds, read over IMAP, once
// every id of want has arrived (or timeout passed).
func (p *outboxPeer) received(t *testing.T, want []string, timeout time.Duration) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{p.pki.Root.Cert}, OrgIntermediates: []*x509.Certificate{p.pki.Org.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := lps.ParseEndpoint(p.st.IMAP)
	if err != nil {
		t.Fatal(err)
	}
	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: obBob,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return p.st.Token(obBob, time.Hour), nil })}
	ic, err := lps.DialIMAP(ctx, ep, auth, &lps.Options{TLS: pol.ClientConfig("", nil), ClassifyTLSError: trust.ClassifyHandshakeError})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	for deadline := time.Now().Add(timeout); ; {
		if _, err := ic.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		uids, err := ic.Search(ctx, lps.Criteria{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		if len(uids) > 0 {
			sums, err := ic.Summaries(ctx, uids)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sums {
				got[strings.Trim(s.MessageID, "<>")]++
			}
		}
		missing := 0
		for _, id := range want {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Issue 9 item 3 (acceptance): `outbox run` killed with SIGKILL at random moments and restarted, against
// Postfix and Dovecot: every Message-ID reaches the recipient, none is lost, and a second copy
// (only possible when the kill fell between the end of DATA and the recording of the answer)
// carries the same Message-ID. MSSANTE_OUTBOX_CRASH_N sets the number of messages (default 60).
func TestOutbox_killedRunsLoseNothing(t *testing.T) {
	p := newOutboxPeer(t)
	p.build(t)
	n := 60
	if v, err := strconv.Atoi(os.Getenv("MSSANTE_OUTBOX_CRASH_N")); err == nil && v > 0 {
		n = v
	}
	known := map[string]bool{}
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.URL(t, d)
			ids := p.add(t, db, "crash-"+string(d), n)
			for _, id := range ids {
				known[id] = true
			}
			kills, runs, dups := p.crash(t, db, ids, max(10, n/6))
			t.Logf("%s: %d messages, %d runs of which %d killed by SIGKILL: 0 lost, %d second copies (same Message-ID)", d, n, runs, kills, dups)
		})
	}
	// Nothing else reached the recipient: a copy with another Message-ID would show here.
	for id := range p.received(t, nil, 0) {
		if !known[id] {
			t.Errorf("unexpected Message-ID %q in the recipient's mailbox", id)
		}
	}
}

// crash runs `outbox run --once` on db, killing it with SIGKILL after a random 20–620 ms, up to
// maxKills times, then lets a last run finish; it checks that every id arrived and that each
// second copy follows a lease taken over from a killed run, and returns the counts.
func (p *outboxPeer) crash(t *testing.T, db string, ids []string, maxKills int) (kills, runs, dups int) {
	t.Helper()
	n := len(ids)
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	start := time.Now()
	for time.Since(start) < 10*time.Minute {
		if st := p.status(t, db); st[outbox.Sent] == n {
			break
		}
		runs++
		cmd := exec.Command(p.bin, append([]string{"outbox", "run", "--once", "--workers", "3", "--lease", "2s"}, p.args(db)...)...)
		var errOut strings.Builder
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if kills < maxKills {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("outbox run: %v\n%s", err, errOut.String())
				}
			case <-time.After(time.Duration(20+rnd.IntN(600)) * time.Millisecond):
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				kills++
			}
			continue
		}
		if err := <-done; err != nil {
			t.Fatalf("outbox run: %v\n%s", err, errOut.String())
		}
	}
	if st := p.status(t, db); st[outbox.Sent] != n {
		t.Fatalf("after %d runs (%d killed): states %v", runs, kills, st)
	}
	if kills == 0 {
		t.Error("no run was killed: the test proved nothing")
	}
	out, _, _ := runMain(t, "outbox", "status", "--timeline", "--data-dir", p.data, "--db", db)
	retaken := map[string]bool{}
	for _, l := range outboxLines(t, out) {
		for _, ev := range l.Timeline {
			if ev.State == outbox.Sending && strings.Contains(ev.Reason, "expired") {
				retaken[l.MessageID] = true
			}
		}
	}
	got := p.received(t, ids, time.Minute)
	for _, id := range ids {
		switch c := got[id]; {
		case c == 0:
			t.Errorf("%s never reached the recipient", id)
		case c > 1:
			dups += c - 1
			if !retaken[id] {
				t.Errorf("%s received %d times but never taken over from a killed run: a duplicate outside the crash window", id, c)
			}
		}
	}
	return kills, runs, dups
}

// Two `outbox run` processes on one database (a SQLite file, a PostgreSQL schema) share the queue:
// every message reaches the recipient exactly once (no crash, so no duplicate window).
func TestOutbox_twoRunsSendOnce(t *testing.T) {
	p := newOutboxPeer(t)
	p.build(t)
	const n = 40
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.URL(t, d)
			tag := "two-" + string(d)
			ids := p.add(t, db, tag, n)
			var wg sync.WaitGroup
			outs := make([]string, 2)
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cmd := exec.Command(p.bin, append([]string{"outbox", "run", "--once", "--workers", "3"}, p.args(db)...)...)
					out, err := cmd.Output()
					if err != nil {
						t.Errorf("outbox run %d: %v", i, err)
					}
					outs[i] = string(out)
				}()
			}
			wg.Wait()
			total := 0
			for i, out := range outs {
				var st outbox.Stats
				if err := json.Unmarshal([]byte(out), &st); err != nil {
					t.Fatalf("run %d output %q: %v", i, out, err)
				}
				total += st.Sent
				t.Logf("%s: run %d sent %d", d, i, st.Sent)
			}
			if total != n {
				t.Errorf("the two runs sent %d messages, want %d", total, n)
			}
			got := p.received(t, ids, time.Minute)
			for _, id := range ids {
				if got[id] != 1 {
					t.Errorf("%s received %d times", id, got[id])
				}
			}
		})
	}
}

// A permanent refusal fails the message at once, with the reason, and is not retried: a message
// larger than the SIZE Postfix announces (message_size_limit, 10,240,000 bytes by default) is
// refused with 552 5.3.4; outbox run exits 1. A temporary refusal (Postfix stopped: connection
// refused) leaves the message queued with a retry time.
func TestOutbox_refusals(t *testing.T) {
	p := newOutboxPeer(t)
	db := storetest.URL(t, store.SQLite)
	f := filepath.Join(p.dir, "big.eml")
	writeTestFile(t, f, []byte("From: <"+obAlice+">\r\nTo: <"+obBob+">\r\nSubject: big\r\nMessage-ID: <big-1@test.mssante.fr>\r\n\r\n"+
		strings.Repeat(strings.Repeat("x", 998)+"\r\n", 10500)))
	if _, errOut, code := runMain(t, append([]string{"outbox", "add", f}, p.args(db)...)...); code != 0 {
		t.Fatalf("outbox add: %d %s", code, errOut)
	}
	_, errOut, code := runMain(t, append([]string{"outbox", "run", "--once"}, p.args(db)...)...)
	out, _, _ := runMain(t, "outbox", "status", "--timeline", "--data-dir", p.data, "--db", db)
	lines := outboxLines(t, out)
	if len(lines) != 1 {
		t.Fatalf("status = %s", out)
	}
	l := lines[0]
	if code != 1 || l.State != outbox.Failed || !strings.Contains(l.Reason, "552 5.3.4") || l.Attempts != 1 || len(l.Timeline) != 3 {
		t.Errorf("run code %d, stderr %s; status %+v", code, errOut, l)
	}
	// Not retried by a later run.
	_, errOut, _ = runMain(t, append([]string{"outbox", "run", "--once"}, p.args(db)...)...)
	if out2, _, _ := runMain(t, "outbox", "status", "--data-dir", p.data, "--db", db); outboxLines(t, out2)[0].Attempts != 1 {
		t.Errorf("a failed message was retried: %s (%s)", out2, errOut)
	}

	// Temporary: nothing listens on the submission port.
	db2 := storetest.URL(t, store.SQLite)
	ids := p.add(t, db2, "temp", 1)
	args := p.args(db2)
	for i := range args {
		if args[i] == "--smtp" {
			args[i+1] = "127.0.0.1:1"
		}
	}
	_, errOut, code = runMain(t, append([]string{"outbox", "run", "--once", "--timeout", "5s"}, args...)...)
	out, _, _ = runMain(t, "outbox", "status", "--data-dir", p.data, "--db", db2)
	l = outboxLines(t, out)[0]
	if code != 0 || l.State != outbox.Queued || l.MessageID != ids[0] || l.Next == nil || !l.Next.After(time.Now()) || l.Reason == "" {
		t.Errorf("temporary failure: run code %d, stderr %s; status %+v", code, errOut, l)
	}
}

// Issue 9 item 4: the DSNs Postfix returns (RFC 3464: delivered to bob; failed, 5.1.1, for a
// mailbox Dovecot refuses — a local part with '#', outside Dovecot's auth_username_chars, so its
// LMTP answers "550 5.1.1 User doesn't exist": the stand-in for a closed patient mailbox) turn the
// outbox messages delivered and bounced, with the reason.
func TestOutbox_reportsFromPostfix(t *testing.T) {
	p := newOutboxPeer(t)
	db := storetest.URL(t, store.SQLite)
	var files []string
	for i, to := range []string{obBob, "closed#patient@test.mssante.fr"} {
		f := filepath.Join(p.dir, fmt.Sprintf("r%d.eml", i))
		writeTestFile(t, f, []byte(fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: report %d\r\nMessage-ID: <report-%d@test.mssante.fr>\r\n\r\nx\r\n", obAlice, to, i, i)))
		files = append(files, f)
	}
	if _, errOut, code := runMain(t, append(append([]string{"outbox", "add", "--dsn"}, files...), p.args(db)...)...); code != 0 {
		t.Fatalf("outbox add: %d %s", code, errOut)
	}
	if _, errOut, code := runMain(t, append([]string{"outbox", "run", "--once"}, p.args(db)...)...); code != 0 {
		t.Fatalf("outbox run: %d %s", code, errOut)
	}
	// The DSNs arrive in alice's INBOX; sync brings them into the same database, and outbox
	// status applies them.
	syncArgs := []string{"sync", "--account", obAlice, "--token-file", p.tokenFile, "--imap", p.st.IMAP,
		"--trust-root", p.root, "--data-dir", p.data, "--db", db}
	var lines []outboxLine
	for deadline := time.Now().Add(time.Minute); ; {
		if _, errOut, code := runMain(t, syncArgs...); code != 0 {
			t.Fatalf("sync: %d %s", code, errOut)
		}
		out, errOut, code := runMain(t, "outbox", "status", "--timeline", "--db", db)
		if code != 0 {
			t.Fatalf("outbox status: %d %s", code, errOut)
		}
		lines = outboxLines(t, out)
		if len(lines) == 2 && lines[0].State == outbox.Delivered && lines[1].State == outbox.Bounced || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(lines) != 2 || lines[0].State != outbox.Delivered || lines[1].State != outbox.Bounced || !strings.Contains(lines[1].Reason, "5.1.1") ||
		len(lines[1].Timeline) != 4 || lines[1].Timeline[3].State != outbox.Bounced {
		t.Errorf("after sync: %+v\n%s", lines, p.st.Logs())
	}
	for _, l := range lines {
		t.Logf("%s: %s %s", l.MessageID, l.State, l.Reason)
	}
	// Shown once: a second status does not add to the timeline.
	out, _, _ := runMain(t, "outbox", "status", "--timeline", "--db", db)
	if again := outboxLines(t, out); len(again) != 2 || len(again[1].Timeline) != 4 {
		t.Errorf("second status: %s", out)
	}
}

// outbox add stores a file once: adding it again prints the same entry and says so; a file
// without Message-ID gets one in the stored copy; a missing --account is a usage error.
func TestOutboxAdd_idempotentAndUsage(t *testing.T) {
	dir := t.TempDir()
	db := storetest.URL(t, store.SQLite)
	with := filepath.Join(dir, "with.eml")
	without := filepath.Join(dir, "without.eml")
	writeTestFile(t, with, []byte("From: <"+obAlice+">\r\nTo: <"+obBob+">\r\nBcc: <carol@test.mssante.fr>\r\nSubject: s\r\nMessage-ID: <same@test.mssante.fr>\r\n\r\nx\r\n"))
	writeTestFile(t, without, []byte("From: <"+obAlice+">\r\nTo: <"+obBob+">\r\nSubject: s\r\n\r\nx\r\n"))
	args := []string{"--account", obAlice, "--data-dir", filepath.Join(dir, "data"), "--db", db}
	out, errOut, code := runMain(t, append([]string{"outbox", "add", with, without}, args...)...)
	lines := outboxLines(t, out)
	if code != 0 || len(lines) != 2 || lines[0].MessageID != "same@test.mssante.fr" || !strings.HasSuffix(lines[1].MessageID, "@test.mssante.fr") ||
		lines[0].State != outbox.Queued || len(lines[0].Rcpts) != 2 || !strings.Contains(errOut, "has no Message-ID") {
		t.Fatalf("outbox add: code %d, stdout %s, stderr %s", code, out, errOut)
	}
	out, errOut, code = runMain(t, append([]string{"outbox", "add", with}, args...)...)
	again := outboxLines(t, out)
	if code != 0 || len(again) != 1 || again[0].ID != lines[0].ID || !strings.Contains(errOut, "already in the outbox") {
		t.Errorf("second add: code %d, stdout %s, stderr %s", code, out, errOut)
	}
	out, _, _ = runMain(t, "outbox", "status", "--db", db)
	if n := len(outboxLines(t, out)); n != 2 {
		t.Errorf("status lists %d messages, want 2: %s", n, out)
	}
	if _, _, code := runMain(t, "outbox", "add", with, "--db", db); code != 2 {
		t.Errorf("add without --account: code %d, want 2", code)
	}
	if _, _, code := runMain(t, "outbox", "status", "--state", "lost", "--db", db); code != 2 {
		t.Errorf("status --state lost: code %d, want 2", code)
	}
	if _, _, code := runMain(t, "outbox", "status", "--db", "sqlite:"+filepath.Join(dir, "typo.db")); code != 1 {
		t.Errorf("status of a database that does not exist: code %d, want 1", code)
	}
}

// Without --once, outbox run keeps running: it sends what is added while it runs, and stops
// cleanly (exit 0, its counts on stdout) on SIGTERM.
func TestOutbox_runKeepsRunning(t *testing.T) {
	p := newOutboxPeer(t)
	p.build(t)
	db := storetest.URL(t, store.SQLite)
	cmd := exec.Command(p.bin, append([]string{"outbox", "run"}, p.args(db)...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the run is polling an empty outbox
	ids := p.add(t, db, "live", 3)
	got := p.received(t, ids, time.Minute)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	var st outbox.Stats
	if jerr := json.Unmarshal([]byte(out.String()), &st); err != nil || jerr != nil || st.Sent != 3 {
		t.Errorf("run: %v, stdout %q (%v), stderr %s", err, out.String(), jerr, errOut.String())
	}
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("%s received %d times", id, got[id])
		}
	}
}
