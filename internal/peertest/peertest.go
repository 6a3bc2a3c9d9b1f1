// Package peertest starts real mail servers for the tests of the transport layer: a private
// Dovecot (IMAP with STARTTLS, LMTP, SASL for Postfix) and a private Postfix (submission with
// STARTTLS and SASL through Dovecot, delivery to Dovecot by LMTP, DSN), on 127.0.0.1 and random
// ports, as root, with their configuration, queues and mailboxes in a temporary directory. Nothing
// of the system configuration is used; the servers stop in t.Cleanup.
//
// Authentication, as an MSSanté operator does it:
//   - personal mailboxes: SASL XOAUTH2 (or OAUTHBEARER) with an RS256 JWT validated locally by the
//     oauth2 passdb (introspection_mode = local); Stack.Token signs one for an address.
//   - applicative mailboxes (Options.AppUsers): client certificate of the test PKI in the
//     handshake, then PLAIN with the address as login. Dovecot accepts them only with a valid
//     client certificate (%{cert}); Postfix, which cannot pass the certificate to Dovecot, refuses
//     MAIL FROM such an address without a client certificate (permit_tls_all_clientcerts).
//
// The binaries come from Debian (dovecot-imapd, dovecot-lmtpd, postfix); a missing binary skips
// the test, or fails it under MSSANTE_REQUIRE_PEERS=1.
package peertest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/internal/testpki"
)

// Options configures Start.
type Options struct {
	// PKI issues the servers' certificate and verifies client certificates. Nil: a new RSA PKI.
	PKI *testpki.PKI
	// Domain of the mailboxes (default "test.mssante.fr").
	Domain string
	// AppUsers are applicative mailbox addresses (PLAIN + client certificate).
	AppUsers []string
	// NoTLS starts Dovecot without TLS (ssl = no): a server that offers no STARTTLS.
	NoTLS bool
	// NoPostfix starts Dovecot alone.
	NoPostfix bool
	// QuotaKB, when set, gives every mailbox a storage quota of that many KiB (quota plugin,
	// count backend, root "User quota"; IMAP QUOTA, RFC 9208).
	QuotaKB int

	// TokenKey, when set, is the key Dovecot validates access tokens with (an external token
	// issuer, such as a PSC emulator); Stack.Token then cannot sign. TokenClientID (the azp claim,
	// default "mssante-test"), TokenKeyID (kid, default "k1") and TokenIssuer (iss) go with it.
	TokenKey      *rsa.PublicKey
	TokenClientID string
	TokenKeyID    string
	TokenIssuer   string
}

// Stack is a running Dovecot, and Postfix unless Options.NoPostfix.
type Stack struct {
	Dir    string
	Domain string
	PKI    *testpki.PKI
	// IMAP is "127.0.0.1:port" of Dovecot's IMAP listener (STARTTLS).
	IMAP string
	// Submission is "127.0.0.1:port" of Postfix's submission listener (STARTTLS required).
	Submission string
	// SubmissionNoTLS is a Postfix listener that does not offer STARTTLS.
	SubmissionNoTLS string
	// LMTP is Dovecot's LMTP listener.
	LMTP string
	// ServerCert is the certificate Dovecot and Postfix present (to revoke it in a test).
	ServerCert *x509.Certificate

	t       testing.TB
	dovecot string // binary
	doveadm string
	postfix string
	jwtKey  *rsa.PrivateKey
	jwtPub  *rsa.PublicKey

	keyFile, chainFile string
	azp, kid, iss      string
}

const (
	jwtAZP = "mssante-test"
	jwtKID = "k1"
	jwtISS = "https://psc.test.invalid/auth/realms/esante-wallet"
)

// Start starts the servers. It needs root (Dovecot and Postfix drop privileges themselves).
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	s := &Stack{t: t, Domain: o.Domain, PKI: o.PKI}
	s.dovecot = lookSbin(t, "dovecot")
	s.doveadm = lookSbin(t, "doveadm")
	if !o.NoPostfix {
		s.postfix = lookSbin(t, "postfix")
	}
	if os.Geteuid() != 0 {
		if testkit.PeersRequired() {
			t.Fatal("peertest: Dovecot and Postfix need root")
		}
		t.Skip("peertest: Dovecot and Postfix need root")
	}
	if s.Domain == "" {
		s.Domain = "test.mssante.fr"
	}
	if s.PKI == nil {
		s.PKI = testpki.New(t, testpki.Options{RSA: true})
	}
	dir, err := os.MkdirTemp("", "peertest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("PEERTEST_KEEP") == "1" {
			t.Logf("peertest: kept %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	must(t, os.Chmod(dir, 0o755))
	s.Dir = dir
	s.azp, s.kid, s.iss = or(o.TokenClientID, jwtAZP), or(o.TokenKeyID, jwtKID), or(o.TokenIssuer, jwtISS)
	if o.TokenKey == nil {
		s.jwtKey, err = rsa.GenerateKey(rand.Reader, 2048)
		must(t, err)
		s.jwtPub = &s.jwtKey.PublicKey
	} else {
		s.jwtPub = o.TokenKey
	}
	s.startDovecot(o)
	if !o.NoPostfix {
		s.startPostfix(o)
	}
	return s
}

func lookSbin(t testing.TB, name string) string {
	t.Helper()
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin"} {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	return testkit.LookPath(t, name)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	must(t, l.Close())
	return port
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, data, mode))
}

// waitPort waits until something accepts connections on a.
func waitPort(t testing.TB, a string, logs ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	var b strings.Builder
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		fmt.Fprintf(&b, "\n--- %s\n%s", l, data)
	}
	t.Fatalf("peertest: nothing listens on %s%s", a, b.String())
}

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("peertest: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// Token returns an RS256 access token for address, valid for ttl (negative: already expired), as
// Pro Santé Connect would issue it, that the oauth2 passdb validates.
func (s *Stack) Token(address string, ttl time.Duration) string {
	now := time.Now()
	exp := now.Add(ttl)
	iat := now.Add(-time.Minute)
	if ttl < 0 {
		iat = exp.Add(-time.Hour)
	}
	if s.jwtKey == nil {
		s.t.Fatal("peertest: Token needs the stack's own key (Options.TokenKey is set)")
	}
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": s.kid})
	claims, _ := json.Marshal(map[string]any{"iss": s.iss, "sub": address, "email": address,
		"azp": s.azp, "aud": "mssante", "iat": iat.Unix(), "nbf": iat.Unix(), "exp": exp.Unix(),
		"scope": "openid scope_all"})
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hdr) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.jwtKey, crypto.SHA256, sum[:])
	must(s.t, err)
	return signing + "." + enc.EncodeToString(sig)
}

func (s *Stack) jwtPublicPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(s.jwtPub)
	must(s.t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// caBundle is the root and ORG intermediate with their CRLs, for verifying client certificates.
func (s *Stack) caBundle() []byte {
	var b bytes.Buffer
	for _, ca := range []*testpki.CA{s.PKI.Root, s.PKI.Org} {
		b.Write(ca.CertPEM)
		der, err := s.PKI.CRL(ca)
		must(s.t, err)
		must(s.t, pem.Encode(&b, &pem.Block{Type: "X509 CRL", Bytes: der}))
	}
	return b.Bytes()
}

// Deliver puts a message into a mailbox directly (doveadm save), bypassing SMTP.
func (s *Stack) Deliver(user, mailbox string, msg []byte) {
	s.t.Helper()
	cmd := exec.Command(s.doveadm, "-c", filepath.Join(s.Dir, "dovecot.conf"), "save", "-u", user, "-m", mailbox)
	cmd.Stdin = bytes.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("peertest: doveadm save: %v\n%s", err, out)
	}
}

// KickIMAP closes the IMAP sessions of user from the server side (doveadm kick).
func (s *Stack) KickIMAP(user string) {
	s.t.Helper()
	run(s.t, s.doveadm, "-c", filepath.Join(s.Dir, "dovecot.conf"), "kick", user)
}

// Logs returns the servers' logs, for failure messages.
func (s *Stack) Logs() string {
	var b strings.Builder
	for _, f := range []string{"dovecot.log", "postfix.log"} {
		data, _ := os.ReadFile(filepath.Join(s.Dir, f))
		fmt.Fprintf(&b, "--- %s\n%s\n", f, data)
	}
	return b.String()
}

func runQuiet(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
