package operator_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/sandbox/operator"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
)

// ECO.1.0.1, ECO.1.0.2, ECO.1.2.1, ECO.2.3.1: XOAUTH2 submission with a DSN request; the
// recipient lists, fetches (trace fields added by delivery), flags ($MDNSent), appends to Sent,
// moves to Trash and deletes; the sender receives the RFC 3464 "delivered" report with its ENVID.
func TestXOAUTH2_sendListFetchDSN(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	sc := w.smtp(w.xoauth2(alice, aliceID, time.Hour))
	msg := testMessage(alice, bob, "XOAUTH2 test")
	res, err := sc.Submit(ctx, alice, []string{bob}, bytes.NewReader(msg), &lps.DSN{EnvelopeID: "env-42"})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if !res.DSNRequested || !strings.Contains(res.Response, "queued as") {
		t.Errorf("Submit = %+v, want DSN requested and a queue id", res)
	}

	ic := w.imap(w.xoauth2(bob, bobID, time.Hour))
	uid := waitFor(t, ic, "XOAUTH2 test")
	sums, err := ic.Summaries(ctx, []uint32{uid})
	if err != nil || len(sums) != 1 || sums[0].Subject != "XOAUTH2 test" || len(sums[0].From) != 1 || sums[0].From[0] != alice {
		t.Fatalf("Summaries = %+v, %v", sums, err)
	}
	body := fetch(t, ic, uid)
	for _, want := range []string{"Return-Path: <" + alice + ">", "Delivered-To: " + bob, "Received: from ", "with ESMTPSA", "Compte rendu de consultation"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("delivered message lacks %q:\n%s", want, body)
		}
	}
	if err := ic.SetFlags(ctx, []uint32{uid}, lps.FlagsAdd, lps.FlagSeen, lps.FlagMDNSent); err != nil {
		t.Fatalf("SetFlags: %v", err)
	}
	sums, _ = ic.Summaries(ctx, []uint32{uid})
	if len(sums) != 1 || !strings.Contains(strings.Join(sums[0].Flags, " "), "$MDNSent") {
		t.Errorf("flags after SetFlags = %+v", sums)
	}
	if uids, err := ic.Search(ctx, lps.Criteria{Unseen: true}); err != nil || len(uids) != 0 {
		t.Errorf("Search(unseen) after \\Seen = %v, %v", uids, err)
	}
	boxes, err := ic.Mailboxes(ctx)
	if err != nil || len(boxes) != 3 {
		t.Errorf("Mailboxes = %+v, %v", boxes, err)
	}
	if sent, err := ic.Append(ctx, "Sent", []string{lps.FlagSeen}, bytes.NewReader(msg), int64(len(msg))); err != nil || sent == 0 {
		t.Errorf("Append(Sent) = %d, %v", sent, err)
	}
	if err := ic.Move(ctx, []uint32{uid}, "Trash"); err != nil {
		t.Fatalf("Move: %v", err)
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

	aliceIMAP := w.imap(w.xoauth2(alice, aliceID, time.Hour))
	dsnUID := waitFor(t, aliceIMAP, "Successful Mail Delivery Report")
	report := fetch(t, aliceIMAP, dsnUID)
	m, err := message.Parse(report, nil)
	if err != nil {
		t.Fatalf("Parse(report): %v", err)
	}
	if len(m.Reports) != 1 || m.Reports[0].Kind != "dsn" || m.Reports[0].Action != "delivered" ||
		m.Reports[0].Recipient != bob || m.Reports[0].Failed() {
		t.Errorf("success report = %+v", m.Reports)
	}
	if !bytes.Contains(report, []byte("Original-Envelope-Id: env-42")) || !bytes.Contains(report, []byte("text/rfc822-headers")) {
		t.Errorf("report lacks ENVID or RET=HDRS part:\n%s", report)
	}
	if bytes.Contains(report, []byte("Compte rendu")) {
		t.Errorf("RET=HDRS report returned the body")
	}
}

// ECO.1.2.1: an organisational mailbox opens with the token of any of its members; a member of
// nothing, or a patient mailbox, is refused.
func TestXOAUTH2_organisationalMailbox(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	for _, id := range []string{aliceID, bobID} {
		ic := w.imap(w.xoauth2(secretariat, id, time.Hour))
		if _, err := ic.Select(ctx, "INBOX"); err != nil {
			t.Errorf("member %s: Select: %v", id, err)
		}
	}
	for _, c := range []struct{ addr, id string }{{secretariat, "810000000099"}, {bob, aliceID}, {patient, aliceID}} {
		_, err := lps.DialIMAP(ctx, ep(t, w.op.IMAPAddr()), w.xoauth2(c.addr, c.id, time.Hour), w.lpsOpts())
		if !errors.Is(err, lps.ErrAuth) {
			t.Errorf("%s with the token of %s: err = %v, want ErrAuth", c.addr, c.id, err)
		}
	}
}

// ECO.1.2.3, ECO.1.2.1: a wrong or expired token is refused with the JSON error challenge then
// IMAP NO [AUTHENTICATIONFAILED] / SMTP 535 5.7.8.
func TestXOAUTH2_refusedTokens(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	wrong := lps.Auth{Method: lps.AuthXOAUTH2, Address: bob,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return "eyJforged.token.sig", nil })}
	for name, auth := range map[string]lps.Auth{"expired": w.xoauth2(bob, bobID, -time.Minute), "wrong": wrong} {
		_, err := lps.DialIMAP(ctx, ep(t, w.op.IMAPAddr()), auth, w.lpsOpts())
		var ae *lps.AuthError
		if !errors.As(err, &ae) || ae.Status != "401" || ae.Scope != "mail" || ae.Schemes != "bearer" ||
			!strings.Contains(ae.Response, "AUTHENTICATIONFAILED") {
			t.Errorf("IMAP with a %s token: err = %v (%+v), want the JSON challenge and NO [AUTHENTICATIONFAILED]", name, err, ae)
		}
		_, err = lps.DialSMTP(ctx, ep(t, w.op.SMTPAddr()), auth, w.lpsOpts())
		var se *lps.SendError
		if !errors.As(err, &se) || se.Code != 535 || se.Enhanced != "5.7.8" || !errors.As(err, &ae) || ae.Status != "401" {
			t.Errorf("SMTP with a %s token: err = %v, want 535 5.7.8 after the JSON challenge", name, err)
		}
	}
}

// ECO.1.3.1: the applicative mailbox sends and reads with its ORG client certificate and PLAIN;
// without a certificate, or with the certificate of another organisation, it is refused.
func TestCertPlain_applicative(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	sc := w.smtp(w.certPlain())
	if _, err := sc.Submit(ctx, appli, []string{appli, bob, strings.ToUpper(appli)}, bytes.NewReader(testMessage(appli, bob, "applicative")), nil); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	waitFor(t, w.imap(w.certPlain()), "applicative")
	if got, _ := w.op.Messages(appli, "INBOX"); len(got) != 1 {
		t.Errorf("a recipient given twice got %d copies, want 1", len(got))
	}

	other := w.pki.Client(otherOrgID, appli)
	wrongOrg := lps.Auth{Method: lps.AuthCertPlain, Address: appli, Certificate: &other.TLS}
	if _, err := lps.DialIMAP(ctx, ep(t, w.op.IMAPAddr()), wrongOrg, w.lpsOpts()); !errors.Is(err, lps.ErrAuth) {
		t.Errorf("IMAP with another organisation's certificate: err = %v, want ErrAuth", err)
	}
	if _, err := lps.DialSMTP(ctx, ep(t, w.op.SMTPAddr()), wrongOrg, w.lpsOpts()); !errors.Is(err, lps.ErrAuth) {
		t.Errorf("SMTP with another organisation's certificate: err = %v, want ErrAuth", err)
	}
	// A personal mailbox cannot log in with a certificate and PLAIN.
	aliceCert := lps.Auth{Method: lps.AuthCertPlain, Address: alice, Certificate: w.appCert}
	if _, err := lps.DialIMAP(ctx, ep(t, w.op.IMAPAddr()), aliceCert, w.lpsOpts()); !errors.Is(err, lps.ErrAuth) {
		t.Errorf("PLAIN for a personal mailbox: err = %v, want ErrAuth", err)
	}
	// No certificate at all (lps refuses to try, so speak the protocols directly).
	if line := smtpPlainNoCert(t, w, appli); !strings.HasPrefix(line, "535 5.7.8") {
		t.Errorf("SMTP AUTH PLAIN without a certificate: %q, want 535 5.7.8", line)
	}
	if line := imapPlainNoCert(t, w, appli); !strings.Contains(line, "NO [AUTHENTICATIONFAILED]") {
		t.Errorf("IMAP AUTHENTICATE PLAIN without a certificate: %q, want NO [AUTHENTICATIONFAILED]", line)
	}
}

// ECO.1.0.2: IDLE sees a mail delivered by SMTP while it waits.
func TestIdle_seesDelivery(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	ic := w.imap(w.xoauth2(bob, bobID, time.Hour))
	st, err := ic.Select(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	updates := make(chan lps.Update, 16)
	idleCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ic.Idle(idleCtx, func(u lps.Update) { updates <- u }) }()
	time.Sleep(200 * time.Millisecond)
	sc := w.smtp(w.xoauth2(alice, aliceID, time.Hour))
	if _, err := sc.Submit(ctx, alice, []string{bob}, bytes.NewReader(testMessage(alice, bob, "idle")), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-updates:
		if u.Messages != st.Messages+1 {
			t.Errorf("IDLE update = %+v, want %d messages", u, st.Messages+1)
		}
	case err := <-done:
		t.Fatalf("Idle returned %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no IDLE update after delivery")
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Idle after stop = %v", err)
	}
}

// ECO.1.0.1: an unknown local recipient is refused at RCPT with 550 5.1.1, like Postfix with
// its recipient check; a domain outside the sandbox is refused too.
func TestSubmit_unknownRecipient(t *testing.T) {
	w := newWorld(t)
	sc := w.smtp(w.xoauth2(alice, aliceID, time.Hour))
	for rcpt, code := range map[string]string{"inconnu@sandbox.mssante.test": "5.1.1", "x@gmail.com": "5.1.2"} {
		_, err := sc.Submit(ctxT(t), alice, []string{rcpt}, bytes.NewReader(testMessage(alice, rcpt, "unknown")), nil)
		var se *lps.SendError
		if !errors.As(err, &se) || se.Command != "RCPT" || se.Code != 550 || se.Enhanced != code || !se.Permanent {
			t.Errorf("Submit to %s: err = %v, want RCPT 550 %s", rcpt, err, code)
		}
	}
	// The session stays usable.
	if _, err := sc.Submit(ctxT(t), alice, []string{bob}, bytes.NewReader(testMessage(alice, bob, "after")), nil); err != nil {
		t.Errorf("Submit after a refused recipient: %v", err)
	}
}

// The sender must be the authenticated mailbox (or <> for reports): refused at RCPT like
// Postfix's reject_sender_login_mismatch; the From field at the end of DATA.
func TestSubmit_senderBoundToLogin(t *testing.T) {
	w := newWorld(t)
	sc := w.smtp(w.xoauth2(alice, aliceID, time.Hour))
	_, err := sc.Submit(ctxT(t), bob, []string{bob}, bytes.NewReader(testMessage(bob, bob, "spoof")), nil)
	var se *lps.SendError
	if !errors.As(err, &se) || se.Command != "RCPT" || se.Code != 553 {
		t.Errorf("MAIL FROM another mailbox: err = %v, want 553 at RCPT", err)
	}
	_, err = sc.Submit(ctxT(t), alice, []string{bob}, bytes.NewReader(testMessage(bob, bob, "spoof")), nil)
	if !errors.As(err, &se) || se.Code != 550 || !strings.Contains(se.Line, "From header rejected") {
		t.Errorf("From: another mailbox: err = %v, want 550 From header rejected", err)
	}
}

// ECO.2.3.1: a mail to a closed patient mailbox is accepted, then comes back to the sender as
// Mon espace santé's "Message non distribué", an RFC 3464 report with a French human part.
func TestSubmit_closedPatientBounce(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	sc := w.smtp(w.xoauth2(alice, aliceID, time.Hour))
	msg := testMessage(alice, closedPat, "pour le patient")
	if _, err := sc.Submit(ctx, alice, []string{closedPat, patient}, bytes.NewReader(msg), nil); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	ic := w.imap(w.xoauth2(alice, aliceID, time.Hour))
	uid := waitFor(t, ic, "Message non distribu")
	raw := fetch(t, ic, uid)
	checkReportASCII(t, raw) // issue 11 item 3
	m, err := message.Parse(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Message non distribué" || m.From.Name != "Mon espace santé" {
		t.Errorf("bounce From %+v, Subject %q: want them decoded to the French text", m.From, m.Subject)
	}
	if len(m.Reports) != 1 || !m.Reports[0].Failed() || m.Reports[0].Recipient != closedPat || m.Reports[0].Status != "5.2.1" {
		t.Errorf("bounce reports = %+v", m.Reports)
	}
	if !strings.Contains(m.Text, "fermée") {
		t.Errorf("bounce text = %q, want the French reason", m.Text)
	}
	got, err := w.op.Messages(closedPat, "INBOX")
	if err != nil || len(got) != 0 {
		t.Errorf("closed mailbox INBOX = %d messages, %v", len(got), err)
	}
	if got, err := w.op.Messages(patient, "INBOX"); err != nil || len(got) != 1 {
		t.Errorf("open patient mailbox INBOX = %d messages, %v", len(got), err)
	}
}

// A patient mailbox takes messages up to the patient limit (25 MB like Mon espace santé; lowered
// here): over it, 552 5.3.4 at RCPT when SIZE announced it, at DATA otherwise. Professionals
// receive up to the larger limit.
func TestSubmit_patientSizeLimit(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	sc := w.smtp(w.xoauth2(alice, aliceID, time.Hour))
	big := append(testMessage(alice, patient, "gros"), bytes.Repeat([]byte(strings.Repeat("x", 76)+"\r\n"), patientLimit/78+1)...)
	var se *lps.SendError
	_, err := sc.Submit(ctx, alice, []string{patient}, bytes.NewReader(big), nil)
	if !errors.As(err, &se) || se.Code != 552 || se.Enhanced != "5.3.4" || se.Command != "RCPT" {
		t.Errorf("SIZE over the patient limit: err = %v, want RCPT 552 5.3.4", err)
	}
	_, err = sc.Submit(ctx, alice, []string{patient}, io.MultiReader(bytes.NewReader(big)), nil)
	if !errors.As(err, &se) || se.Code != 552 || se.Enhanced != "5.3.4" || se.Command != "DATA" {
		t.Errorf("DATA over the patient limit: err = %v, want DATA 552 5.3.4", err)
	}
	if _, err := sc.Submit(ctx, alice, []string{bob}, bytes.NewReader(big), nil); err != nil {
		t.Errorf("the same size to a professional: %v", err)
	}
	if operator.DefaultPatientMaxSize != 25_000_000 {
		t.Errorf("DefaultPatientMaxSize = %d, want 25 MB (decimal) like Mon espace santé", operator.DefaultPatientMaxSize)
	}
}

// Mail, flags, UIDs and UIDVALIDITY survive a restart of the operator.
func TestRestart_keepsMail(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	sc := w.smtp(w.xoauth2(alice, aliceID, time.Hour))
	for _, s := range []string{"un", "deux", "trois"} {
		if _, err := sc.Submit(ctx, alice, []string{bob}, bytes.NewReader(testMessage(alice, bob, "persist "+s)), nil); err != nil {
			t.Fatal(err)
		}
	}
	ic := w.imap(w.xoauth2(bob, bobID, time.Hour))
	uid := waitFor(t, ic, "persist deux")
	if err := ic.SetFlags(ctx, []uint32{uid}, lps.FlagsAdd, lps.FlagSeen, lps.FlagMDNSent); err != nil {
		t.Fatal(err)
	}
	if err := ic.Delete(ctx, []uint32{uid - 1}); err != nil { // leaves a gap in the UIDs
		t.Fatal(err)
	}
	before, _ := ic.Select(ctx, "INBOX")
	_ = ic.Close()

	w.restart()
	ic = w.imap(w.xoauth2(bob, bobID, time.Hour))
	after, err := ic.Select(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if after.UIDValidity != before.UIDValidity || after.UIDNext != before.UIDNext || after.Messages != before.Messages {
		t.Errorf("INBOX after restart = %+v, before %+v", after, before)
	}
	sums, err := ic.Summaries(ctx, []uint32{uid})
	if err != nil || len(sums) != 1 || sums[0].Subject != "persist deux" ||
		!strings.Contains(strings.Join(sums[0].Flags, " "), "$MDNSent") {
		t.Errorf("message %d after restart = %+v, %v", uid, sums, err)
	}
	if !bytes.Contains(fetch(t, ic, uid), []byte("Compte rendu")) {
		t.Errorf("body lost in the restart")
	}
}

// ECO.1.0.1, ECO.1.0.2: no authentication before STARTTLS. IMAP announces LOGINDISABLED and
// refuses AUTHENTICATE and LOGIN; SMTP offers no AUTH and refuses MAIL.
func TestPlaintext_loginRefused(t *testing.T) {
	w := newWorld(t)
	c, err := net.Dial("tcp", w.op.IMAPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	greeting, _ := r.ReadString('\n')
	if !strings.HasPrefix(greeting, "* OK") || strings.Contains(greeting, "PREAUTH") {
		t.Fatalf("greeting %q", greeting)
	}
	io.WriteString(c, "a CAPABILITY\r\n")
	caps := readUntilTag(t, r, "a ")
	if !strings.Contains(caps, "STARTTLS") || !strings.Contains(caps, "LOGINDISABLED") || strings.Contains(caps, "AUTH=") {
		t.Errorf("cleartext capabilities = %q", caps)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + appli + "\x00"))
	io.WriteString(c, "b AUTHENTICATE PLAIN "+plain+"\r\n")
	if line := readUntilTag(t, r, "b "); !strings.Contains(line, "b NO [PRIVACYREQUIRED]") {
		t.Errorf("AUTHENTICATE before STARTTLS: %q", line)
	}
	io.WriteString(c, "c LOGIN "+appli+" x\r\n")
	if line := readUntilTag(t, r, "c "); !strings.Contains(line, "c NO") && !strings.Contains(line, "c BAD") {
		t.Errorf("LOGIN before STARTTLS: %q", line)
	}

	s, err := net.Dial("tcp", w.op.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	sr := bufio.NewReader(s)
	readSMTP(t, sr)
	io.WriteString(s, "EHLO test\r\n")
	ehlo := readSMTP(t, sr)
	if !strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "AUTH") {
		t.Errorf("cleartext EHLO = %q", ehlo)
	}
	io.WriteString(s, "AUTH PLAIN "+plain+"\r\n")
	if line := readSMTP(t, sr); !strings.HasPrefix(line, "523") && !strings.HasPrefix(line, "530") {
		t.Errorf("AUTH before STARTTLS: %q", line)
	}
	io.WriteString(s, "MAIL FROM:<"+alice+">\r\n")
	if line := readSMTP(t, sr); !strings.HasPrefix(line, "530 5.7.0") {
		t.Errorf("MAIL without AUTH: %q", line)
	}
}

// ECO.1.1.1, ECO.1.1.3: TLS below 1.2 and suites outside the referential's list are refused;
// the lps client negotiates one of the listed suites.
func TestTLS_policy(t *testing.T) {
	w := newWorld(t)
	sc := w.smtp(w.xoauth2(alice, aliceID, time.Hour))
	if v, suite := sc.TLS(); v == "" || suite == "" {
		t.Errorf("TLS() = %q %q", v, suite)
	}
	for name, cfg := range map[string]*tls.Config{
		"TLS 1.1": {MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true},
		"RSA key exchange": {MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true,
			CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
	} {
		if err := startTLSIMAP(t, w, cfg); err == nil {
			t.Errorf("%s: handshake succeeded", name)
		}
	}
	ok := &tls.Config{MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}}
	if err := startTLSIMAP(t, w, ok); err != nil {
		t.Errorf("TLS 1.2 with 0xC027: %v", err)
	}
}

// MDNs travel like any mail (ECO.2.3.2): a read receipt sent with the null sender reaches the
// original sender and produces no report.
func TestSubmit_mdnNullSender(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	sc := w.smtp(w.xoauth2(bob, bobID, time.Hour))
	mdn := []byte("From: <" + bob + ">\r\nTo: <" + alice + ">\r\nSubject: Lu : compte rendu\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/plain\r\n\r\nLu.\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\n" +
		"Final-Recipient: rfc822; " + bob + "\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n--b--\r\n")
	if _, err := sc.Submit(ctx, "", []string{alice}, bytes.NewReader(mdn), &lps.DSN{}); err != nil {
		t.Fatalf("Submit MDN: %v", err)
	}
	ic := w.imap(w.xoauth2(alice, aliceID, time.Hour))
	m, err := message.Parse(fetch(t, ic, waitFor(t, ic, "Lu : compte rendu")), nil)
	if err != nil || len(m.Reports) != 1 || m.Reports[0].Kind != "mdn" {
		t.Errorf("MDN received = %+v, %v", m, err)
	}
	if got, _ := w.op.Messages(bob, "INBOX"); len(got) != 0 {
		t.Errorf("a report was sent for a null-sender mail: %d messages", len(got))
	}
}

// Options are checked and accounts validated.
func TestNew_options(t *testing.T) {
	w := newWorld(t)
	bad := w.opts
	bad.DataDir = ""
	if _, err := operator.New(bad); err == nil {
		t.Error("New without DataDir succeeded")
	}
	bad = w.opts
	bad.ValidateToken = nil
	if _, err := operator.New(bad); err == nil {
		t.Error("New without ValidateToken succeeded")
	}
	for _, a := range []operator.Account{{Address: "no-at", Kind: operator.KindPersonal},
		{Address: "x@sandbox.mssante.test"}, {Address: "app@sandbox.mssante.test", Kind: operator.KindApplicative}} {
		if err := w.op.AddAccount(a); err == nil {
			t.Errorf("AddAccount(%+v) succeeded", a)
		}
	}
	for k := operator.KindPersonal; k <= operator.KindPatient; k++ {
		if got, err := operator.ParseKind(k.String()); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
}

// ECO.1.1.9: the connection test of the lps client passes every step against the operator.
func TestProbe_allSteps(t *testing.T) {
	w := newWorld(t)
	for proto, addr := range map[string]string{"smtp": w.op.SMTPAddr(), "imap": w.op.IMAPAddr()} {
		steps := lps.Probe(ctxT(t), proto, ep(t, addr), w.xoauth2(alice, aliceID, time.Hour), w.lpsOpts())
		if len(steps) != 5 {
			t.Fatalf("Probe(%s) = %+v", proto, steps)
		}
		for _, s := range steps {
			if !s.OK {
				t.Errorf("Probe(%s) step %+v failed", proto, s)
			}
		}
	}
}

// RFC 3461 §4.1: NOTIFY=NEVER suppresses the failure report, even Mon espace santé's form.
func TestDeliver_notifyNever(t *testing.T) {
	w := newWorld(t)
	if err := w.op.Deliver(alice, []string{closedPat}, testMessage(alice, closedPat, "never"), "NEVER"); err != nil {
		t.Fatal(err)
	}
	if err := w.op.Deliver(alice, []string{closedPat}, testMessage(alice, closedPat, "default")); err != nil {
		t.Fatal(err)
	}
	got, err := w.op.Messages(alice, "INBOX")
	if err != nil || len(got) != 1 {
		t.Fatalf("alice INBOX = %d messages, %v; want the one bounce of the default NOTIFY", len(got), err)
	}
	if err := w.op.SetClosed(closedPat, false); err != nil {
		t.Fatal(err)
	}
	if err := w.op.Deliver(alice, []string{closedPat}, testMessage(alice, closedPat, "reopened")); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.op.Messages(closedPat, "INBOX"); len(got) != 1 {
		t.Errorf("reopened mailbox INBOX = %d messages, want 1", len(got))
	}
	if err := w.op.Deliver(alice, []string{"personne@sandbox.mssante.test"}, testMessage(alice, bob, "x")); err == nil {
		t.Errorf("Deliver to an unknown mailbox succeeded")
	}
}

// BenchmarkDeliver measures local delivery of a 20 kB message (atomic file write, fsync, index
// rewrite) to a mailbox already holding b.N messages.
func BenchmarkDeliver(b *testing.B) {
	dir := b.TempDir()
	op, err := operator.New(operator.Options{DataDir: dir, Certificate: benchCert(b),
		ValidateToken: func(context.Context, string) (operator.Claims, error) { return operator.Claims{}, errors.New("no") },
		Accounts:      accounts()})
	if err != nil {
		b.Fatal(err)
	}
	msg := append(testMessage(alice, bob, "bench"), bytes.Repeat([]byte(strings.Repeat("y", 76)+"\r\n"), 256)...)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := op.Deliver(alice, []string{bob}, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// RFC 3461 RET=FULL: the failure report returns the whole message.
func TestSubmit_dsnRetFull(t *testing.T) {
	w := newWorld(t)
	sc := w.smtp(w.xoauth2(alice, aliceID, time.Hour))
	if _, err := sc.Submit(ctxT(t), alice, []string{closedPat}, bytes.NewReader(testMessage(alice, closedPat, "full")),
		&lps.DSN{Return: "FULL", Notify: []string{"FAILURE"}, EnvelopeID: "e-full"}); err != nil {
		t.Fatal(err)
	}
	got, err := w.op.Messages(alice, "INBOX")
	if err != nil || len(got) != 1 {
		t.Fatalf("alice INBOX = %d, %v", len(got), err)
	}
	for _, want := range []string{"Content-Type: message/rfc822", "Compte rendu de consultation", "Original-Envelope-Id: e-full",
		"Action: failed", "Return-Path: <>"} {
		if !bytes.Contains(got[0].Data, []byte(want)) {
			t.Errorf("report lacks %q:\n%s", want, got[0].Data)
		}
	}
}

// ECO.1.3.1, ECO.1.1.10: a certificate of another CA, an expired one, or one the revocation hook
// refuses does not open the applicative mailbox, even with the right OU.
func TestCertPlain_untrustedCertificates(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	foreign := testpki.New(t, testpki.Options{RSA: true, Name: "FOREIGN"}).Client(orgID, appli)
	expired := w.pki.Issue(testpki.LeafOptions{Client: true, OrgID: orgID, Mailbox: appli, Expired: true})
	for name, leaf := range map[string]*testpki.Leaf{"foreign CA": foreign, "expired": expired} {
		auth := lps.Auth{Method: lps.AuthCertPlain, Address: appli, Certificate: &leaf.TLS}
		if _, err := lps.DialIMAP(ctx, ep(t, w.op.IMAPAddr()), auth, w.lpsOpts()); !errors.Is(err, lps.ErrAuth) {
			t.Errorf("IMAP with a %s certificate: err = %v, want ErrAuth", name, err)
		}
	}
	revoked := w.pki.Client(orgID, appli)
	w.opts.CheckClientCert = func(_ context.Context, chain []*x509.Certificate) error {
		if chain[0].SerialNumber.Cmp(revoked.Cert.SerialNumber) == 0 {
			return errors.New("revoked")
		}
		return nil
	}
	w.restart()
	auth := lps.Auth{Method: lps.AuthCertPlain, Address: appli, Certificate: &revoked.TLS}
	if _, err := lps.DialSMTP(ctx, ep(t, w.op.SMTPAddr()), auth, w.lpsOpts()); !errors.Is(err, lps.ErrAuth) {
		t.Errorf("SMTP with a revoked certificate: err = %v, want ErrAuth", err)
	}
	w.smtp(w.certPlain()) // the valid one still works
}

// ECO.1.0.1: the submission service offers DSN, SIZE and PIPELINING after STARTTLS, and answers
// a pipelined transaction (RFC 2920) reply by reply; DSN parameters are accepted.
func TestSMTP_pipeliningAndExtensions(t *testing.T) {
	w := newWorld(t)
	tc, r, ehlo := smtpTLS(t, w)
	for _, ext := range []string{"PIPELINING", "DSN", "SIZE 200000", "ENHANCEDSTATUSCODES", "AUTH OAUTHBEARER XOAUTH2 PLAIN"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO lacks %s:\n%s", ext, ehlo)
		}
	}
	ir := base64.StdEncoding.EncodeToString([]byte("user=" + alice + "\x01auth=Bearer " + w.tokens.issue(aliceID, time.Hour) + "\x01\x01"))
	io.WriteString(tc, "AUTH XOAUTH2 "+ir+"\r\n")
	if line := readSMTP(t, r); !strings.HasPrefix(line, "235") {
		t.Fatalf("AUTH: %q", line)
	}
	msg := string(testMessage(alice, bob, "pipelined"))
	io.WriteString(tc, "MAIL FROM:<"+alice+"> RET=HDRS ENVID=pipe-1\r\nRCPT TO:<"+bob+"> NOTIFY=SUCCESS ORCPT=rfc822;"+bob+
		"\r\nRCPT TO:<nobody@sandbox.mssante.test>\r\nDATA\r\n")
	for i, want := range []string{"250", "250", "550 5.1.1", "354"} {
		if line := readSMTP(t, r); !strings.HasPrefix(line, want) {
			t.Fatalf("pipelined reply %d = %q, want %s", i, line, want)
		}
	}
	io.WriteString(tc, msg+".\r\n")
	if line := readSMTP(t, r); !strings.HasPrefix(line, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("end of DATA: %q", line)
	}
	got, _ := w.op.Messages(alice, "INBOX")
	if len(got) != 1 || !bytes.Contains(got[0].Data, []byte("Original-Envelope-Id: pipe-1")) ||
		!bytes.Contains(got[0].Data, []byte("Original-Recipient: rfc822; "+bob)) {
		t.Errorf("success report after the pipelined transaction: %d messages", len(got))
	}
}
