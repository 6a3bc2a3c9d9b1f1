package mailbox_test

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/trust"
)

// accountSender sends the outbox's messages through the account (as `mssante outbox run`).
type accountSender struct{ acct *mailbox.Account }

func (s accountSender) Open(context.Context, string) (outbox.Session, error) { return s, nil }
func (s accountSender) Close() error                                         { return nil }
func (s accountSender) Submit(ctx context.Context, _ string, rcpts []string, raw []byte, _ *outbox.DSN) (outbox.Result, error) {
	res, err := s.acct.SendEnvelope(ctx, mailbox.Envelope{Recipients: rcpts, Data: raw})
	if err != nil {
		return outbox.Result{}, err
	}
	return outbox.Result{Response: res.Response}, nil
}

func syncOnce(t *testing.T, acct *mailbox.Account, ms *mailstore.Store) {
	t.Helper()
	ctx := context.Background()
	ic, err := acct.DialIMAP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if _, err := ms.Sync(ctx, ic, acct.Address(), &mailstore.SyncOptions{Folders: []string{"INBOX"}}); err != nil {
		t.Fatal(err)
	}
}

func uidOf(t *testing.T, ms *mailstore.Store, account, subject string) uint32 {
	t.Helper()
	page, err := ms.List(context.Background(), mailstore.Query{Accounts: []string{account}, Folders: []string{"INBOX"}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range page.Messages {
		if m.DisplaySubject == subject {
			return m.UID
		}
	}
	t.Fatalf("no %q in the store: %+v", subject, page.Messages)
	return 0
}

// ECO.3.1.6, RFC 3503, issue 9 item 4: a read receipt asked by a received mail is sent once,
// when it has been displayed, as the account's setting says. End to end with the sandbox
// operator, the local store and the durable outbox on both dialects: a mail asking a receipt →
// sync → displayed under "ask" (nothing, the question) → displayed with the answer send (queued
// under the derived Message-ID, $MDNSent on the server and in the store) → displayed again
// (already) → the flag removed on the server and in the store: displayed finds the receipt in
// the outbox (not queued twice) and flags again → outbox run twice → the sender receives exactly
// one receipt. A mail asking none, a receipt itself, and "never" send nothing.
func TestDisplayed_sentOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := world(t, 0)
		ctx := context.Background()
		from, to := sbAccount(t, w, "personal", 0), sbAccount(t, w, "personal", 1)
		sender, rcpt := open(t, w, from, false, nil), open(t, w, to, false, nil)
		label := message.Address{Name: "Dr Jeanne ESSAI", Addr: from.Address}
		for _, subj := range []string{"avec accusé", "sans accusé", "jamais"} {
			if _, err := sender.Send(ctx, &mailbox.Draft{Draft: message.Draft{From: label, To: []message.Address{{Addr: to.Address}},
				Subject: subj, Text: "x", MDN: subj != "sans accusé"}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		waitSubject(t, rcpt, "jamais")
		ms := mailstore.New(db, nil)
		ob := outbox.New(db, nil)
		syncOnce(t, rcpt, ms)
		asked, none, never := uidOf(t, ms, to.Address, "avec accusé"), uidOf(t, ms, to.Address, "sans accusé"), uidOf(t, ms, to.Address, "jamais")
		queued := func() []outbox.Entry {
			es, err := ob.List(ctx, outbox.Filter{Account: to.Address})
			if err != nil {
				t.Fatal(err)
			}
			return es
		}

		res, err := rcpt.Displayed(ctx, ms, ob, "INBOX", asked, nil)
		if err != nil || res.Outcome != mailbox.OutcomeAsk || res.Policy != mailstore.MDNAsk || res.Flagged || len(queued()) != 0 {
			t.Fatalf("Displayed under ask = %+v, %v, outbox %v", res, err, queued())
		}
		res, err = rcpt.Displayed(ctx, ms, ob, "INBOX", asked, &mailbox.DisplayedOptions{Answer: mailbox.AnswerSend})
		orig, _ := ms.Get(ctx, to.Address, "INBOX", asked)
		want := mailbox.MDNMessageID(to.Address, orig.MessageID)
		if err != nil || res.Outcome != mailbox.OutcomeQueued || res.MDNMessageID != want || !res.Flagged || res.To != from.Address {
			t.Fatalf("Displayed, answer send = %+v, %v (want Message-ID %s)", res, err, want)
		}
		if q := queued(); len(q) != 1 || q[0].MessageID != want || !slices.Equal(q[0].Rcpts, []string{from.Address}) {
			t.Fatalf("outbox = %+v", q)
		}
		if m, _ := ms.Get(ctx, to.Address, "INBOX", asked); !slices.Contains(m.Flags, lps.FlagMDNSent) {
			t.Errorf("$MDNSent not in the store: %v", m.Flags)
		}
		l, _ := rcpt.List(ctx, "INBOX", nil)
		if !slices.ContainsFunc(l.Messages, func(x mailbox.Summary) bool { return x.UID == asked && slices.Contains(x.Flags, lps.FlagMDNSent) }) {
			t.Errorf("$MDNSent not on the server: %+v", l.Messages)
		}

		// Displayed twice, then an always policy: the flag guards.
		if err := ms.SetMDNPolicy(ctx, to.Address, mailstore.MDNAlways); err != nil {
			t.Fatal(err)
		}
		if res, err := rcpt.Displayed(ctx, ms, ob, "INBOX", asked, nil); err != nil || res.Outcome != mailbox.OutcomeAlready {
			t.Errorf("Displayed twice = %+v, %v", res, err)
		}
		// The flag lost (a crash before it, another client removing it): the outbox key guards.
		if err := rcpt.Flag(ctx, "INBOX", []uint32{asked}, lps.FlagsRemove, lps.FlagMDNSent); err != nil {
			t.Fatal(err)
		}
		syncOnce(t, rcpt, ms)
		if m, _ := ms.Get(ctx, to.Address, "INBOX", asked); slices.Contains(m.Flags, lps.FlagMDNSent) {
			t.Fatalf("$MDNSent still in the store after the sync: %v", m.Flags)
		}
		res, err = rcpt.Displayed(ctx, ms, ob, "INBOX", asked, nil)
		if err != nil || res.Outcome != mailbox.OutcomeAlready || res.MDNMessageID != want || !res.Flagged || len(queued()) != 1 {
			t.Errorf("Displayed without the flag = %+v, %v, outbox %v", res, err, queued())
		}

		if res, err := rcpt.Displayed(ctx, ms, ob, "INBOX", none, nil); err != nil || res.Outcome != mailbox.OutcomeNone {
			t.Errorf("Displayed of a mail asking none = %+v, %v", res, err)
		}
		if err := ms.SetMDNPolicy(ctx, to.Address, mailstore.MDNNever); err != nil {
			t.Fatal(err)
		}
		if res, err := rcpt.Displayed(ctx, ms, ob, "INBOX", never, nil); err != nil || res.Outcome != mailbox.OutcomeDeclined || !res.Flagged {
			t.Errorf("Displayed under never = %+v, %v", res, err)
		}
		if len(queued()) != 1 {
			t.Errorf("outbox after never = %+v", queued())
		}

		// outbox run twice: one receipt reaches the sender.
		for range 2 {
			st, err := ob.Run(ctx, accountSender{rcpt}, outbox.RunOptions{Once: true, Account: to.Address})
			if err != nil || st.Failed != 0 {
				t.Fatalf("Run = %+v, %v", st, err)
			}
		}
		sms := mailstore.New(db, nil)
		deadline := time.Now().Add(20 * time.Second)
		var receipts []mailstore.Message
		for {
			syncOnce(t, sender, sms)
			page, err := sms.List(ctx, mailstore.Query{Accounts: []string{from.Address}, Folders: []string{"INBOX"}, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			receipts = slices.DeleteFunc(page.Messages, func(m mailstore.Message) bool { return !strings.HasPrefix(m.DisplaySubject, "Accusé de lecture") })
			if len(receipts) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if len(receipts) != 1 || receipts[0].MessageID != want {
			t.Fatalf("receipts at the sender = %+v, want one with Message-ID %s", receipts, want)
		}
		reports, err := sms.ReportsFor(ctx, orig.MessageID)
		if err != nil || len(reports) != 1 || reports[0].Kind != "mdn" {
			t.Errorf("ReportsFor = %+v, %v", reports, err)
		}
		// The receipt is itself a report: displaying it answers nothing, whatever the policy.
		if err := sms.SetMDNPolicy(ctx, from.Address, mailstore.MDNAlways); err != nil {
			t.Fatal(err)
		}
		if res, err := sender.Displayed(ctx, sms, ob, "INBOX", receipts[0].UID, nil); err != nil || res.Outcome != mailbox.OutcomeNone {
			t.Errorf("Displayed of a receipt = %+v, %v", res, err)
		}
	}, append(mailstore.Migrations(), outbox.Migrations...)...)
}

// The derived Message-ID depends on the account and the original only.
func TestMDNMessageID(t *testing.T) {
	a := mailbox.MDNMessageID("dr.martin@test.mssante.fr", "<abc@x>")
	if a != mailbox.MDNMessageID("Dr.Martin@test.mssante.fr", "abc@x") || !strings.HasSuffix(a, "@test.mssante.fr") || len(a) != 32+len("@test.mssante.fr") {
		t.Errorf("MDNMessageID = %s", a)
	}
	if a == mailbox.MDNMessageID("dr.martin@test.mssante.fr", "abd@x") || a == mailbox.MDNMessageID("other@test.mssante.fr", "abc@x") {
		t.Error("MDNMessageID does not depend on the original or the account")
	}
}

// Against a real Dovecot: under "always", a receipt whose address is not the mail's Return-Path
// is not sent without the professional's consent (RFC 8098 §2.1): the outcome is ask, and the
// answer send queues it. ECO.3.1.6.
func TestDisplayed_returnPathDiffers(t *testing.T) {
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
	acct, err := mailbox.New(mailbox.Options{Address: box, IMAP: ep, Policy: pol,
		Credentials: mailbox.Credentials{Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return st.Token(box, time.Hour), nil })}})
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	for i, rp := range []string{"<bob@test.mssante.fr>", "<relay@elsewhere.test>"} {
		st.Deliver(box, "INBOX", []byte("Return-Path: "+rp+"\r\nFrom: Dr Bob TEST <bob@test.mssante.fr>\r\nTo: <"+box+">\r\n"+
			"Subject: rp "+strconv.Itoa(i)+"\r\nMessage-ID: <rp-"+strconv.Itoa(i)+"@test>\r\nDisposition-Notification-To: <bob@test.mssante.fr>\r\n\r\nx\r\n"))
	}
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "mail.db"), append(mailstore.Migrations(), outbox.Migrations...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, ob := mailstore.New(db, nil), outbox.New(db, nil)
	syncOnce(t, acct, ms)
	ctx := context.Background()
	if err := ms.SetMDNPolicy(ctx, box, mailstore.MDNAlways); err != nil {
		t.Fatal(err)
	}
	same, other := uidOf(t, ms, box, "rp 0"), uidOf(t, ms, box, "rp 1")
	if res, err := acct.Displayed(ctx, ms, ob, "INBOX", same, nil); err != nil || res.Outcome != mailbox.OutcomeQueued {
		t.Errorf("Return-Path = receipt address: %+v, %v", res, err)
	}
	if res, err := acct.Displayed(ctx, ms, ob, "INBOX", other, nil); err != nil || res.Outcome != mailbox.OutcomeAsk || res.Flagged {
		t.Errorf("Return-Path ≠ receipt address: %+v, %v", res, err)
	}
	if res, err := acct.Displayed(ctx, ms, ob, "INBOX", other, &mailbox.DisplayedOptions{Answer: mailbox.AnswerSend}); err != nil || res.Outcome != mailbox.OutcomeQueued {
		t.Errorf("Return-Path ≠ receipt address, answer send: %+v, %v", res, err)
	}
	if es, _ := ob.List(ctx, outbox.Filter{Account: box}); len(es) != 2 {
		t.Errorf("outbox = %+v, want 2 receipts", es)
	}
}
