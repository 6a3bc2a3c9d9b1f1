package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
)

// The transport conformance checks of the API LPS, run with our lps client against the sandbox
// world (operator + PSC emulator + test PKI), the way they run against Dovecot/Postfix in lps's
// peer tests: the sandbox must behave like an operator.

// shared is one world for the conformance tests (a world starts in about a second).
type shared struct {
	w    *World
	dir  string
	once sync.Once
}

var conf shared

func TestMain(m *testing.M) {
	code := m.Run()
	if conf.w != nil {
		_ = conf.w.Close()
	}
	if conf.dir != "" {
		_ = os.RemoveAll(conf.dir)
	}
	os.Exit(code)
}

func world(t *testing.T) *World {
	t.Helper()
	conf.once.Do(func() {
		dir, err := os.MkdirTemp("", "sandbox-conformance-")
		if err != nil {
			t.Fatal(err)
		}
		conf.dir = dir
		any := "127.0.0.1:0"
		conf.w, err = Start(context.Background(), Options{DataDir: dir, IMAPAddr: any, SMTPAddr: any,
			HTTPSAddr: any, HTTPAddr: any, PSCAddr: any})
		if err != nil {
			t.Fatal(err)
		}
	})
	if conf.w == nil {
		t.Fatal("no world")
	}
	return conf.w
}

func rawMail(from, to, subject, body string) []byte {
	return []byte(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.test@sandbox>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), body))
}

func opts(t *testing.T, w *World) *lps.Options {
	return &lps.Options{TLS: policy(t, w).ClientConfig("", nil)}
}

// submit sends one mail and returns the lps result.
func submit(t *testing.T, w *World, auth lps.Auth, to string, subject string, dsn *lps.DSN) (*lps.SubmitResult, error) {
	t.Helper()
	sc, err := lps.DialSMTP(context.Background(), endpoint(t, w.Config.SMTP), auth, opts(t, w))
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	return sc.Submit(context.Background(), auth.Address, []string{to}, bytes.NewReader(rawMail(auth.Address, to, subject, "Test de conformité.")), dsn)
}

// inbox opens an IMAP session on INBOX.
func inbox(t *testing.T, w *World, auth lps.Auth) *lps.IMAPClient {
	t.Helper()
	ic, err := lps.DialIMAP(context.Background(), endpoint(t, w.Config.IMAP), auth, opts(t, w))
	if err != nil {
		t.Fatalf("IMAP %s: %v", auth.Address, err)
	}
	t.Cleanup(func() { _ = ic.Close() })
	if _, err := ic.Select(context.Background(), "INBOX"); err != nil {
		t.Fatal(err)
	}
	return ic
}

// waitFor polls the INBOX of ic until a message whose subject contains sub arrives, and returns
// its raw text.
func waitFor(t *testing.T, ic *lps.IMAPClient, sub string) []byte {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := ic.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		uids, err := ic.Search(ctx, lps.Criteria{})
		if err != nil {
			t.Fatal(err)
		}
		sums, err := ic.Summaries(ctx, uids)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sums {
			if strings.Contains(s.Subject, sub) {
				var b bytes.Buffer
				if _, err := ic.FetchBody(ctx, s.UID, &b); err != nil {
					t.Fatal(err)
				}
				return b.Bytes()
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no message %q", sub)
	return nil
}

// ECO.1.0.1, ECO.1.2.1, ECO.1.0.2, ECO.2.3.1: a professional sends with XOAUTH2 (a PSC emulator
// token) through SMTP submission with STARTTLS asking for a DSN; the recipient's IDLE session sees
// the mail arrive; list and fetch find it; the sender receives the RFC 3464 "delivered" report.
func TestConformance_XOAUTH2SendIdleListFetchDSN(t *testing.T) {
	w := world(t)
	jeanne, paul := w.Config.Accounts[0], w.Config.Accounts[1]
	sender := xoauth(t, w, jeanne.Address, jeanne.NationalID)
	rcpt := xoauth(t, w, paul.Address, paul.NationalID)

	idle := inbox(t, w, rcpt)
	st, err := idle.Select(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan uint32, 8)
	idleDone := make(chan error, 1)
	go func() {
		idleDone <- idle.Idle(ctx, func(u lps.Update) {
			if u.Messages > 0 {
				got <- u.Messages
			}
		})
	}()
	time.Sleep(200 * time.Millisecond) // let IDLE start

	res, err := submit(t, w, sender, paul.Address, "Conformité XOAUTH2", &lps.DSN{Notify: []string{"SUCCESS", "FAILURE"}})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if !res.DSNRequested {
		t.Error("the operator did not offer DSN")
	}
	select {
	case n := <-got:
		if n <= st.Messages {
			t.Errorf("IDLE: EXISTS %d, had %d", n, st.Messages)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("IDLE saw no new mail")
	}
	cancel()
	<-idleDone

	raw := waitFor(t, inbox(t, w, rcpt), "Conformité XOAUTH2")
	if !bytes.Contains(raw, []byte("Test de conformité.")) || !bytes.Contains(raw, []byte("Received:")) {
		t.Errorf("fetched mail lacks its body or a Received field:\n%s", raw)
	}
	m := findReport(t, w, sender, "delivered")
	if m.Failed() {
		t.Errorf("success DSN reads as failed: %+v", m)
	}
}

// findReport waits for a delivery report of action (or a bounce) in the INBOX of auth.
func findReport(t *testing.T, w *World, auth lps.Auth, action string) message.Report {
	t.Helper()
	ic := inbox(t, w, auth)
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := ic.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		uids, _ := ic.Search(ctx, lps.Criteria{})
		for _, uid := range uids {
			var b bytes.Buffer
			if _, err := ic.FetchBody(ctx, uid, &b); err != nil {
				t.Fatal(err)
			}
			m, err := message.Parse(b.Bytes(), nil)
			if err != nil {
				continue
			}
			for _, r := range m.Reports {
				if r.Action == action || (action == "bounce" && r.Failed()) {
					return r
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s report for %s", action, auth.Address)
	return message.Report{}
}

// ECO.1.3.1: the applicative mailbox sends and reads with its ORG AUTH_CLI certificate + PLAIN;
// without a certificate it is refused.
func TestConformance_applicativeCertificate(t *testing.T) {
	w := world(t)
	app := account(t, w, "applicative", false)
	jeanne := w.Config.Accounts[0]
	if _, err := submit(t, w, certAuth(t, app), jeanne.Address, "Conformité certificat", nil); err != nil {
		t.Fatalf("submit with certificate: %v", err)
	}
	waitFor(t, inbox(t, w, xoauth(t, w, jeanne.Address, jeanne.NationalID)), "Conformité certificat")
	inbox(t, w, certAuth(t, app)) // IMAP login with the certificate

	noCert := lps.Auth{Method: lps.AuthCertPlain, Address: app.Address}
	if _, err := submit(t, w, noCert, jeanne.Address, "sans certificat", nil); err == nil {
		t.Error("applicative login without a certificate accepted")
	}
	if _, err := lps.DialIMAP(context.Background(), endpoint(t, w.Config.IMAP), noCert, opts(t, w)); err == nil {
		t.Error("IMAP applicative login without a certificate accepted")
	}
	// A professional's certificate-less PLAIN on a personal mailbox is refused too.
	if _, err := submit(t, w, lps.Auth{Method: lps.AuthCertPlain, Address: jeanne.Address, Certificate: certAuth(t, app).Certificate},
		jeanne.Address, "mauvaise famille", nil); err == nil {
		t.Error("PLAIN on a personal mailbox accepted")
	}
}

// ECO.1.2.1: a token signed by another key, and a token of a professional who may not open the
// mailbox, are refused; an organisational mailbox opens with the token of any of its members.
func TestConformance_tokens(t *testing.T) {
	w := world(t)
	jeanne, paul := w.Config.Accounts[0], w.Config.Accounts[1]
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	forged, _ := jwt.Signed(signer).Claims(map[string]any{"iss": w.PSC.Issuer, "typ": "Bearer", "azp": SandboxClientID,
		"exp": time.Now().Add(time.Hour).Unix(), "SubjectNameID": jeanne.NationalID}).Serialize()
	bad := lps.Auth{Method: lps.AuthXOAUTH2, Address: jeanne.Address,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return forged, nil })}
	if _, err := lps.DialIMAP(context.Background(), endpoint(t, w.Config.IMAP), bad, opts(t, w)); err == nil {
		t.Error("forged token accepted by IMAP")
	}
	if _, err := submit(t, w, bad, paul.Address, "jeton forgé", nil); err == nil {
		t.Error("forged token accepted by SMTP")
	}
	other := xoauth(t, w, jeanne.Address, paul.NationalID)
	if _, err := lps.DialIMAP(context.Background(), endpoint(t, w.Config.IMAP), other, opts(t, w)); err == nil {
		t.Error("Paul's token opened Jeanne's personal mailbox")
	}
	for _, a := range w.Config.Accounts {
		if a.Kind == "organisational" && len(a.NationalIDs) > 1 {
			for _, id := range a.NationalIDs {
				inbox(t, w, xoauth(t, w, a.Address, id))
			}
		}
	}
}

// ECO.1.0.1, ECO.1.0.2: no authentication before STARTTLS, on either protocol.
func TestConformance_STARTTLSRequired(t *testing.T) {
	w := world(t)
	dial := func(addr string) (*bufio.Reader, net.Conn) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return bufio.NewReader(c), c
	}
	// SMTP: STARTTLS offered, AUTH not before it, and refused if tried.
	r, c := dial(w.Config.SMTP)
	readSMTP(t, r)
	fmt.Fprintf(c, "EHLO test\r\n")
	ehlo := readSMTP(t, r)
	if !strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "AUTH") {
		t.Errorf("EHLO before STARTTLS: %q", ehlo)
	}
	fmt.Fprintf(c, "AUTH PLAIN AGFAYg==\r\n")
	if resp := readSMTP(t, r); !strings.HasPrefix(resp, "5") {
		t.Errorf("AUTH before STARTTLS answered %q", resp)
	}
	// IMAP: LOGINDISABLED, and LOGIN refused.
	r, c = dial(w.Config.IMAP)
	_, _ = r.ReadString('\n')
	fmt.Fprintf(c, "a CAPABILITY\r\n")
	caps, _ := r.ReadString('\n')
	_, _ = r.ReadString('\n')
	if !strings.Contains(caps, "STARTTLS") || !strings.Contains(caps, "LOGINDISABLED") {
		t.Errorf("IMAP capabilities before STARTTLS: %q", caps)
	}
	fmt.Fprintf(c, "b LOGIN x y\r\n")
	if resp, _ := r.ReadString('\n'); !strings.HasPrefix(resp, "b NO") && !strings.HasPrefix(resp, "b BAD") {
		t.Errorf("LOGIN before STARTTLS answered %q", resp)
	}
}

func readSMTP(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("smtp read: %v", err)
		}
		b.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			return b.String()
		}
	}
}

// ECO.2.3.1: mail to a closed patient mailbox is accepted then bounced to the sender (Mon espace
// santé's "message non distribué"); an unknown local recipient is refused at RCPT.
func TestConformance_closedPatientBounceAndUnknownRecipient(t *testing.T) {
	w := world(t)
	app := account(t, w, "applicative", false)
	closed := account(t, w, "patient", true)
	if _, err := submit(t, w, certAuth(t, app), closed.Address, "Vers une BAL patient fermée", nil); err != nil {
		t.Fatalf("submit to closed patient mailbox: %v", err)
	}
	r := findReport(t, w, certAuth(t, app), "bounce")
	if !r.Failed() {
		t.Errorf("bounce not failed: %+v", r)
	}
	if _, err := submit(t, w, certAuth(t, app), "inconnu@"+w.Config.ProDomain, "inconnu", nil); err == nil ||
		!strings.Contains(err.Error(), "550") {
		t.Errorf("unknown recipient: %v, want 550", err)
	}
}

// ECO.1.1.6: a revoked applicative certificate is refused by the operator; a revoked server
// certificate is refused by the client, which checks the CRL/OCSP served by the sandbox. Runs on
// its own world (revocations are permanent).
func TestConformance_revocation(t *testing.T) {
	w := startWorld(t, t.TempDir(), true)
	app := account(t, w, "applicative", false)
	jeanne := w.Config.Accounts[0]
	if _, err := submit(t, w, certAuth(t, app), jeanne.Address, "avant révocation", nil); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if err := w.RevokeClient(app.Address); err != nil {
		t.Fatal(err)
	}
	if _, err := submit(t, w, certAuth(t, app), jeanne.Address, "après révocation", nil); err == nil {
		t.Error("revoked client certificate accepted by SMTP")
	}
	if _, err := lps.DialIMAP(context.Background(), endpoint(t, w.Config.IMAP), certAuth(t, app), opts(t, w)); err == nil {
		t.Error("revoked client certificate accepted by IMAP")
	}
	if err := w.RevokeServer(); err != nil {
		t.Fatal(err)
	}
	_, err := lps.DialIMAP(context.Background(), endpoint(t, w.Config.IMAP), xoauth(t, w, jeanne.Address, jeanne.NationalID), opts(t, w))
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "revoked") {
		t.Errorf("revoked server certificate: %v, want a revocation refusal", err)
	}
}

// Mail survives a restart of the world.
func TestRestartKeepsMail(t *testing.T) {
	dir := t.TempDir()
	w := startWorld(t, dir, true)
	jeanne, paul := w.Config.Accounts[0], w.Config.Accounts[1]
	if _, err := submit(t, w, xoauth(t, w, jeanne.Address, jeanne.NationalID), paul.Address, "Avant redémarrage", nil); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	w2 := startWorld(t, dir, false)
	waitFor(t, inbox(t, w2, xoauth(t, w2, paul.Address, paul.NationalID)), "Avant redémarrage")
}
