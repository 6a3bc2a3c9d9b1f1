package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/internal/testpki"
)

// ECO.1.1.10: trust update keeps only the pinned IGC Santé certificates; trust show reports them.
func TestTrust_updateAndShow(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runMain(t, "trust", "update", "--profile", "test", "--from", testkit.Shared(t, "igc-sante", "test"), "--data-dir", dir)
	if code != 0 {
		t.Fatalf("trust update: code %d: %s", code, errOut)
	}
	var upd trustUpdateOutput
	if err := json.Unmarshal([]byte(out), &upd); err != nil || len(upd.Kept) != 2 || upd.Kept[0].Name != "ACR-EL-TEST" {
		t.Fatalf("trust update output %s (%v)", out, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "trust", "ACI-EL-ORG-TEST.pem")); err != nil {
		t.Error(err)
	}
	out, _, code = runMain(t, "trust", "show", "--profile", "test", "--data-dir", dir)
	var show trustShowOutput
	if err := json.Unmarshal([]byte(out), &show); err != nil || code != 0 || !show.Ready || len(show.Suites) != 3 {
		t.Errorf("trust show: code %d, %s", code, out)
	}
	out, _, _ = runMain(t, "trust", "show", "--data-dir", dir) // production: not installed
	if err := json.Unmarshal([]byte(out), &show); err != nil || show.Ready || len(show.Missing) != 2 {
		t.Errorf("trust show production: %s", out)
	}
	// The production bundle holds no TEST certificate: refused, exit 1.
	bundle := filepath.Join(testkit.Shared(t, "igc-sante", "prod"), "Chaine_de_certification-IGC-Sante.p7b")
	if _, errOut, code := runMain(t, "trust", "update", "--profile", "test", "--from", bundle, "--data-dir", t.TempDir()); code != 1 || errOut == "" {
		t.Errorf("test profile from the production bundle: code %d, %q", code, errOut)
	}
	if _, _, code := runMain(t, "trust", "update", "--profile", "nope", "--data-dir", dir); code != 2 {
		t.Errorf("bad profile: code %d, want 2", code)
	}
}

// trust verify against a STARTTLS SMTP server (in-process prelude, real TLS): accepted with the
// test PKI root, refused with the rule named on stderr otherwise (ECO.1.1.10, ECO.1.1.6).
func TestTrust_verify(t *testing.T) {
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	root := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(root, pki.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	good := startTLSSMTPServer(t, pki.Server("127.0.0.1").TLS)
	out, errOut, code := runMain(t, "trust", "verify", good, "--starttls", "smtp", "--trust-root", root, "--data-dir", t.TempDir())
	var res trustVerifyOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || !res.Accepted || len(res.Chain) != 3 {
		t.Fatalf("trust verify: code %d, %s, stderr %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "relaxation") {
		t.Errorf("--trust-root not logged as a relaxation: %q", errOut)
	}
	revoked := pki.Server("127.0.0.1")
	pki.Revoke(revoked.Cert)
	addr := startTLSSMTPServer(t, revoked.TLS)
	_, errOut, code = runMain(t, "trust", "verify", addr, "--starttls", "smtp", "--trust-root", root, "--data-dir", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "ECO.1.1.6 revoked (CRL)") {
		t.Errorf("revoked server: code %d, stderr %q", code, errOut)
	}
	// A STARTTLS port on a port number that does not tell: the error says to add --starttls.
	if _, errOut, code = runMain(t, "trust", "verify", good, "--trust-root", root, "--data-dir", t.TempDir()); code != 1 || !strings.Contains(errOut, "--starttls") {
		t.Errorf("cleartext server without --starttls: code %d, stderr %q", code, errOut)
	}
	// Without --trust-root the IGC Santé anchors are required: none installed, refused.
	if _, errOut, code = runMain(t, "trust", "verify", good, "--starttls", "smtp", "--data-dir", t.TempDir()); code != 1 || !strings.Contains(errOut, "trust update") {
		t.Errorf("no anchors: code %d, stderr %q", code, errOut)
	}
}

// trust verify on an API LPS port switches with STARTTLS without being told (found by acceptance
// QA: "first record does not look like a TLS handshake" on 143 and 587).
func TestDefaultStartTLS(t *testing.T) {
	for port, want := range map[string]string{"143": "imap", "587": "smtp", "25": "smtp", "993": "", "465": "", "8443": ""} {
		if got := defaultStartTLS(port); got != want {
			t.Errorf("defaultStartTLS(%s) = %q, want %q", port, got, want)
		}
	}
}

// startTLSSMTPServer accepts SMTP connections on 127.0.0.1, answers EHLO and STARTTLS, then runs
// the TLS server handshake with cert.
func startTLSSMTPServer(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				_, _ = conn.Write([]byte("220 test ESMTP\r\n"))
				if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "EHLO") {
					return
				}
				_, _ = conn.Write([]byte("250-test\r\n250 STARTTLS\r\n"))
				if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "STARTTLS") {
					return
				}
				_, _ = conn.Write([]byte("220 go ahead\r\n"))
				tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}})
				_ = tc.Handshake()
				_, _ = tc.Read(make([]byte, 1))
			}()
		}
	}()
	return ln.Addr().String()
}
