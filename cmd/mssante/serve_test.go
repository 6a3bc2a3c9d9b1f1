package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/sandbox"
	"github.com/mssante/mssante/internal/store/storetest"
	"github.com/mssante/mssante/internal/testpki"
)

// serveRun is a `mssante serve` running in the process.
type serveRun struct {
	ready  serveReady
	stderr *lockedBuffer
	cancel context.CancelFunc
	code   chan int
}

func startServe(t *testing.T, args ...string) *serveRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &serveRun{stderr: &lockedBuffer{}, cancel: cancel, code: make(chan int, 1)}
	go func() {
		s.code <- run(ctx, &cmdEnv{stdout: pw, stderr: s.stderr, stdin: strings.NewReader("")}, append([]string{"serve"}, args...))
		_ = pw.Close()
	}()
	t.Cleanup(func() { s.stop(t) })
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatalf("serve wrote no ready line: %v; stderr: %s", err, s.stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if err := json.Unmarshal(line, &s.ready); err != nil || s.ready.Status != "listening" {
		t.Fatalf("ready line %s (%v)", line, err)
	}
	return s
}

// eachDialect runs f as subtests "sqlite" and "postgres", each given the URL of a fresh database
// of that dialect (storetest) for serve's --db and the commands sharing its state.
func eachDialect(t *testing.T, f func(t *testing.T, db string)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { f(t, storetest.URL(t, d)) })
	}
}

// stop interrupts serve and returns its exit code.
func (s *serveRun) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case c := <-s.code:
		s.code <- c
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	return -1
}

var approveForm = regexp.MustCompile(`action="(/sandbox/ciba/[^"]+/approve)"`)

// approveOnSandboxPage approves the pending CIBA request on the emulator's sandbox page, as a
// tester would with a browser.
func approveOnSandboxPage(t *testing.T, ready *sandboxReady, binding string) {
	t.Helper()
	resp, err := http.Get(ready.CIBAPage)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := approveForm.FindSubmatch(page)
	if m == nil || !bytes.Contains(page, []byte("<strong>"+binding+"</strong>")) {
		t.Fatalf("sandbox page has no pending request with binding %s:\n%s", binding, page)
	}
	resp, err = http.Post(ready.PSCURL+string(m[1]), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// ECO.1.2.1, ECO.1.2.5: `mssante serve --sandbox` over TLS: JSON logs, /api/v1/me 401, secure
// cookies, a `mssante login` agent logs in by CIBA (approved on the sandbox page) and publishes a
// token; after logout and shutdown neither the data directory nor the logs hold it.
func TestServe_sandboxTLSWithLoginAgent(t *testing.T) {
	dir := t.TempDir()
	pki := testpki.New(t, testpki.Options{})
	_, key, chain := pki.Server("127.0.0.1").WriteFiles(t, dir, "server")
	ca := filepath.Join(dir, "ca.pem")
	writeTestFile(t, ca, pki.RootPEM())
	data := filepath.Join(dir, "data")
	s := startServe(t, "--sandbox", "--sandbox-ports", "random", "--listen", "127.0.0.1:0", "--tls-cert", chain, "--tls-key", key, "--data-dir", data)
	if !s.ready.TLS || !strings.HasPrefix(s.ready.URL, "https://") || s.ready.Sandbox == nil ||
		len(s.ready.Sandbox.Professionals) == 0 {
		t.Fatalf("ready = %+v", s.ready)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.RootPool()}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(s.ready.URL + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/api/v1/me without session: %d", resp.StatusCode)
	}
	resp, err = hc.Get(s.ready.URL + "/auth/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, "__Host-mssante_session=") || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") ||
		!strings.Contains(sc, "SameSite=Lax") || !strings.HasPrefix(resp.Header.Get("Location"), s.ready.Sandbox.PSCURL) {
		t.Fatalf("login: cookie %q, location %q", sc, resp.Header.Get("Location"))
	}

	pro := s.ready.Sandbox.Professionals[0]
	a := startLogin(t, "--server", s.ready.URL, "--ca-file", ca, "--national-id", pro.NationalID,
		"--runtime-dir", filepath.Join(dir, "run"))
	approveOnSandboxPage(t, s.ready.Sandbox, a.expect(t, "pending").BindingMessage)
	in := a.expect(t, "logged_in")
	tok, err := readToken(in.TokenFiles[pro.Mailboxes[0]])
	if err != nil {
		t.Fatal(err)
	}
	if sub := tokenAuthor(tok, ""); sub != pro.NationalID {
		t.Fatalf("token of %q, want %s", sub, pro.NationalID)
	}
	a.cancel()
	a.expect(t, "logged_out")
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exit %d: %s", code, s.stderr.String())
	}

	logs := s.stderr.String()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("log line is not JSON: %s", line)
		}
	}
	for _, want := range []string{"professional logged in", "professional session ended", `"reason":"logout"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	if strings.Contains(logs, sig) {
		t.Error("serve logs hold the token")
	}
	assertNoTokenInDir(t, data, tok)
	assertNoTokenInDir(t, dir, tok)
	// The audit trail recorded the login and the logout.
	out, errOut, code := runMain(t, "audit", "export", "--data-dir", data)
	if code != 0 || !strings.Contains(out, pro.NationalID) || strings.Contains(out, sig) {
		t.Fatalf("audit export: code %d %s\n%s", code, errOut, out)
	}
}

// Plain HTTP is refused on a non-loopback address; a development server on 127.0.0.1 says so.
func TestServe_plainHTTPLoopbackOnly(t *testing.T) {
	if _, errOut, code := runMain(t, "serve", "--sandbox", "--sandbox-ports", "random", "--listen", "0.0.0.0:0", "--data-dir", t.TempDir()); code != 2 ||
		!strings.Contains(errOut, "loopback") {
		t.Fatalf("serve on 0.0.0.0 without TLS: exit %d %s", code, errOut)
	}
	s := startServe(t, "--sandbox", "--sandbox-ports", "random", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	if s.ready.TLS || !strings.HasPrefix(s.ready.URL, "http://127.0.0.1:") {
		t.Fatalf("ready = %+v", s.ready)
	}
	// --sandbox starts the whole offline world, not only the PSC emulator.
	if w := s.ready.Sandbox.World; w == nil || w.IMAP == "" || w.SMTP == "" || w.AutoconfigURL == "" || len(w.Accounts) == 0 {
		t.Fatalf("sandbox world not announced: %+v", s.ready.Sandbox)
	}
	if !strings.Contains(s.stderr.String(), "plain HTTP on a loopback address") {
		t.Fatalf("no development warning: %s", s.stderr.String())
	}
	u, _ := url.Parse(s.ready.URL)
	resp, err := http.Get("http://" + u.Host + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
}

// Without --sandbox, the PSC registration is required: client id, then a secret file or a client
// certificate (not both).
func TestServe_pscRegistrationRequired(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	writeTestFile(t, secret, []byte("s"))
	for _, args := range [][]string{
		{"serve", "--listen", "127.0.0.1:0"},
		{"serve", "--listen", "127.0.0.1:0", "--psc-client-id", "mssante"},
		{"serve", "--listen", "127.0.0.1:0", "--psc-client-id", "mssante", "--psc-client-cert", "c.pem"},
		{"serve", "--listen", "127.0.0.1:0", "--psc-client-id", "mssante", "--psc-client-secret-file", secret,
			"--psc-client-cert", "c.pem", "--psc-client-key", "k.pem"},
		{"serve", "--listen", "127.0.0.1:0", "--psc", "nowhere"},
	} {
		if _, errOut, code := runMain(t, append(args, "--data-dir", dir)...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut)
		}
	}
}

// Issue 11 item 4: `serve --sandbox` and `sandbox` share one world (same directory, same default
// ports): a second start says that one runs and where, a taken port says how serve moves it, and
// the address to open stands alone on its stderr line.
func TestServe_sandboxSharedWorld(t *testing.T) {
	dir := t.TempDir()
	any := "127.0.0.1:0"
	startSandboxCmd(t, "--data-dir", filepath.Join(dir, "sandbox"), "--imap", any, "--smtp", any, "--https", any, "--http", any, "--psc", any)
	e, err := sandbox.EnvOf(filepath.Join(dir, "sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runMain(t, "serve", "--sandbox", "--listen", "127.0.0.1:0", "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "already running") || !strings.Contains(errOut, e.IMAP) || !strings.Contains(errOut, "--sandbox-dir") {
		t.Errorf("serve --sandbox on the running sandbox's world: exit %d\n%s", code, errOut)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// A fresh world whose first port (revocation: the certificates carry it) is taken.
	_, errOut, code = runMain(t, "sandbox", "--data-dir", filepath.Join(dir, "other"), "--http", ln.Addr().String(),
		"--imap", any, "--smtp", any, "--https", any, "--psc", any)
	if code != 1 || !strings.Contains(errOut, ln.Addr().String()) || !strings.Contains(errOut, "--http") {
		t.Errorf("sandbox with a taken port: exit %d\n%s", code, errOut)
	}

	// At a terminal, the address to open stands alone on its line.
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lockedBuffer{}
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cmdEnv{stdout: pw, stderr: stderr, stdin: strings.NewReader(""), stderrTTY: true},
			[]string{"serve", "--sandbox", "--sandbox-ports", "random", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()})
		_ = pw.Close()
	}()
	defer func() { cancel(); <-done }()
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var ready serveReady
	if err != nil || json.Unmarshal(line, &ready) != nil {
		t.Fatalf("ready line %q: %v; %s", line, err, stderr.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(strings.Split(stderr.String(), "\n"), ready.URL+"/") {
		if time.Now().After(deadline) {
			t.Fatalf("no line %q alone on stderr:\n%s", ready.URL+"/", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
