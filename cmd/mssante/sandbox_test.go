package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/sandbox"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startSandboxCmd runs `mssante sandbox` in the background until the returned stop is called,
// which waits for the command to end and returns its exit code.
func startSandboxCmd(t *testing.T, args ...string) (stop func() int, stderr *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cmdEnv{stdout: &syncBuffer{}, stderr: stderr, stdin: strings.NewReader("")}, append([]string{"sandbox"}, args...))
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "TEST world running") {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("mssante sandbox ended with %d: %s", code, stderr)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("mssante sandbox did not start: %s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return stop, stderr
}

// The acceptance of issue 5, with the real CLI flows: `sandbox` in the foreground, `sandbox env`,
// `sandbox token`, `autoconfig --test-connection` for both families (ECO.1.1.9), `send` with
// XOAUTH2 (ECO.1.2.1) and with the applicative certificate (ECO.1.3.1), `list`, `fetch`, a mail to
// the closed patient mailbox coming back as a bounce (ECO.2.3.1), a clean shutdown on the signal
// context, and mail surviving a restart.
func TestSandbox_acceptance(t *testing.T) {
	dir := t.TempDir()
	sbDir := filepath.Join(dir, "sandbox")
	any := "127.0.0.1:0"
	stop, _ := startSandboxCmd(t, "--data-dir", sbDir, "--imap", any, "--smtp", any, "--https", any, "--http", any, "--psc", any)

	out, errOut, code := runMain(t, "sandbox", "env", "--data-dir", sbDir)
	var env sandbox.Env
	if code != 0 || json.Unmarshal([]byte(out), &env) != nil {
		t.Fatalf("sandbox env: code %d, %s %s", code, out, errOut)
	}
	var jeanne, paul, app, closed sandbox.Account
	for _, a := range env.Accounts {
		switch {
		case a.Kind == "personal" && jeanne.Address == "":
			jeanne = a
		case a.Kind == "personal":
			paul = a
		case a.Kind == "applicative":
			app = a
		case a.Kind == "patient" && a.Closed:
			closed = a
		}
	}
	if jeanne.NationalID == "" || paul.NationalID == "" || app.Cert == "" || app.Key == "" || closed.Address == "" ||
		env.AutoconfigURL == "" || env.IMAP == "" || env.SMTP == "" {
		t.Fatalf("sandbox env lacks accounts or addresses: %s", out)
	}
	if _, err := os.Stat(env.TrustRoot); err != nil {
		t.Fatalf("trust_root: %v", err)
	}
	if !env.Running || strings.Contains(errOut, "no sandbox is running") {
		t.Errorf("sandbox env while it runs: running %v, stderr %q", env.Running, errOut)
	}

	// The README's `sandbox token --user ID -o FILE`: the file is 0600, even when an earlier, wider
	// file is there (issue 11 item 5).
	tokenFile := func(who sandbox.Account) string {
		f := filepath.Join(dir, who.NationalID+".token")
		if err := os.WriteFile(f, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runMain(t, "sandbox", "token", "--user", who.NationalID, "--data-dir", sbDir, "-o", f)
		if code != 0 || out != "" || !strings.Contains(errOut, "SANDBOX") || !strings.Contains(errOut, f) {
			t.Fatalf("sandbox token -o: code %d, stdout %q, stderr %q", code, out, errOut)
		}
		tok, err := os.ReadFile(f)
		if err != nil || strings.Count(strings.TrimSpace(string(tok)), ".") != 2 {
			t.Fatalf("token file: %v %q", err, tok)
		}
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("token file mode %v (%v), want 0600", fi.Mode().Perm(), err)
		}
		return f
	}
	jeanneTok, paulTok := tokenFile(jeanne), tokenFile(paul)
	common := []string{"--autoconfig-url", env.AutoconfigURL, "--trust-root", env.TrustRoot, "--data-dir", filepath.Join(dir, "client")}
	appCreds := []string{"--cert", app.Cert, "--key", app.Key}

	for _, c := range []struct {
		addr  string
		creds []string
	}{{jeanne.Address, []string{"--token-file", jeanneTok}}, {app.Address, appCreds}} {
		out, errOut, code := runMain(t, append(append([]string{"autoconfig", c.addr, "--test-connection"}, c.creds...), common...)...)
		if code != 0 || !strings.Contains(out, `"ok": true`) || strings.Contains(out, `"ok": false`) {
			t.Fatalf("autoconfig --test-connection %s: code %d\n%s\n%s", c.addr, code, out, errOut)
		}
	}

	eml := filepath.Join(dir, "msg.eml")
	writeTestFile(t, eml, []byte("From: <"+jeanne.Address+">\r\nTo: <"+paul.Address+">\r\nSubject: Essai sandbox CLI\r\n"+
		"Date: Sat, 28 Nov 2026 10:00:00 +0100\r\nMessage-ID: <sandbox-cli-1@sandbox.test>\r\n\r\nBonjour Paul.\r\n"))
	if out, errOut, code := runMain(t, append([]string{"send", eml, "--account", jeanne.Address, "--token-file", jeanneTok, "--dsn"}, common...)...); code != 0 {
		t.Fatalf("send (XOAUTH2): code %d, %s %s", code, out, errOut)
	}
	paulArgs := append([]string{"--account", paul.Address, "--token-file", paulTok}, common...)
	uid := waitListed(t, paulArgs, "Essai sandbox CLI")
	got := filepath.Join(dir, "got.eml")
	if _, errOut, code := runMain(t, append([]string{"fetch", "--uid", strconv.Itoa(int(uid)), "-o", got}, paulArgs...)...); code != 0 {
		t.Fatalf("fetch: code %d: %s", code, errOut)
	}
	if body, err := os.ReadFile(got); err != nil || !strings.Contains(string(body), "Bonjour Paul.") {
		t.Errorf("fetched message (%v):\n%s", err, body)
	}

	// The applicative mailbox writes to the closed patient mailbox: a bounce comes back.
	toPatient := filepath.Join(dir, "patient.eml")
	writeTestFile(t, toPatient, []byte("From: <"+app.Address+">\r\nTo: <"+closed.Address+">\r\nSubject: Pour le patient\r\n"+
		"Date: Sat, 28 Nov 2026 10:00:00 +0100\r\nMessage-ID: <sandbox-cli-2@sandbox.test>\r\n\r\nBonjour.\r\n"))
	if out, errOut, code := runMain(t, append(append([]string{"send", toPatient, "--account", app.Address}, appCreds...), common...)...); code != 0 {
		t.Fatalf("send (certificate): code %d, %s %s", code, out, errOut)
	}
	appArgs := append(append([]string{"--account", app.Address}, appCreds...), common...)
	waitListed(t, appArgs, "Message non distribué")

	// ECO.1.1.6: once its certificate is revoked, the applicative mailbox is refused.
	if out, errOut, code := runMain(t, "sandbox", "revoke", app.Address, "--data-dir", sbDir); code != 0 || !strings.Contains(out, `"serial"`) {
		t.Fatalf("sandbox revoke: code %d, %s %s", code, out, errOut)
	}
	if _, errOut, code := runMain(t, append([]string{"list"}, appArgs...)...); code != 1 {
		t.Errorf("list with a revoked certificate: code %d, %s", code, errOut)
	}
	if _, _, code := runMain(t, "sandbox", "revoke", jeanne.Address, "--data-dir", sbDir); code != 1 {
		t.Errorf("revoke a personal mailbox: code %d, want 1", code)
	}

	// ECO.1.2.5: no token reached the sandbox's or the client's data directory (the test's own
	// token files aside).
	for _, f := range []string{jeanneTok, paulTok} {
		tok, _ := os.ReadFile(f)
		sig := strings.TrimSpace(string(tok))
		sig = sig[strings.LastIndexByte(sig, '.')+1:]
		for _, d := range []string{sbDir, filepath.Join(dir, "client")} {
			_ = filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
				if err != nil || fi.IsDir() {
					return err
				}
				if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(sig)) {
					t.Errorf("ECO.1.2.5: token found in %s", p)
				}
				return nil
			})
		}
	}

	// Clean shutdown, restart on the same data directory (same ports), the mail is still there.
	if code := stop(); code != 0 {
		t.Fatalf("mssante sandbox exit code %d after the signal", code)
	}
	// The PSC emulator's signing key lives in memory only: tokens of the previous run are refused
	// and a new one is needed.
	startSandboxCmd(t, "--data-dir", sbDir)
	if _, errOut, code := runMain(t, append([]string{"list"}, paulArgs...)...); code != 1 || !strings.Contains(errOut, "AUTHENTICATIONFAILED") {
		t.Errorf("token of the previous run: code %d, %s", code, errOut)
	}
	paulArgs[3] = tokenFile(paul)
	waitListed(t, paulArgs, "Essai sandbox CLI")
}

// waitListed runs `list` until a message whose subject contains subject shows, and returns its UID.
func waitListed(t *testing.T, args []string, subject string) uint32 {
	t.Helper()
	for i := 0; i < 50; i++ {
		out, errOut, code := runMain(t, append([]string{"list"}, args...)...)
		if code != 0 {
			t.Fatalf("list: code %d: %s", code, errOut)
		}
		for _, l := range parseLines(t, out) {
			if strings.Contains(l.Subject, subject) {
				return l.UID
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no message %q listed", subject)
	return 0
}

// `sandbox token` says clearly when the sandbox is not running, or was never started.
func TestSandboxToken_notRunning(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := runMain(t, "sandbox", "token", "--user", "899700200016", "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "mssante sandbox") {
		t.Errorf("never started: code %d, %q", code, errOut)
	}
	if _, _, code := runMain(t, "sandbox", "token", "--data-dir", dir); code != 2 {
		t.Errorf("without --user: code %d, want 2", code)
	}
	stop, _ := startSandboxCmd(t, "--data-dir", dir, "--imap", "127.0.0.1:0", "--smtp", "127.0.0.1:0",
		"--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--psc", "127.0.0.1:0")
	stop()
	_, errOut, code = runMain(t, "sandbox", "token", "--user", "899700200016", "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "not running") {
		t.Errorf("stopped: code %d, %q", code, errOut)
	}
	// The domains are fixed by the first start.
	_, errOut, code = runMain(t, "sandbox", "--data-dir", dir, "--pro-domain", "autre.test")
	if code != 1 || !strings.Contains(errOut, "first start") {
		t.Errorf("other domain on restart: code %d, %q", code, errOut)
	}
}

// `sandbox env` keeps the JSON contract of issue 5 item 5 exactly (field names, account kinds,
// cert/key files that exist for the applicative mailbox, closed as a boolean on every account),
// and `--get`/`--account` print one value as plain text so the README needs no jq (QA issue 5).
func TestSandboxEnv_contractAndGet(t *testing.T) {
	dir := t.TempDir()
	stop, _ := startSandboxCmd(t, "--data-dir", dir, "--imap", "127.0.0.1:0", "--smtp", "127.0.0.1:0",
		"--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--psc", "127.0.0.1:0")
	if code := stop(); code != 0 {
		t.Fatalf("sandbox stopped with %d", code)
	}
	out, errOut, code := runMain(t, "sandbox", "env", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("sandbox env: %d %s", code, errOut)
	}
	if !strings.Contains(errOut, "no sandbox is running on "+dir) {
		t.Errorf("sandbox env of a stopped sandbox: stderr %q, want a note that it is not running", errOut)
	}
	var raw struct {
		Running       *bool            `json:"running"`
		AutoconfigURL *string          `json:"autoconfig_url"`
		TrustRoot     *string          `json:"trust_root"`
		IMAP          *string          `json:"imap"`
		SMTP          *string          `json:"smtp"`
		Accounts      []map[string]any `json:"accounts"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.AutoconfigURL == nil || !strings.HasPrefix(*raw.AutoconfigURL, "https://") || raw.TrustRoot == nil ||
		raw.IMAP == nil || raw.SMTP == nil || len(raw.Accounts) == 0 || raw.Running == nil || *raw.Running {
		t.Fatalf("sandbox env lacks a contract field: %s", out)
	}
	kinds := map[string]int{}
	for _, a := range raw.Accounts {
		for _, f := range []string{"address", "kind", "national_id", "cert", "key"} {
			if _, ok := a[f].(string); !ok {
				t.Errorf("account %v: %q missing or not a string", a["address"], f)
			}
		}
		if _, ok := a["closed"].(bool); !ok {
			t.Errorf("account %v: closed missing or not a boolean", a["address"])
		}
		kind, _ := a["kind"].(string)
		kinds[kind]++
		if kind == "applicative" {
			for _, f := range []string{"cert", "key"} {
				if p, _ := a[f].(string); p == "" || !fileExists(p) {
					t.Errorf("applicative %s: %s %q does not exist", a["address"], f, p)
				}
			}
		}
	}
	for k := range kinds {
		if !slices.Contains([]string{"personal", "organisational", "applicative", "patient"}, k) {
			t.Errorf("kind %q outside the contract", k)
		}
	}
	if len(kinds) != 4 {
		t.Errorf("kinds = %v, want all four", kinds)
	}

	for field, want := range map[string]string{"trust_root": *raw.TrustRoot, "autoconfig_url": *raw.AutoconfigURL, "imap": *raw.IMAP} {
		got, errOut, code := runMain(t, "sandbox", "env", "--data-dir", dir, "--get", field)
		if code != 0 || got != want+"\n" {
			t.Errorf("env --get %s = %q (%d %s), want %q", field, got, code, errOut, want)
		}
	}
	var app map[string]any
	for _, a := range raw.Accounts {
		if a["kind"] == "applicative" {
			app = a
		}
	}
	addr, _ := app["address"].(string)
	if got, _, code := runMain(t, "sandbox", "env", "--data-dir", dir, "--account", strings.ToUpper(addr), "--get", "key"); code != 0 || got != app["key"].(string)+"\n" {
		t.Errorf("env --account %s --get key = %q (%d)", addr, got, code)
	}
	if _, errOut, code := runMain(t, "sandbox", "env", "--data-dir", dir, "--get", "nope"); code != 2 || !strings.Contains(errOut, "trust_root") {
		t.Errorf("unknown field: %d %q, want 2 and the field list", code, errOut)
	}
	if _, errOut, code := runMain(t, "sandbox", "env", "--data-dir", dir, "--account", "x@y.test"); code != 1 || !strings.Contains(errOut, "x@y.test") {
		t.Errorf("unknown account: %d %q", code, errOut)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
