package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/pscemu"
	"github.com/mssante/mssante/internal/testpki"
)

// watchRun is a `mssante watch` running in the process.
type watchRun struct {
	lines  chan watchLine
	raw    *lockedBuffer
	code   chan int
	cancel context.CancelFunc
	stderr *lockedBuffer
}

func startWatch(t *testing.T, args ...string) *watchRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	w := &watchRun{lines: make(chan watchLine, 64), raw: &lockedBuffer{}, code: make(chan int, 1), cancel: cancel,
		stderr: &lockedBuffer{}}
	go func() {
		w.code <- run(ctx, &cmdEnv{stdout: pw, stderr: w.stderr, stdin: strings.NewReader("")}, append([]string{"watch"}, args...))
		_ = pw.Close()
	}()
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			_, _ = w.raw.Write(append(sc.Bytes(), '\n'))
			var l watchLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l.Event = "malformed: " + sc.Text()
			}
			w.lines <- l
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.code:
		case <-time.After(10 * time.Second):
			t.Error("watch did not stop")
		}
	})
	return w
}

// expect waits for a line of the given event, skipping the events listed in skip.
func (w *watchRun) expect(t *testing.T, event string, within time.Duration, skip ...string) watchLine {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case l, ok := <-w.lines:
			if !ok {
				t.Fatalf("watch ended before a %s line; stderr: %s", event, w.stderr.String())
			}
			if l.Event == event {
				return l
			}
			if !containsString(skip, l.Event) {
				t.Fatalf("watch line %+v, want event %s; stderr: %s", l, event, w.stderr.String())
			}
		case <-timeout:
			t.Fatalf("no %s line from watch within %s; stderr: %s", event, within, w.stderr.String())
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (w *watchRun) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case c := <-w.code:
		w.code <- c // for the cleanup
		return c
	case <-time.After(within):
		t.Fatalf("watch did not exit within %s; stderr: %s", within, w.stderr.String())
	}
	return -1
}

func watchMail(box, subject string) []byte {
	return []byte("From: <confrere@test.mssante.fr>\r\nTo: <" + box + ">\r\nSubject: " + subject +
		"\r\nDate: Sat, 28 Nov 2026 10:00:00 +0100\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") +
		"@test.mssante.fr>\r\n\r\nBonjour.\r\n")
}

// assertNoJWT fails when any regular file under dir, or text, holds something shaped like a JWT
// (a base64url JSON header "eyJ…"): watch never knows the token's value in advance in these tests,
// so the scan looks for any token at all.
func assertNoJWT(t *testing.T, dir string, texts map[string]string) {
	t.Helper()
	scanned := 0
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil {
			scanned++
			if strings.Contains(string(b), "eyJ") {
				t.Errorf("%s holds a JWT", p)
			}
		}
		return nil
	})
	if scanned == 0 {
		t.Errorf("no file in %s: the scan proves nothing", dir)
	}
	for where, s := range texts {
		if s == "" {
			t.Errorf("%s is empty: the scan proves nothing", where)
		}
		if strings.Contains(s, "eyJ") {
			t.Errorf("%s holds a JWT", where)
		}
	}
}

// Issue 4 acceptance through the product, with real Dovecot validating the emulator's JWTs:
// `mssante watch --server` logs in by CIBA at the intermediate server, keeps IMAP IDLE open while
// the access token is renewed twice (ECO.1.2.5), announces new mail, reopens the session the
// operator closes after the first token expired (ECO.1.2.7), and when PSC ends the session it is
// told session-ended, closes IMAP and exits 1 within one refresh interval (ECO.1.2.6). No token
// reaches the data directory, stdout or stderr (ECO.1.2.5).
func TestWatch_serverSessionECO_1_2_6(t *testing.T) {
	const ttl = 4 * time.Second
	emu, base := lpsServer(t, pscemu.Options{AccessTTL: ttl})
	pro := pscemu.DefaultProfessionals[0]
	box := pro.Mailboxes[0]
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, NoPostfix: true, TokenKey: emu.PublicKey(),
		TokenKeyID: emu.KeyID(), TokenClientID: emu.ClientID(), TokenIssuer: emu.Issuer})
	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	writeTestFile(t, root, pki.RootPEM())
	data := filepath.Join(dir, "data")
	st.Deliver(box, "INBOX", watchMail(box, "Ancien message"))

	w := startWatch(t, "--server", base, "--national-id", pro.NationalID, "--account", box, "--imap", st.IMAP,
		"--trust-root", root, "--data-dir", data)
	pending := w.expect(t, "pending", 10*time.Second)
	approveCIBA(t, emu, pro.NationalID, pending.BindingMessage)
	start := time.Now()
	watching := w.expect(t, "watching", 15*time.Second)
	if watching.Messages == nil || *watching.Messages != 1 || watching.Account != box || watching.Mailbox != "INBOX" {
		t.Fatalf("watching = %+v", watching)
	}
	for i := 0; i < 2; i++ {
		if l := w.expect(t, "token-renewed", 3*ttl); l.ExpiresAt == nil || l.ExpiresAt.Before(time.Now()) {
			t.Fatalf("token-renewed = %+v", l)
		}
	}
	st.Deliver(box, "INBOX", watchMail(box, "Pendant IDLE"))
	if m := w.expect(t, "mail", 15*time.Second, "token-renewed"); m.Subject != "Pendant IDLE" || m.UID == 0 {
		t.Fatalf("mail = %+v", m)
	}

	// ECO.1.2.7: the first access token has expired; the operator closes the session.
	if time.Since(start) < ttl+time.Second {
		time.Sleep(ttl + time.Second - time.Since(start))
	}
	st.KickIMAP(box)
	w.expect(t, "reconnected", 15*time.Second, "token-renewed")
	st.Deliver(box, "INBOX", watchMail(box, "Apres reconnexion"))
	if m := w.expect(t, "mail", 15*time.Second, "token-renewed"); m.Subject != "Apres reconnexion" {
		t.Fatalf("mail after the reconnection = %+v", m)
	}

	// ECO.1.2.6: PSC ends the session; the next refresh is refused.
	ended := time.Now()
	emu.EndSessions(pro.NationalID)
	if l := w.expect(t, "session-ended", 2*ttl, "token-renewed"); l.Reason != "refresh-refused" {
		t.Fatalf("session-ended = %+v", l)
	}
	if code := w.exitCode(t, 5*time.Second); code != 1 {
		t.Fatalf("exit code %d after session-ended, want 1", code)
	}
	d := time.Since(ended)
	t.Logf("watch exited %s after PSC ended the session (access token lifetime %s)", d.Round(time.Millisecond), ttl)
	if d > ttl+time.Second {
		t.Errorf("watch exited %s after PSC ended the session: more than one refresh interval (%s)", d, ttl)
	}
	if !strings.Contains(w.stderr.String(), "session ended (refresh-refused)") {
		t.Errorf("stderr = %q", w.stderr.String())
	}
	assertNoJWT(t, data, map[string]string{"stdout": w.raw.String(), "stderr": w.stderr.String()})
}

// The token link of `mssante login` as --token-file: watch reports each renewal the agent
// publishes, and ends (exit 1, session-ended) once the agent removed the link at the end of the
// PSC session (ECO.1.2.6), within one refresh interval.
func TestWatch_tokenLinkECO_1_2_6(t *testing.T) {
	const ttl = 4 * time.Second
	emu, base := lpsServer(t, pscemu.Options{AccessTTL: ttl})
	pro := pscemu.DefaultProfessionals[0]
	box := pro.Mailboxes[0]
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, NoPostfix: true, TokenKey: emu.PublicKey(),
		TokenKeyID: emu.KeyID(), TokenClientID: emu.ClientID(), TokenIssuer: emu.Issuer})
	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	writeTestFile(t, root, pki.RootPEM())
	data := filepath.Join(dir, "data")
	rt := filepath.Join(dir, "run")

	a := startLogin(t, "--server", base, "--national-id", pro.NationalID, "--runtime-dir", rt)
	approveCIBA(t, emu, pro.NationalID, a.expect(t, "pending").BindingMessage)
	link := a.expect(t, "logged_in").TokenFiles[box]

	w := startWatch(t, "--token-file", link, "--account", box, "--imap", st.IMAP, "--trust-root", root, "--data-dir", data)
	w.expect(t, "watching", 15*time.Second)
	if l := w.expect(t, "token-renewed", 3*ttl); l.ExpiresAt == nil {
		t.Fatalf("token-renewed = %+v", l)
	}
	st.Deliver(box, "INBOX", watchMail(box, "Via le lien"))
	if m := w.expect(t, "mail", 15*time.Second, "token-renewed"); m.Subject != "Via le lien" {
		t.Fatalf("mail = %+v", m)
	}
	ended := time.Now()
	emu.EndSessions(pro.NationalID)
	if l := w.expect(t, "session-ended", 2*ttl, "token-renewed"); l.Reason != "token-file-removed" {
		t.Fatalf("session-ended = %+v", l)
	}
	if code := w.exitCode(t, 5*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if d := time.Since(ended); d > ttl+2*watchPoll {
		t.Errorf("watch exited %s after PSC ended the session", d)
	}
	assertNoJWT(t, data, map[string]string{"stdout": w.raw.String()})
	if left, err := os.ReadDir(rt); err != nil || len(left) != 0 {
		t.Errorf("runtime dir after the session: %v, %v", left, err)
	}
}

// Usage errors exit 2.
func TestWatch_usage(t *testing.T) {
	for _, args := range [][]string{
		{"watch"},
		{"watch", "--account", "a@test.mssante.fr"},
		{"watch", "--account", "a@test.mssante.fr", "--server", "ftp://x"},
		{"watch", "--account", "a@test.mssante.fr", "--server", "http://127.0.0.1:1", "--token-file", "f"},
		{"watch", "--account", "a@test.mssante.fr", "--token-file", "f", "extra"},
	} {
		if _, errOut, code := runMain(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

// flakyProxy forwards TCP connections to a server; while down it cuts every connection and
// refuses new ones (an operator restarting).
type flakyProxy struct {
	addr   string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
	target string
}

func startFlakyProxy(t *testing.T, target string) *flakyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{addr: ln.Addr().String(), target: target}
	t.Cleanup(func() { _ = ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.down {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
			go func() { _, _ = io.Copy(c, s); _ = c.Close() }()
		}
	}()
	return p
}

func (p *flakyProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

// ECO.1.2.7, ECO.1.2.3: the operator stays unreachable longer than the quick reopening attempts
// (a restart): watch says disconnected, keeps trying with back-off, reopens the session once the
// operator is back (reconnected) and announces the mail that arrived meanwhile.
func TestWatch_operatorOutageECO_1_2_7(t *testing.T) {
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, NoPostfix: true})
	box := "camille.testard@" + st.Domain
	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	writeTestFile(t, root, pki.RootPEM())
	tokFile := filepath.Join(dir, "token")
	writeTestFile(t, tokFile, []byte(st.Token(box, time.Hour)))
	proxy := startFlakyProxy(t, st.IMAP)

	w := startWatch(t, "--token-file", tokFile, "--account", box, "--imap", proxy.addr, "--trust-root", root,
		"--data-dir", filepath.Join(dir, "data"))
	w.expect(t, "watching", 15*time.Second)
	proxy.setDown(true)
	if l := w.expect(t, "disconnected", 15*time.Second); l.Reason == "" {
		t.Fatalf("disconnected = %+v", l)
	}
	st.Deliver(box, "INBOX", watchMail(box, "Pendant la coupure"))
	time.Sleep(2 * time.Second)
	proxy.setDown(false)
	w.expect(t, "reconnected", 30*time.Second, "disconnected")
	if m := w.expect(t, "mail", 15*time.Second); m.Subject != "Pendant la coupure" {
		t.Fatalf("mail after the outage = %+v", m)
	}
	select {
	case c := <-w.code:
		t.Fatalf("watch exited (%d) during the outage; stderr: %s", c, w.stderr.String())
	default:
	}
}

// A watch --server that cannot open the mailbox (no operator there) exits 1 and logs out: the
// professional's session does not linger at the server or at PSC.
func TestWatch_serverFailureLogsOut(t *testing.T) {
	emu, base := lpsServer(t, pscemu.Options{})
	pro := pscemu.DefaultProfessionals[0]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	dir := t.TempDir()
	w := startWatch(t, "--server", base, "--national-id", pro.NationalID, "--account", pro.Mailboxes[0],
		"--imap", closed, "--data-dir", filepath.Join(dir, "data"), "--trust-root", filepath.Join(dir, "absent.pem"))
	approveCIBA(t, emu, pro.NationalID, w.expect(t, "pending", 10*time.Second).BindingMessage)
	if code := w.exitCode(t, 15*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if n := emu.EndSessions(pro.NationalID); n != 0 {
		t.Fatalf("%d PSC sessions still open after watch failed", n)
	}
}
