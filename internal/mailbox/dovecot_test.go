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
