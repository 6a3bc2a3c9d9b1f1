package lps_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

const (
	alice = "alice@test.mssante.fr"
	bob   = "bob@test.mssante.fr"
	appli = "appli@test.mssante.fr"
	orgID = "499700000000001"
)

// peerEnv is one Dovecot+Postfix stack shared by the subtests of TestPeers.
type peerEnv struct {
	st     *peertest.Stack
	policy *trust.Policy
	cert   *tls.Certificate
}

func newPeerEnv(t *testing.T) *peerEnv { return newPeerEnvTB(t) }

func newPeerEnvTB(t testing.TB) *peerEnv {
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, AppUsers: []string{appli}})
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert},
		OrgIntermediates: []*x509.Certificate{pki.Org.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	leaf := pki.Client(orgID, appli)
	return &peerEnv{st: st, policy: pol, cert: &leaf.TLS}
}

func (e *peerEnv) opts(trace *bytes.Buffer, rec lps.Recorder) *lps.Options {
	o := &lps.Options{TLS: e.policy.ClientConfig("", nil), Recorder: rec, ReconnectDelay: 100 * time.Millisecond,
		ClassifyTLSError: trust.ClassifyHandshakeError}
	if trace != nil {
		o.Trace = &syncWriter{w: trace}
	}
	return o
}

func (e *peerEnv) xoauth2(addr string, ttl time.Duration) lps.Auth {
	return lps.Auth{Method: lps.AuthXOAUTH2, Address: addr,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return e.st.Token(addr, ttl), nil })}
}

func ep(t testing.TB, s string) lps.Endpoint {
	t.Helper()
	e, err := lps.ParseEndpoint(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

type recorder struct {
	mu     sync.Mutex
	events []lps.Event
}

func (r *recorder) Record(_ context.Context, ev lps.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) actions() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, e := range r.events {
		s = append(s, e.Action)
	}
	return strings.Join(s, ",")
}

func testMessage(from, to, subject string) []byte {
	return []byte(fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@test.mssante.fr>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCompte rendu de consultation, données de santé.\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano()))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls the INBOX of cl until a message with subject arrives; it returns its UID.
func waitFor(t *testing.T, cl *lps.IMAPClient, subject string) uint32 {
	t.Helper()
	return peertest.WaitForSubject(t, ctxT(t), cl, subject, 10*time.Second)
}

func TestPeers(t *testing.T) {
	e := newPeerEnv(t)
	t.Run("XOAUTH2SendListFetch", func(t *testing.T) { testXOAUTH2(t, e) })
	t.Run("CertPlain", func(t *testing.T) { testCertPlain(t, e) })
	t.Run("IdleNewMailAndServerClose", func(t *testing.T) { testIdle(t, e) })
	t.Run("PostfixRestartBetweenSends", func(t *testing.T) { testPostfixRestart(t, e) })
	t.Run("NoSTARTTLS", func(t *testing.T) { testNoSTARTTLS(t, e) })
	t.Run("Probe", func(t *testing.T) { testProbe(t, e) })
	t.Run("ExpiredToken", func(t *testing.T) { testExpiredToken(t, e) })
	t.Run("NoReopenWithoutValidAuth", func(t *testing.T) { testNoReopenWithoutAuth(t, e) })
	t.Run("WrongServerName", func(t *testing.T) { testWrongServerName(t, e) })
	t.Run("Resync", func(t *testing.T) { testResync(t, e) })
	t.Run("FetchBodies", func(t *testing.T) { testFetchBodies(t, e) })
	t.Run("RevokedServer", func(t *testing.T) { testRevokedServer(t, e) }) // last: revokes the servers' certificate
}

// ECO.1.2.7 (converse): when the token source can no longer give a token, the session closed by
// the server is not reopened and the call fails with ErrAuth, at once.
func testNoReopenWithoutAuth(t *testing.T, e *peerEnv) {
	ctx := ctxT(t)
	calls := 0
	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: bob, Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) {
		calls++
		if calls > 1 {
			return "", errors.New("PSC session ended")
		}
		return e.st.Token(bob, time.Hour), nil
	})}
	ic, err := lps.DialIMAP(ctx, ep(t, e.st.IMAP), auth, e.opts(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if _, err := ic.Select(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	e.st.KickIMAP(bob)
	time.Sleep(300 * time.Millisecond)
	_, err = ic.Search(ctx, lps.Criteria{})
	if !errors.Is(err, lps.ErrAuth) || calls != 2 {
		t.Errorf("Search after close with no valid token = %v (token asked %d times), want ErrAuth after one attempt", err, calls)
	}
}

// ECO.1.1.5: the server certificate must name the host asked for.
func testWrongServerName(t *testing.T, e *peerEnv) {
	o := e.opts(nil, nil)
	o.TLS = e.policy.ClientConfig("imap.other-operator.fr", nil)
	_, err := lps.DialIMAP(ctxT(t), ep(t, e.st.IMAP), e.xoauth2(alice, time.Hour), o)
	if !errors.Is(err, lps.ErrTLSPolicy) {
		t.Errorf("certificate for another name: err = %v, want ErrTLSPolicy", err)
	}
}

// ECO.1.1.6: a server whose certificate is revoked is refused during STARTTLS; the error names the
// rule and no credential is sent.
func testRevokedServer(t *testing.T, e *peerEnv) {
	ctx := ctxT(t)
	e.st.PKI.Revoke(e.st.ServerCert)
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{e.st.PKI.Root.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ proto, addr string }{{"imap", e.st.IMAP}, {"smtp", e.st.Submission}} {
		var trace bytes.Buffer
		o := &lps.Options{TLS: pol.ClientConfig("", nil), ClassifyTLSError: trust.ClassifyHandshakeError, Trace: &trace}
		var err error
		if c.proto == "imap" {
			_, err = lps.DialIMAP(ctx, ep(t, c.addr), e.xoauth2(alice, time.Hour), o)
		} else {
			_, err = lps.DialSMTP(ctx, ep(t, c.addr), e.xoauth2(alice, time.Hour), o)
		}
		var re *trust.RefusalError
		if !errors.Is(err, lps.ErrTLSPolicy) || !errors.As(err, &re) || !strings.Contains(re.Rule, "ECO.1.1.6") {
			t.Errorf("%s with a revoked server certificate: err = %v, want a RefusalError ECO.1.1.6", c.proto, err)
		}
		if strings.Contains(trace.String(), "AUTH") && strings.Contains(trace.String(), "***") {
			t.Errorf("%s: credentials sent to a refused server", c.proto)
		}
	}
}

// ECO.1.0.1, ECO.1.0.2, ECO.1.2.1, ECO.1.2.5: XOAUTH2 submission with DSN, then IMAP list, fetch,
// flags, append, move, delete; the token never reaches the trace.
func testXOAUTH2(t *testing.T, e *peerEnv) {
	ctx := ctxT(t)
	var trace bytes.Buffer
	rec := &recorder{}
	var tokens []string
	auth := e.xoauth2(alice, time.Hour)
	src := auth.Tokens
	auth.Tokens = lps.TokenSourceFunc(func(ctx context.Context) (string, error) {
		tok, err := src.Token(ctx)
		tokens = append(tokens, tok)
		return tok, err
	})
	sc, err := lps.DialSMTP(ctx, ep(t, e.st.Submission), auth, e.opts(&trace, rec))
	if err != nil {
		t.Fatalf("DialSMTP: %v\n%s", err, e.st.Logs())
	}
	msg := testMessage(alice, bob, "XOAUTH2 test")
	res, err := sc.Submit(ctx, alice, []string{bob}, bytes.NewReader(msg), &lps.DSN{EnvelopeID: "env-1"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if !res.DSNRequested {
		t.Errorf("DSN not requested though Postfix offers it")
	}
	if err := sc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	tr := trace.String()
	for _, want := range []string{"RET=HDRS", "ENVID=env-1", "NOTIFY=SUCCESS,FAILURE,DELAY", "C: AUTH XOAUTH2 ***", "… ("} {
		if !strings.Contains(tr, want) {
			t.Errorf("SMTP trace lacks %q:\n%s", want, tr)
		}
	}
	if strings.Contains(tr, "Compte rendu") {
		t.Errorf("SMTP trace shows the message body")
	}

	bobAuth := e.xoauth2(bob, time.Hour)
	bobAuth.Tokens = lps.TokenSourceFunc(func(ctx context.Context) (string, error) {
		tok := e.st.Token(bob, time.Hour)
		tokens = append(tokens, tok)
		return tok, nil
	})
	ic, err := lps.DialIMAP(ctx, ep(t, e.st.IMAP), bobAuth, e.opts(&trace, rec))
	if err != nil {
		t.Fatalf("DialIMAP: %v\n%s", err, e.st.Logs())
	}
	defer ic.Close()
	uid := waitFor(t, ic, "XOAUTH2 test")
	if ic.Capable("CONDSTORE") {
		st, err := ic.Select(ctx, "INBOX")
		if err != nil || st.HighestModSeq == 0 {
			t.Errorf("CONDSTORE offered but Select = %+v, %v", st, err)
		}
	}
	sums, err := ic.Summaries(ctx, []uint32{uid})
	if err != nil || len(sums) != 1 {
		t.Fatalf("Summaries = %v, %v", sums, err)
	}
	if sums[0].Subject != "XOAUTH2 test" || len(sums[0].From) != 1 || sums[0].From[0] != alice {
		t.Errorf("summary = %+v", sums[0])
	}
	var body bytes.Buffer
	n, err := ic.FetchBody(ctx, uid, &body)
	if err != nil || n == 0 || !bytes.Contains(body.Bytes(), []byte("Compte rendu de consultation")) {
		t.Fatalf("FetchBody = %d, %v\n%s", n, err, body.String())
	}
	if err := ic.SetFlags(ctx, []uint32{uid}, lps.FlagsAdd, lps.FlagSeen, lps.FlagMDNSent); err != nil {
		t.Fatalf("SetFlags: %v", err)
	}
	sums, _ = ic.Summaries(ctx, []uint32{uid})
	if len(sums) != 1 || !strings.Contains(strings.Join(sums[0].Flags, " "), "$MDNSent") {
		t.Errorf("flags after SetFlags = %+v", sums)
	}
	if unseen, err := ic.Search(ctx, lps.Criteria{Unseen: true}); err != nil || slices.Contains(unseen, uid) {
		t.Errorf("Search(Unseen) after \\Seen = %v, %v", unseen, err)
	}
	boxes, err := ic.Mailboxes(ctx)
	if err != nil || len(boxes) < 3 {
		t.Errorf("Mailboxes = %v, %v", boxes, err)
	}
	sentUID, err := ic.Append(ctx, "Sent", []string{lps.FlagSeen}, bytes.NewReader(msg), int64(len(msg)))
	if err != nil || sentUID == 0 {
		t.Errorf("Append = %d, %v", sentUID, err)
	}
	if err := ic.Move(ctx, []uint32{uid}, "Trash"); err != nil {
		t.Errorf("Move: %v", err)
	}
	if _, err := ic.Select(ctx, "Trash"); err != nil {
		t.Fatal(err)
	}
	uids, err := ic.Search(ctx, lps.Criteria{})
	if err != nil || len(uids) != 1 {
		t.Fatalf("Trash = %v, %v", uids, err)
	}
	if err := ic.Delete(ctx, uids); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if uids, _ := ic.Search(ctx, lps.Criteria{}); len(uids) != 0 {
		t.Errorf("Trash after Delete = %v", uids)
	}
	// The DSN asked with NOTIFY=SUCCESS comes back to the sender (RFC 3461, ECO.1.0.1).
	aliceIMAP, err := lps.DialIMAP(ctx, ep(t, e.st.IMAP), auth, e.opts(&trace, rec))
	if err != nil {
		t.Fatalf("DialIMAP alice: %v", err)
	}
	waitFor(t, aliceIMAP, "Successful Mail Delivery Report")
	_ = aliceIMAP.Close()
	tr = trace.String()
	if len(tokens) < 2 {
		t.Fatalf("token source called %d times", len(tokens))
	}
	for _, tok := range tokens {
		if strings.Contains(tr, tok) || strings.Contains(tr, tok[len(tok)-20:]) {
			t.Fatalf("ECO.1.2.5: token bytes reached the trace")
		}
	}
	if !strings.Contains(tr, "AUTHENTICATE XOAUTH2 ***") {
		t.Errorf("IMAP trace lacks the redacted AUTHENTICATE:\n%s", tr)
	}
	for _, ev := range rec.events {
		if strings.Contains(ev.Request+ev.Response, tokens[0]) {
			t.Fatalf("token in an event")
		}
	}
	for _, want := range []string{"connect", "auth", "send", "list", "fetch", "flag", "append", "move", "delete"} {
		if !strings.Contains(rec.actions(), want) {
			t.Errorf("no %q event in %s", want, rec.actions())
		}
	}
}

// ECO.1.3.1: applicative mailbox, client certificate then PLAIN with the address.
func testCertPlain(t *testing.T, e *peerEnv) {
	ctx := ctxT(t)
	auth := lps.Auth{Method: lps.AuthCertPlain, Address: appli, Certificate: e.cert}
	sc, err := lps.DialSMTP(ctx, ep(t, e.st.Submission), auth, e.opts(nil, nil))
	if err != nil {
		t.Fatalf("DialSMTP: %v\n%s", err, e.st.Logs())
	}
	if _, err := sc.Submit(ctx, appli, []string{appli}, bytes.NewReader(testMessage(appli, appli, "applicative")), nil); err != nil {
		t.Fatalf("Submit: %v\n%s", err, e.st.Logs())
	}
	_ = sc.Close()
	ic, err := lps.DialIMAP(ctx, ep(t, e.st.IMAP), auth, e.opts(nil, nil))
	if err != nil {
		t.Fatalf("DialIMAP: %v\n%s", err, e.st.Logs())
	}
	waitFor(t, ic, "applicative")
	_ = ic.Close()

	// Without the certificate: lps refuses to start, and a PLAIN login without it is refused.
	noCert := lps.Auth{Method: lps.AuthCertPlain, Address: appli}
	if _, err := lps.DialIMAP(ctx, ep(t, e.st.IMAP), noCert, e.opts(nil, nil)); err == nil {
		t.Errorf("DialIMAP without a client certificate succeeded")
	}
}

// ECO.1.0.2, ECO.1.2.7: IDLE sees a new message; the server closes the session during IDLE and
// Idle reopens it and sees the next message.
func testIdle(t *testing.T, e *peerEnv) {
	ctx := ctxT(t)
	rec := &recorder{}
	ic, err := lps.DialIMAP(ctx, ep(t, e.st.IMAP), e.xoauth2(bob, time.Hour), e.opts(nil, rec))
	if err != nil {
		t.Fatalf("DialIMAP: %v", err)
	}
	defer ic.Close()
	st, err := ic.Select(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	updates := make(chan lps.Update, 16)
	idleCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ic.Idle(idleCtx, func(u lps.Update) { updates <- u }) }()
	wantMore := func(n uint32, what string) {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			select {
			case u := <-updates:
				if u.Messages >= n {
					return
				}
			case err := <-done:
				t.Fatalf("%s: Idle returned %v", what, err)
			case <-timeout:
				t.Fatalf("%s: no update with %d messages\n%s", what, n, e.st.Logs())
			}
		}
	}
	time.Sleep(300 * time.Millisecond)
	e.st.Deliver(bob, "INBOX", testMessage(alice, bob, "idle 1"))
	wantMore(st.Messages+1, "new mail")
	e.st.KickIMAP(bob)
	time.Sleep(500 * time.Millisecond)
	e.st.Deliver(bob, "INBOX", testMessage(alice, bob, "idle 2"))
	wantMore(st.Messages+2, "after the server closed the session")
	stop()
	if err := <-done; err != nil {
		t.Errorf("Idle = %v after stop", err)
	}
	reopened := false
	rec.mu.Lock()
	for _, ev := range rec.events {
		reopened = reopened || (ev.Action == lps.ActionConnect && strings.HasPrefix(ev.Request, "REOPEN"))
	}
	rec.mu.Unlock()
	if !reopened {
		t.Errorf("no reopen event: %s", rec.actions())
	}
	// Closed by the server between two calls: the next call reopens the session (ECO.1.2.7).
	e.st.KickIMAP(bob)
	time.Sleep(300 * time.Millisecond)
	if uids, err := ic.Search(ctx, lps.Criteria{Subject: "idle 2"}); err != nil || len(uids) != 1 {
		t.Errorf("Search after the server closed the session = %v, %v", uids, err)
	}
	// ECO.1.2.6: Close ends a running IDLE and the session stays closed.
	go func() { done <- ic.Idle(ctx, func(lps.Update) {}) }()
	time.Sleep(300 * time.Millisecond)
	if err := ic.Close(); err != nil {
		t.Errorf("Close during IDLE: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Idle after Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop Idle")
	}
	if _, err := ic.Search(ctx, lps.Criteria{}); !errors.Is(err, lps.ErrClosed) {
		t.Errorf("Search after Close = %v, want ErrClosed", err)
	}
}

// ECO.1.2.7: Postfix restarted between two sends; the second send reopens the session.
func testPostfixRestart(t *testing.T, e *peerEnv) {
	ctx := ctxT(t)
	sc, err := lps.DialSMTP(ctx, ep(t, e.st.Submission), e.xoauth2(alice, time.Hour), e.opts(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.Submit(ctx, alice, []string{bob}, bytes.NewReader(testMessage(alice, bob, "before restart")), nil); err != nil {
		t.Fatal(err)
	}
	e.st.RestartPostfix()
	if _, err := sc.Submit(ctx, alice, []string{bob}, bytes.NewReader(testMessage(alice, bob, "after restart")), nil); err != nil {
		t.Fatalf("second Submit after restart: %v\n%s", err, e.st.Logs())
	}
	if err := sc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := sc.Submit(ctx, alice, []string{bob}, bytes.NewReader(testMessage(alice, bob, "after close")), nil); !errors.Is(err, lps.ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
}

// ECO.1.0.1, ECO.1.0.2: a server without STARTTLS is refused, never used in plaintext.
func testNoSTARTTLS(t *testing.T, e *peerEnv) {
	ctx := ctxT(t)
	_, err := lps.DialSMTP(ctx, ep(t, e.st.SubmissionNoTLS), e.xoauth2(alice, time.Hour), e.opts(nil, nil))
	var se *lps.SendError
	if !errors.Is(err, lps.ErrNoSTARTTLS) || !errors.As(err, &se) || !se.Permanent {
		t.Errorf("SMTP without STARTTLS: err = %v, want permanent ErrNoSTARTTLS", err)
	}
	plain := peertest.Start(t, peertest.Options{PKI: e.st.PKI, NoTLS: true, NoPostfix: true})
	var trace bytes.Buffer
	_, err = lps.DialIMAP(ctx, ep(t, plain.IMAP), e.xoauth2(alice, time.Hour), e.opts(&trace, nil))
	if !errors.Is(err, lps.ErrNoSTARTTLS) {
		t.Errorf("IMAP without STARTTLS: err = %v, want ErrNoSTARTTLS", err)
	}
	if strings.Contains(trace.String(), "C: L2 LOGOUT") == false || strings.Count(trace.String(), "C: ") != 1 {
		t.Errorf("credentials sent to a server without STARTTLS:\n%s", trace.String())
	}
}

// ECO.1.1.9: the connection test reports each step.
func testProbe(t *testing.T, e *peerEnv) {
	ctx := ctxT(t)
	for _, c := range []struct {
		proto, addr string
		last        string
	}{{"smtp", e.st.Submission, "quit"}, {"imap", e.st.IMAP, "logout"}} {
		steps := lps.Probe(ctx, c.proto, ep(t, c.addr), e.xoauth2(alice, time.Hour), e.opts(nil, nil))
		if len(steps) != 5 || steps[4].Name != c.last {
			t.Fatalf("Probe(%s) steps = %+v", c.proto, steps)
		}
		for _, s := range steps {
			if !s.OK {
				t.Errorf("Probe(%s) step %+v failed", c.proto, s)
			}
		}
		if !strings.HasPrefix(steps[1].Detail, "TLS 1.") {
			t.Errorf("starttls detail = %q", steps[1].Detail)
		}
	}
	steps := lps.Probe(ctx, "imap", ep(t, e.st.SubmissionNoTLS), e.xoauth2(alice, time.Hour), e.opts(nil, nil))
	if last := steps[len(steps)-1]; last.OK || last.Name != "starttls" {
		t.Errorf("Probe of a plaintext SMTP port as IMAP = %+v", steps)
	}
}

// ECO.1.2.3: an expired token gives a clean, typed authentication error with the server's
// status, on both protocols. It connects from 127.0.0.2: Dovecot delays later logins from an
// address after a failure.
func testExpiredToken(t *testing.T, e *peerEnv) {
	ctx := ctxT(t)
	o := e.opts(nil, nil)
	o.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext
	expired := e.xoauth2(bob, -time.Minute)
	var trace bytes.Buffer
	o.Trace = &trace
	_, err := lps.DialIMAP(ctx, ep(t, e.st.IMAP), expired, o)
	if !strings.Contains(trace.String(), "C: ***") {
		t.Errorf("no answer to the error challenge in the trace:\n%s", trace.String())
	}
	var ae *lps.AuthError
	if !errors.Is(err, lps.ErrAuth) || !errors.As(err, &ae) {
		t.Fatalf("IMAP with an expired token: err = %v, want *AuthError", err)
	}
	if ae.Status == "" {
		t.Errorf("IMAP AuthError has no status from the JSON challenge: %+v", ae)
	}
	_, err = lps.DialSMTP(ctx, ep(t, e.st.Submission), expired, o)
	var se *lps.SendError
	if !errors.Is(err, lps.ErrAuth) || !errors.As(err, &se) || se.Command != "AUTH" || se.Code != 535 {
		t.Errorf("SMTP with an expired token: err = %v, want SendError AUTH 535 wrapping ErrAuth", err)
	}
	if errors.As(err, &ae) && ae.Status == "" {
		t.Errorf("SMTP AuthError has no status: %+v", ae)
	}
}
