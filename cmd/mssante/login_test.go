package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/pscemu"
	"github.com/mssante/mssante/internal/server"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
)

// lpsServer starts a PSC emulator and an intermediate LPS server (internal/server) on 127.0.0.1.
func lpsServer(t *testing.T, eo pscemu.Options) (*pscemu.Server, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	eo.ClientSecret = "secret-de-test"
	if eo.Professionals == nil {
		eo.Professionals = pscemu.DefaultProfessionals
	}
	emu, err := pscemu.Start(ctx, &eo)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = http.NotFoundHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	client, err := psc.New(ctx, psc.Config{Issuer: emu.Issuer, DiscoveryURL: emu.DiscoveryURL(),
		ClientID: emu.ClientID(), ClientSecret: []byte(eo.ClientSecret), RedirectURL: ts.URL + "/auth/callback"})
	if err != nil {
		t.Fatal(err)
	}
	mailboxes := func(_ context.Context, u *psc.UserInfo) ([]string, error) { // the Annuaire's role
		for _, p := range eo.Professionals {
			if p.NationalID == u.SubjectNameID {
				return p.Mailboxes, nil
			}
		}
		return nil, nil
	}
	srv, err := server.New(server.Options{PSC: client, Mailboxes: mailboxes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	h = srv.Handler()
	return emu, ts.URL
}

// agentRun is a `mssante login` running in the process.
type agentRun struct {
	lines  chan loginLine
	code   chan int
	cancel context.CancelFunc
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startLogin(t *testing.T, args ...string) *agentRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	a := &agentRun{lines: make(chan loginLine, 16), code: make(chan int, 1), cancel: cancel, stderr: &lockedBuffer{}}
	go func() {
		a.code <- run(ctx, &cmdEnv{stdout: pw, stderr: a.stderr, stdin: strings.NewReader("")}, append([]string{"login"}, args...))
		_ = pw.Close()
	}()
	go func() {
		defer close(a.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var l loginLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l.Status = "malformed: " + sc.Text()
			}
			a.lines <- l
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-a.code:
		case <-time.After(10 * time.Second):
			t.Error("login did not stop")
		}
	})
	return a
}

func (a *agentRun) expect(t *testing.T, status string) loginLine {
	t.Helper()
	select {
	case l, ok := <-a.lines:
		if !ok || l.Status != status {
			t.Fatalf("login line %+v (open %t), want status %s; stderr: %s", l, ok, status, a.stderr.String())
		}
		return l
	case <-time.After(15 * time.Second):
		t.Fatalf("no %s line from login within 15 s; stderr: %s", status, a.stderr.String())
	}
	return loginLine{}
}

func (a *agentRun) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case c := <-a.code:
		a.code <- c // for the cleanup
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("login did not exit")
	}
	return -1
}

// approveCIBA approves the emulator's pending request after checking the binding message shown.
func approveCIBA(t *testing.T, emu *pscemu.Server, nationalID, binding string) {
	t.Helper()
	for _, p := range emu.Pending() {
		if p.NationalID == nationalID && p.BindingMessage == binding {
			if err := emu.Approve(p.AuthReqID); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no pending CIBA request for %s with binding %s", nationalID, binding)
}

// verifyPSCToken checks that tok is a JWT signed by the emulator for nationalID and returns its
// claims.
func verifyPSCToken(t *testing.T, emu *pscemu.Server, tok, nationalID string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("token is not a JWS: %v", err)
	}
	payload, err := jws.Verify(emu.PublicKey())
	if err != nil {
		t.Fatalf("token not signed by PSC: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["SubjectNameID"] != nationalID {
		t.Fatalf("token of %v, want %s", claims["SubjectNameID"], nationalID)
	}
	return claims
}

// ECO.1.2.5, ECO.1.2.6: the login agent publishes the current token of each mailbox as a token
// link (memory only: the runtime dir holds nothing but symbolic links), republishes it at each
// renewal, and ends, links removed, when PSC ends the session.
func TestLogin_agentPublishesCurrentToken(t *testing.T) {
	emu, base := lpsServer(t, pscemu.Options{AccessTTL: 6 * time.Second})
	pro := pscemu.DefaultProfessionals[1] // two mailboxes
	rt := filepath.Join(t.TempDir(), "run")
	a := startLogin(t, "--server", base, "--national-id", pro.NationalID, "--runtime-dir", rt)
	pending := a.expect(t, "pending")
	if len(pending.BindingMessage) != 2 || !strings.Contains(a.stderr.String(), "Code de vérification : "+pending.BindingMessage) {
		t.Fatalf("binding message %q not shown: %s", pending.BindingMessage, a.stderr.String())
	}
	approveCIBA(t, emu, pro.NationalID, pending.BindingMessage)
	in := a.expect(t, "logged_in")
	if in.NationalID != pro.NationalID || len(in.TokenFiles) != len(pro.Mailboxes) {
		t.Fatalf("logged_in = %+v", in)
	}
	path := in.TokenFiles[pro.Mailboxes[0]]
	first, err := readToken(path) // what send/list/fetch --token-file do
	if err != nil {
		t.Fatal(err)
	}
	verifyPSCToken(t, emu, first, pro.NationalID)
	if fi, err := os.Stat(rt); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("runtime dir mode %v (%v)", fi.Mode(), err)
	}
	assertNoTokenInDir(t, rt, first)

	a.expect(t, "token-renewed")
	second, err := readToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatal("token link still gives the old token after token-renewed")
	}
	verifyPSCToken(t, emu, second, pro.NationalID)
	assertNoTokenInDir(t, rt, second)

	emu.EndSessions(pro.NationalID)
	if ended := a.expect(t, "session-ended"); ended.Reason != "refresh-refused" {
		t.Fatalf("session-ended reason %q", ended.Reason)
	}
	if code := a.exitCode(t); code != 1 {
		t.Fatalf("exit code %d after session end, want 1", code)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("token link still there after the session ended: %v", err)
	}
	if _, err := readToken(path); err == nil {
		t.Fatal("a token is still readable after the session ended")
	}
}

// Ctrl-C logs out, at PSC too, and removes the links.
func TestLogin_interruptLogsOut(t *testing.T) {
	emu, base := lpsServer(t, pscemu.Options{})
	pro := pscemu.DefaultProfessionals[0]
	rt := filepath.Join(t.TempDir(), "run")
	a := startLogin(t, "--server", base, "--national-id", pro.NationalID, "--channel", "CARD", "--runtime-dir", rt)
	approveCIBA(t, emu, pro.NationalID, a.expect(t, "pending").BindingMessage)
	in := a.expect(t, "logged_in")
	a.cancel()
	a.expect(t, "logged_out")
	if code := a.exitCode(t); code != 0 {
		t.Fatalf("exit code %d after interrupt", code)
	}
	if _, err := os.Lstat(in.TokenFiles[pro.Mailboxes[0]]); !os.IsNotExist(err) {
		t.Fatalf("token link left behind: %v", err)
	}
	if n := emu.EndSessions(pro.NationalID); n != 0 {
		t.Fatalf("%d PSC sessions still open after logout", n)
	}
}

// Usage errors: no server, a server that is not a URL.
func TestLogin_usage(t *testing.T) {
	for _, args := range [][]string{{"login"}, {"login", "--server", "ftp://127.0.0.1:1"}} {
		if _, _, code := runMain(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// ECO.1.2.1, ECO.1.2.5: end to end with real Dovecot validating the emulator's tokens: login by
// CIBA through the intermediate server, then `mssante list --token-file <token link>` opens the
// mailbox; no token in the data directory afterwards.
func TestLogin_listWithDovecot(t *testing.T) {
	emu, base := lpsServer(t, pscemu.Options{})
	pro := pscemu.DefaultProfessionals[0]
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, NoPostfix: true, TokenKey: emu.PublicKey(),
		TokenKeyID: emu.KeyID(), TokenClientID: emu.ClientID(), TokenIssuer: emu.Issuer})
	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	writeTestFile(t, root, pki.RootPEM())
	data := filepath.Join(dir, "data")
	st.Deliver(pro.Mailboxes[0], "INBOX", []byte("From: <confrere@test.mssante.fr>\r\nTo: <"+pro.Mailboxes[0]+
		">\r\nSubject: Compte rendu via agent\r\nDate: Sat, 28 Nov 2026 10:00:00 +0100\r\nMessage-ID: <agent-1@test.mssante.fr>\r\n\r\nBonjour.\r\n"))

	a := startLogin(t, "--server", base, "--national-id", pro.NationalID, "--runtime-dir", filepath.Join(dir, "run"))
	approveCIBA(t, emu, pro.NationalID, a.expect(t, "pending").BindingMessage)
	link := a.expect(t, "logged_in").TokenFiles[pro.Mailboxes[0]]
	out, errOut, code := runMain(t, "list", "--account", pro.Mailboxes[0], "--token-file", link, "--imap", st.IMAP,
		"--trust-root", root, "--data-dir", data)
	if code != 0 {
		t.Fatalf("list with the token link: code %d: %s\n%s", code, errOut, st.Logs())
	}
	if !strings.Contains(out, "Compte rendu via agent") {
		t.Fatalf("list output = %s", out)
	}
	tok, err := readToken(link)
	if err != nil {
		t.Fatal(err)
	}
	assertNoTokenInDir(t, data, tok)
}

// assertNoTokenInDir reads every regular file under dir (symbolic links are not followed) and
// fails if one holds tok or its signature.
func assertNoTokenInDir(t *testing.T, dir, tok string) {
	t.Helper()
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil || strings.Contains(target, sig) {
				t.Errorf("link %s -> %q", p, target)
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte(sig)) {
			t.Errorf("%s holds the token", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Browser login for the agent: it shows a user code; the professional types it on the server's
// /auth/device page and logs in at PSC in a browser; the agent then publishes the token.
func TestLogin_browserUserCode(t *testing.T) {
	emu, base := lpsServer(t, pscemu.Options{})
	pro := pscemu.DefaultProfessionals[1]
	a := startLogin(t, "--server", base, "--runtime-dir", filepath.Join(t.TempDir(), "run"), "--mailbox", pro.Mailboxes[1])
	pending := a.expect(t, "pending")
	if pending.UserCode == "" || pending.VerificationURL != base+"/auth/device" ||
		!strings.Contains(a.stderr.String(), pending.UserCode) {
		t.Fatalf("pending = %+v, stderr %s", pending, a.stderr.String())
	}
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := b.PostForm(pending.VerificationURL, url.Values{"user_code": {pending.UserCode}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	links := regexp.MustCompile(`class="login" href="([^"]+)"`).FindAllSubmatch(page, -1)
	if len(links) < 2 {
		t.Fatalf("no PSC login page:\n%s", page)
	}
	resp, err = b.Get(emu.URL + strings.ReplaceAll(string(links[1][1]), "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Connexion réussie") {
		t.Fatalf("browser page after login:\n%s", page)
	}
	in := a.expect(t, "logged_in")
	if in.NationalID != pro.NationalID || len(in.TokenFiles) != 1 || in.TokenFiles[pro.Mailboxes[1]] == "" {
		t.Fatalf("logged_in = %+v", in)
	}
	tok, err := readToken(in.TokenFiles[pro.Mailboxes[1]])
	if err != nil {
		t.Fatal(err)
	}
	verifyPSCToken(t, emu, tok, pro.NationalID)
}

// ECO.1.2.7, ECO.1.2.6, ECO.1.2.3 with real Dovecot: an IMAP session authenticated through the
// agent's token link is closed by the operator after the first access token expired; it reopens
// with the renewed token. Once PSC ends the session, the next reopening fails cleanly (no token)
// and `mssante list` exits 1 naming the token file.
func TestLogin_imapReopensWithRenewedToken(t *testing.T) {
	emu, base := lpsServer(t, pscemu.Options{AccessTTL: 6 * time.Second})
	pro := pscemu.DefaultProfessionals[0]
	box := pro.Mailboxes[0]
	pki := testpki.New(t, testpki.Options{RSA: true})
	st := peertest.Start(t, peertest.Options{PKI: pki, NoPostfix: true, TokenKey: emu.PublicKey(),
		TokenKeyID: emu.KeyID(), TokenClientID: emu.ClientID(), TokenIssuer: emu.Issuer})
	st.Deliver(box, "INBOX", []byte("From: <confrere@test.mssante.fr>\r\nTo: <"+box+
		">\r\nSubject: Reprise de session\r\nDate: Sat, 28 Nov 2026 10:00:00 +0100\r\nMessage-ID: <agent-2@test.mssante.fr>\r\n\r\nBonjour.\r\n"))
	dir := t.TempDir()
	a := startLogin(t, "--server", base, "--national-id", pro.NationalID, "--runtime-dir", filepath.Join(dir, "run"))
	approveCIBA(t, emu, pro.NationalID, a.expect(t, "pending").BindingMessage)
	link := a.expect(t, "logged_in").TokenFiles[box]
	first, err := readToken(link)
	if err != nil {
		t.Fatal(err)
	}
	firstExp := time.Unix(int64(verifyPSCToken(t, emu, first, pro.NationalID)["exp"].(float64)), 0)

	ctx := context.Background()
	ep, err := lps.ParseEndpoint(st.IMAP)
	if err != nil {
		t.Fatal(err)
	}
	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: box,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return readToken(link) })}
	ic, err := lps.DialIMAP(ctx, ep, auth, &lps.Options{TLS: &tls.Config{RootCAs: pki.RootPool(), MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatalf("IMAP with the token link: %v\n%s", err, st.Logs())
	}
	defer ic.Close()
	if _, err := ic.Select(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	a.expect(t, "token-renewed")
	time.Sleep(time.Until(firstExp) + time.Second) // the first token is now refused by Dovecot
	st.KickIMAP(box)
	time.Sleep(300 * time.Millisecond)
	uids, err := ic.Search(ctx, lps.Criteria{Subject: "Reprise de session"})
	if err != nil || len(uids) != 1 {
		t.Fatalf("Search after the operator closed the session = %v, %v\n%s", uids, err, st.Logs())
	}
	if now, _ := readToken(link); now == first {
		t.Fatal("the link still gives the first token")
	}

	emu.EndSessions(pro.NationalID)
	a.expect(t, "session-ended")
	st.KickIMAP(box)
	time.Sleep(300 * time.Millisecond)
	if _, err := ic.Search(ctx, lps.Criteria{}); !errors.Is(err, lps.ErrAuth) {
		t.Fatalf("Search after the PSC session ended = %v, want ErrAuth", err)
	}
	// Exits 1 naming the token file, before any connection (no retry loop to wait out).
	if _, errOut, code := runMain(t, "list", "--account", box, "--token-file", link, "--imap", st.IMAP,
		"--data-dir", filepath.Join(dir, "data")); code != 1 || !strings.Contains(errOut, "token file") {
		t.Fatalf("list after the session ended: exit %d, %s", code, errOut)
	}
}
