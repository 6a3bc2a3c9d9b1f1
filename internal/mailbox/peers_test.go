package mailbox_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/trust"
)

// The same account operations against a real Dovecot (XOAUTH2 validated by Dovecot's oauth2
// passdb): list with the message rules (a patient sender, the XDM prefix hidden, a message
// without Date at its arrival date), read, fetch, watch; an expired token says so.
// ECO.1.0.2, ECO.1.2.1, ECO.3.1.1–3.1.3.
func TestAccount_dovecot(t *testing.T) {
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, NoPostfix: true})
	const box = "alice@test.mssante.fr"
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert}, CRLRefresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := lps.ParseEndpoint(st.IMAP)
	if err != nil {
		t.Fatal(err)
	}
	token := st.Token(box, time.Hour)
	acct, err := mailbox.New(mailbox.Options{Address: box, IMAP: ep, Policy: pol,
		Credentials: mailbox.Credentials{Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return token, nil })}})
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	ctx := context.Background()

	events := make(chan mailbox.WatchEvent, 10)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = acct.Watch(wctx, "INBOX", &mailbox.WatchOptions{OnEvent: func(ev mailbox.WatchEvent) { events <- ev }})
	}()
	waitEvent := func(kind string) mailbox.WatchEvent {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if ev.Kind == kind {
					return ev
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("no %s event", kind)
			}
		}
	}
	waitEvent("watching")
	st.Deliver(box, "INBOX", []byte("From: Léo DUPOND <279035121518989@patient.mssante.fr>\r\nTo: <"+box+">\r\n"+
		"Subject: XDM/1.0/DDM+question\r\nMessage-ID: <dovecot-1@test>\r\n\r\nBonjour.\r\n"))
	ev := waitEvent("mail")
	s := ev.Mail
	if s == nil || s.DisplaySubject != "question" || s.SenderKind != message.Patient || s.Patient == nil ||
		s.Patient.BirthName != "DUPOND" || !s.DateFromArrival || s.Date.Year() < 2000 {
		t.Errorf("watched summary = %+v", s)
	}
	stop()

	l, err := acct.List(ctx, "INBOX", &mailbox.ListOptions{Limit: 1})
	if err != nil || len(l.Messages) != 1 || l.Messages[0].UID != s.UID || l.Truncated {
		t.Fatalf("List = %+v, %v", l, err)
	}
	m, err := acct.Read(ctx, "INBOX", s.UID)
	if err != nil || m.SenderKind != message.Patient || !strings.Contains(m.Text, "Bonjour.") {
		t.Errorf("Read = %+v, %v", m, err)
	}
	var raw bytes.Buffer
	if _, err := acct.Fetch(ctx, "INBOX", s.UID, &raw); err != nil || !bytes.Contains(raw.Bytes(), []byte("dovecot-1@test")) {
		t.Errorf("Fetch: %v", err)
	}

	expired := st.Token(box, -time.Minute)
	old, err := mailbox.New(mailbox.Options{Address: box, IMAP: ep, Policy: pol,
		Credentials: mailbox.Credentials{Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return expired, nil })}})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	_, err = old.List(ctx, "INBOX", nil)
	var af *mailbox.AuthFailure
	if !errors.As(err, &af) || af.Cause != mailbox.CauseTokenExpired || !errors.Is(err, lps.ErrAuth) {
		t.Errorf("expired token against Dovecot: %v", err)
	}
}

// Several composed mails over one submission session to a real Postfix (PIPELINING and DSN
// offered): one connection, the DSN parameters sent for the mail composed with DSN only, the Bcc
// recipient served without the Bcc field. ECO.1.0.1, ECO.2.3.1.
func TestAccount_postfixOneSession(t *testing.T) {
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki})
	const alice, bob, carol = "alice@test.mssante.fr", "bob@test.mssante.fr", "carol@test.mssante.fr"
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert}, CRLRefresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	smtpEP, _ := lps.ParseEndpoint(st.Submission)
	imapEP, _ := lps.ParseEndpoint(st.IMAP)
	account := func(addr string, rec lps.Recorder) *mailbox.Account {
		tok := st.Token(addr, time.Hour)
		a, err := mailbox.New(mailbox.Options{Address: addr, SMTP: smtpEP, IMAP: imapEP, Policy: pol, Recorder: rec,
			Credentials: mailbox.Credentials{Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return tok, nil })}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		return a
	}
	rec := &recorded{}
	sender := account(alice, rec)
	ctx := context.Background()
	for i, dsn := range []bool{true, false} {
		c, err := message.Compose(&message.Draft{From: message.Address{Name: "Dr Alice TEST", Addr: alice},
			To: []message.Address{{Addr: bob}}, Subject: "postfix " + string(rune('A'+i)), Text: "x", DSN: dsn}, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw := bytes.Replace(c.Data, []byte("\r\nSubject:"), []byte("\r\nBcc: <"+carol+">\r\nSubject:"), 1)
		res, err := sender.SendRaw(ctx, raw, nil)
		if err != nil {
			t.Fatalf("SendRaw %d: %v\n%s", i, err, st.Logs())
		}
		if res.DSNRequested != dsn || len(res.Recipients) != 2 {
			t.Errorf("SendRaw %d = %+v", i, res)
		}
	}
	if n := rec.count(lps.ActionConnect, ""); n != 1 {
		t.Errorf("%d SMTP connections for 2 mails, want 1", n)
	}
	for _, box := range []string{bob, carol} {
		s := waitSubject(t, account(box, nil), "postfix B")
		var raw bytes.Buffer
		if _, err := account(box, nil).Fetch(ctx, "INBOX", s.UID, &raw); err != nil || bytes.Contains(bytes.ToLower(raw.Bytes()), []byte("\nbcc:")) {
			t.Errorf("%s: %v, Bcc field delivered", box, err)
		}
	}
}
