package operator_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Raw protocol dialogues, for what the lps client refuses to do (log in without a certificate,
// speak before STARTTLS, offer weak TLS).

func readUntilTag(t *testing.T, r *bufio.Reader, tag string) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil || strings.HasPrefix(line, tag) {
			return b.String()
		}
	}
}

// readSMTP reads a (multi-line) SMTP reply.
func readSMTP(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil || len(line) < 4 || line[3] == ' ' {
			return b.String()
		}
	}
}

func (w *world) clientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(w.pki.Root.Cert)
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

func dialRaw(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// smtpTLS opens an SMTP session, runs STARTTLS (no client certificate) and EHLO; it returns the
// TLS connection, its reader and the EHLO reply.
func smtpTLS(t *testing.T, w *world) (*tls.Conn, *bufio.Reader, string) {
	c, r := dialRaw(t, w.op.SMTPAddr())
	readSMTP(t, r)
	io.WriteString(c, "EHLO test\r\n")
	readSMTP(t, r)
	io.WriteString(c, "STARTTLS\r\n")
	if line := readSMTP(t, r); !strings.HasPrefix(line, "220") {
		t.Fatalf("STARTTLS: %q", line)
	}
	tc := tls.Client(c, w.clientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	tr := bufio.NewReader(tc)
	io.WriteString(tc, "EHLO test\r\n")
	return tc, tr, readSMTP(t, tr)
}

// smtpPlainNoCert runs STARTTLS without a client certificate, then AUTH PLAIN user; it returns
// the answer to AUTH.
func smtpPlainNoCert(t *testing.T, w *world, user string) string {
	tc, tr, ehlo := smtpTLS(t, w)
	if !strings.Contains(ehlo, "AUTH OAUTHBEARER XOAUTH2 PLAIN") {
		t.Errorf("EHLO under TLS = %q", ehlo)
	}
	io.WriteString(tc, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"))+"\r\n")
	return readSMTP(t, tr)
}

// imapPlainNoCert does the same over IMAP and returns the tagged answer.
func imapPlainNoCert(t *testing.T, w *world, user string) string {
	c, r := dialRaw(t, w.op.IMAPAddr())
	r.ReadString('\n')
	io.WriteString(c, "a STARTTLS\r\n")
	if line := readUntilTag(t, r, "a "); !strings.Contains(line, "a OK") {
		t.Fatalf("STARTTLS: %q", line)
	}
	tc := tls.Client(c, w.clientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	tr := bufio.NewReader(tc)
	io.WriteString(tc, "b AUTHENTICATE PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"))+"\r\n")
	return readUntilTag(t, tr, "b ")
}

// startTLSIMAP runs IMAP STARTTLS with cfg and returns the handshake error.
func startTLSIMAP(t *testing.T, w *world, cfg *tls.Config) error {
	c, r := dialRaw(t, w.op.IMAPAddr())
	r.ReadString('\n')
	io.WriteString(c, "a STARTTLS\r\n")
	readUntilTag(t, r, "a ")
	return tls.Client(c, cfg).Handshake()
}
