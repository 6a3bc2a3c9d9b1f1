package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/pscemu"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/trust"
)

// The transport conformance checks of the API LPS run with our lps client against two targets:
// the sandbox world (operator + PSC emulator + test PKI) and a real Dovecot + Postfix configured
// as an MSSanté operator (internal/peertest) that validates the tokens of a PSC emulator. The same
// checks must pass on both, so that the sandbox behaves like an operator, not like a convenient
// mock (issue 5, item 6). Checks only the sandbox can run (closed patient mailbox, members of an
// organisational mailbox, restart) follow.

// target is an operator under test.
type target struct {
	name       string
	smtp, imap string
	// policy returns mssante's client TLS policy for the target (revocation checked at each
	// handshake).
	policy func(t *testing.T) *trust.Policy
	// alice and bob are personal mailboxes (XOAUTH2, tokens of the target's PSC emulator); app an
	// applicative mailbox (certificate + PLAIN); forged a token signed by another key for alice.
	alice, bob, app, forged lps.Auth
	// revokeServer revokes the server certificate (irreversible: run last).
	revokeServer func(t *testing.T)
	// loopbackSecure: the IMAP server treats a loopback client as secure and allows
	// authentication before STARTTLS there (Dovecot does, whatever disable_plaintext_auth says,
	// when the client's IP is the server's); it is not observable from another host.
	loopbackSecure bool
}

// shared is one sandbox world for the tests that do not alter it (a world starts in about a second).
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

// forgedToken is an access token with the right claims, signed by a key nobody trusts.
func forgedToken(t *testing.T, issuer, clientID, nationalID, email string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(map[string]any{"iss": issuer, "typ": "Bearer", "azp": clientID,
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "SubjectNameID": nationalID,
		"email": email, "preferred_username": nationalID}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func staticToken(address, tok string) lps.Auth {
	return lps.Auth{Method: lps.AuthXOAUTH2, Address: address,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return tok, nil })}
}

func sandboxTarget(t *testing.T, w *World) *target {
	jeanne, paul := w.Config.Accounts[0], w.Config.Accounts[1]
	return &target{name: "sandbox", smtp: w.Config.SMTP, imap: w.Config.IMAP,
		policy: func(t *testing.T) *trust.Policy { return policy(t, w) },
		alice:  xoauth(t, w, jeanne.Address, jeanne.NationalID),
		bob:    xoauth(t, w, paul.Address, paul.NationalID),
		app:    certAuth(t, account(t, w, "applicative", false)),
		forged: staticToken(jeanne.Address, forgedToken(t, w.PSC.Issuer, SandboxClientID, jeanne.NationalID, jeanne.Address)),
		revokeServer: func(t *testing.T) {
			if err := w.RevokeServer(); err != nil {
				t.Fatal(err)
			}
		}}
}

// peerTarget starts Dovecot + Postfix (skipped without them, failing in CI) validating the tokens
// of a PSC emulator started for the test.
func peerTarget(t *testing.T) *target {
	const (
		alice = "alice@test.mssante.fr"
		bob   = "bob@test.mssante.fr"
		appli = "appli@test.mssante.fr"
	)
	emu, err := pscemu.Start(t.Context(), &pscemu.Options{ClientID: "mssante-peer", Professionals: []pscemu.Professional{
		{NationalID: "899700400012", GivenName: "Alice", FamilyName: "PAIR", Mailboxes: []string{alice}},
		{NationalID: "899700500010", GivenName: "Bob", FamilyName: "PAIR", Mailboxes: []string{bob}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, AppUsers: []string{appli}, TokenKey: emu.PublicKey(),
		TokenClientID: emu.ClientID(), TokenKeyID: emu.KeyID(), TokenIssuer: emu.Issuer})
	token := func(id, address string) lps.Auth {
		tok, err := cibaToken(context.Background(), emu.URL, emu.ClientID(), id)
		if err != nil {
			t.Fatal(err)
		}
		return staticToken(address, tok.AccessToken)
	}
	leaf := pki.Client("499700000000001", appli)
	return &target{name: "dovecot+postfix", smtp: st.Submission, imap: st.IMAP,
		policy: func(t *testing.T) *trust.Policy {
			p, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert},
				OrgIntermediates: []*x509.Certificate{pki.Org.Cert}, CRLRefresh: -1})
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
		alice:          token("899700400012", alice),
		bob:            token("899700500010", bob),
		app:            lps.Auth{Method: lps.AuthCertPlain, Address: appli, Certificate: &leaf.TLS},
		forged:         staticToken(alice, forgedToken(t, emu.Issuer, emu.ClientID(), "899700400012", alice)),
		revokeServer:   func(*testing.T) { pki.Revoke(st.ServerCert) },
		loopbackSecure: true}
}

// TestConformance runs the same checks on the sandbox and on Dovecot + Postfix.
func TestConformance(t *testing.T) {
	for _, mk := range []struct {
		name string
		new  func(t *testing.T) *target
	}{
		{"sandbox", func(t *testing.T) *target { return sandboxTarget(t, startWorld(t, t.TempDir(), true)) }},
		{"dovecot+postfix", peerTarget},
	} {
		t.Run(mk.name, func(t *testing.T) {
			tg := mk.new(t)
			t.Run("XOAUTH2SendIdleListFetchDSN", func(t *testing.T) { checkXOAUTH2(t, tg) })
			t.Run("ApplicativeCertificate", func(t *testing.T) { checkApplicative(t, tg) })
			t.Run("ForgedToken", func(t *testing.T) { checkForged(t, tg) })
			t.Run("STARTTLSRequired", func(t *testing.T) { checkSTARTTLS(t, tg) })
			t.Run("MDNTravels", func(t *testing.T) { checkMDN(t, tg) })
			t.Run("RevokedServer", func(t *testing.T) { checkRevokedServer(t, tg) }) // last
		})
	}
}

func rawMail(from, to, subject, body string) []byte {
	return []byte(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.test@sandbox>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano(), body))
}

func (tg *target) opts(t *testing.T) *lps.Options {
	return &lps.Options{TLS: tg.policy(t).ClientConfig("", nil)}
}

// submit sends one mail and returns the lps result.
func (tg *target) submit(t *testing.T, auth lps.Auth, to string, subject string, dsn *lps.DSN) (*lps.SubmitResult, error) {
	t.Helper()
	sc, err := lps.DialSMTP(context.Background(), endpoint(t, tg.smtp), auth, tg.opts(t))
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	return sc.Submit(context.Background(), auth.Address, []string{to}, bytes.NewReader(rawMail(auth.Address, to, subject, "Test de conformité.")), dsn)
}

// inbox opens an IMAP session on INBOX.
func (tg *target) inbox(t *testing.T, auth lps.Auth) *lps.IMAPClient {
	t.Helper()
	ic, err := lps.DialIMAP(context.Background(), endpoint(t, tg.imap), auth, tg.opts(t))
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

// findReport waits for a report in the INBOX of auth: "success" (delivered, or relayed as Postfix
// says of an LMTP delivery), "bounce" (any failure) or "mdn" (a read receipt).
func (tg *target) findReport(t *testing.T, auth lps.Auth, action string) message.Report {
	t.Helper()
	ic := tg.inbox(t, auth)
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
				success := r.Kind == "dsn" && (r.Action == "delivered" || r.Action == "relayed")
				if (action == "success" && success) || (action == "bounce" && r.Failed()) || (action == "mdn" && r.Kind == "mdn") {
					return r
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s report for %s", action, auth.Address)
	return message.Report{}
}

// ECO.1.0.1, ECO.1.2.1, ECO.1.0.2, ECO.2.3.1: a professional sends with XOAUTH2 (a PSC emulator
// token) through SMTP submission with STARTTLS asking for a DSN; the recipient's IDLE session sees
// the mail arrive; list and fetch find it; the sender receives the RFC 3464 "delivered" report.
func checkXOAUTH2(t *testing.T, tg *target) {
	idle := tg.inbox(t, tg.bob)
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

	subject := "Conformité XOAUTH2 " + tg.name
	res, err := tg.submit(t, tg.alice, tg.bob.Address, subject, &lps.DSN{Notify: []string{"SUCCESS", "FAILURE"}})
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

	raw := waitFor(t, tg.inbox(t, tg.bob), subject)
	if !bytes.Contains(raw, []byte("Test de conformité.")) || !bytes.Contains(raw, []byte("Received:")) {
		t.Errorf("fetched mail lacks its body or a Received field:\n%s", raw)
	}
	tg.findReport(t, tg.alice, "success")
}

// ECO.2.3.2: a read receipt travels like any mail: alice asks for one, bob's client builds it
// (RFC 8098) and submits it, alice receives it as an MDN report.
func checkMDN(t *testing.T, tg *target) {
	subject := "Conformité MDN " + tg.name
	msg := rawMail(tg.alice.Address, tg.bob.Address, subject, "Merci d'accuser lecture.")
	msg = append([]byte("Disposition-Notification-To: <"+tg.alice.Address+">\r\n"), msg...)
	sc, err := lps.DialSMTP(context.Background(), endpoint(t, tg.smtp), tg.alice, tg.opts(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Submit(context.Background(), tg.alice.Address, []string{tg.bob.Address}, bytes.NewReader(msg), nil); err != nil {
		t.Fatal(err)
	}
	_ = sc.Close()
	orig, err := message.Parse(waitFor(t, tg.inbox(t, tg.bob), subject), nil)
	if err != nil {
		t.Fatal(err)
	}
	mdn, err := message.BuildMDN(orig, message.Address{Addr: tg.bob.Address}, nil)
	if err != nil {
		t.Fatalf("BuildMDN: %v", err)
	}
	sc, err = lps.DialSMTP(context.Background(), endpoint(t, tg.smtp), tg.bob, tg.opts(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.Submit(context.Background(), tg.bob.Address, []string{orig.MDNTo[0].Addr}, bytes.NewReader(mdn.Data), nil); err != nil {
		t.Fatalf("submit MDN: %v", err)
	}
	tg.findReport(t, tg.alice, "mdn")
}

// ECO.1.3.1: the applicative mailbox sends and reads with its ORG AUTH_CLI certificate + PLAIN;
// without a certificate it is refused, on both protocols.
func checkApplicative(t *testing.T, tg *target) {
	subject := "Conformité certificat " + tg.name
	if _, err := tg.submit(t, tg.app, tg.alice.Address, subject, nil); err != nil {
		t.Fatalf("submit with certificate: %v", err)
	}
	waitFor(t, tg.inbox(t, tg.alice), subject)
	tg.inbox(t, tg.app) // IMAP login with the certificate

	noCert := lps.Auth{Method: lps.AuthCertPlain, Address: tg.app.Address}
	if _, err := tg.submit(t, noCert, tg.alice.Address, "sans certificat", nil); err == nil {
		t.Error("SMTP applicative login without a certificate accepted")
	}
	if _, err := lps.DialIMAP(context.Background(), endpoint(t, tg.imap), noCert, tg.opts(t)); err == nil {
		t.Error("IMAP applicative login without a certificate accepted")
	}
}

// ECO.1.2.1: a token signed by a key the operator does not trust is refused, on both protocols.
func checkForged(t *testing.T, tg *target) {
	if _, err := lps.DialIMAP(context.Background(), endpoint(t, tg.imap), tg.forged, tg.opts(t)); err == nil {
		t.Error("forged token accepted by IMAP")
	} else if !strings.Contains(err.Error(), "AUTHENTICATIONFAILED") {
		t.Errorf("IMAP refusal %v, want NO [AUTHENTICATIONFAILED]", err)
	}
	if _, err := tg.submit(t, tg.forged, tg.bob.Address, "jeton forgé", nil); err == nil {
		t.Error("forged token accepted by SMTP")
	} else if !strings.Contains(err.Error(), "535") {
		t.Errorf("SMTP refusal %v, want 535", err)
	}
}

// ECO.1.0.1, ECO.1.0.2: no authentication before STARTTLS, on either protocol.
func checkSTARTTLS(t *testing.T, tg *target) {
	dial := func(addr string) (*bufio.Reader, net.Conn) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		return bufio.NewReader(c), c
	}
	r, c := dial(tg.smtp)
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
	r, c = dial(tg.imap)
	greeting, _ := r.ReadString('\n')
	fmt.Fprintf(c, "a CAPABILITY\r\n")
	caps, _ := r.ReadString('\n')
	_, _ = r.ReadString('\n')
	if !strings.Contains(caps+greeting, "STARTTLS") {
		t.Errorf("IMAP capabilities before STARTTLS: %q", caps)
	}
	if tg.loopbackSecure {
		t.Logf("%s treats loopback clients as secure: AUTH before STARTTLS not checked on IMAP", tg.name)
		return
	}
	if !strings.Contains(caps, "LOGINDISABLED") {
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

// ECO.1.1.6: once the server certificate is revoked (CRL and OCSP of the target's PKI), the client
// refuses the operator.
func checkRevokedServer(t *testing.T, tg *target) {
	tg.revokeServer(t)
	_, err := lps.DialIMAP(context.Background(), endpoint(t, tg.imap), tg.alice, tg.opts(t))
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "revoked") {
		t.Errorf("revoked server certificate: %v, want a revocation refusal", err)
	}
}

// Sandbox only: the closed patient mailbox accepts then bounces (Mon espace santé's "message non
// distribué", ECO.2.3.1); an unknown local recipient is refused at RCPT with 550 like Postfix's
// local recipient check.
func TestSandbox_closedPatientBounceAndUnknownRecipient(t *testing.T) {
	w := world(t)
	tg := sandboxTarget(t, w)
	closed := account(t, w, "patient", true)
	if _, err := tg.submit(t, tg.app, closed.Address, "Vers une BAL patient fermée", nil); err != nil {
		t.Fatalf("submit to closed patient mailbox: %v", err)
	}
	tg.findReport(t, tg.app, "bounce")
	if _, err := tg.submit(t, tg.app, "inconnu@"+w.Config.ProDomain, "inconnu", nil); err == nil ||
		!strings.Contains(err.Error(), "550") {
		t.Errorf("unknown recipient: %v, want 550", err)
	}
}

// Sandbox only: a mail over 25 MB for a patient mailbox is refused at submission, like Mon espace
// santé's limit (message.MaxPatientMailSize). (That the same size passes to a professional is the
// operator package's test: 26 MB through TLS costs seconds under -race.)
func TestSandbox_patientSizeLimit(t *testing.T) {
	w := world(t)
	tg := sandboxTarget(t, w)
	open := account(t, w, "patient", false)
	big := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/=\r\n"), message.MaxPatientMailSize/66+1000)
	send := func(to string) error {
		sc, err := lps.DialSMTP(context.Background(), endpoint(t, tg.smtp), tg.app, tg.opts(t))
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		msg := append(rawMail(tg.app.Address, to, "Gros message", ""), big...)
		_, err = sc.Submit(context.Background(), tg.app.Address, []string{to}, bytes.NewReader(msg), nil)
		return err
	}
	if err := send(open.Address); err == nil || !strings.Contains(err.Error(), "552") {
		t.Errorf("%d bytes to a patient mailbox: %v, want 552", len(big), err)
	}
}

// Sandbox only, ECO.1.2.1: the token of a professional opens the organisational mailboxes he is a
// member of, not another professional's personal mailbox.
func TestSandbox_tokenMailboxes(t *testing.T) {
	w := world(t)
	tg := sandboxTarget(t, w)
	jeanne, paul := w.Config.Accounts[0], w.Config.Accounts[1]
	if _, err := lps.DialIMAP(context.Background(), endpoint(t, tg.imap), xoauth(t, w, jeanne.Address, paul.NationalID), tg.opts(t)); err == nil {
		t.Error("Paul's token opened Jeanne's personal mailbox")
	}
	for _, a := range w.Config.Accounts {
		if a.Kind == "organisational" {
			for _, id := range a.NationalIDs {
				tg.inbox(t, xoauth(t, w, a.Address, id))
			}
		}
	}
	// A certificate on a personal mailbox is not an applicative login.
	if _, err := tg.submit(t, lps.Auth{Method: lps.AuthCertPlain, Address: jeanne.Address, Certificate: tg.app.Certificate},
		jeanne.Address, "mauvaise famille", nil); err == nil {
		t.Error("PLAIN on a personal mailbox accepted")
	}
}

// Sandbox only, ECO.1.1.6: a revoked applicative certificate is refused by the operator.
func TestSandbox_revokedClientCertificate(t *testing.T) {
	w := startWorld(t, t.TempDir(), true)
	tg := sandboxTarget(t, w)
	if _, err := tg.submit(t, tg.app, tg.alice.Address, "avant révocation", nil); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if err := w.RevokeClient(tg.app.Address); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.submit(t, tg.app, tg.alice.Address, "après révocation", nil); err == nil {
		t.Error("revoked client certificate accepted by SMTP")
	}
	if _, err := lps.DialIMAP(context.Background(), endpoint(t, tg.imap), tg.app, tg.opts(t)); err == nil {
		t.Error("revoked client certificate accepted by IMAP")
	}
}

// Mail survives a restart of the world.
func TestRestartKeepsMail(t *testing.T) {
	dir := t.TempDir()
	w := startWorld(t, dir, true)
	paul := w.Config.Accounts[1]
	tg := sandboxTarget(t, w)
	if _, err := tg.submit(t, tg.alice, paul.Address, "Avant redémarrage", nil); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	w2 := startWorld(t, dir, false)
	waitFor(t, sandboxTarget(t, w2).inbox(t, xoauth(t, w2, paul.Address, paul.NationalID)), "Avant redémarrage")
}
