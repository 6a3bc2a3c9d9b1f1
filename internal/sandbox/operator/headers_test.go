package operator_test

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// A submitted message without Date or Message-ID gets both, as Postfix's cleanup adds them for
// an authenticated client, and keeps its own when it has them. (QA issue 5: the README's
// hand-written mail was listed with the date 0001-01-01.)
func TestSubmit_addsMissingDateAndMessageID(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	sc := w.smtp(w.xoauth2(alice, aliceID, time.Hour))
	bare := []byte("From: <" + alice + ">\r\nTo: <" + bob + ">\r\nSubject: sans date\r\n\r\nBonjour.\r\n")
	before := time.Now().Add(-time.Second)
	if _, err := sc.Submit(ctx, alice, []string{bob}, bytes.NewReader(bare), nil); err != nil {
		t.Fatal(err)
	}
	full := testMessage(alice, bob, "avec date")
	if _, err := sc.Submit(ctx, alice, []string{bob}, bytes.NewReader(full), nil); err != nil {
		t.Fatal(err)
	}
	ic := w.imap(w.xoauth2(bob, bobID, time.Hour))

	m := readMail(t, fetch(t, ic, waitFor(t, ic, "sans date")))
	d, err := m.Header.Date()
	if err != nil || d.Before(before) || d.After(time.Now().Add(time.Second)) {
		t.Errorf("Date = %q (%v), want the submission time", m.Header.Get("Date"), err)
	}
	if ids, err := m.Header.AddressList("Message-ID"); err != nil || len(ids) != 1 {
		t.Errorf("Message-ID = %q, want one <id@host>", m.Header.Get("Message-ID"))
	}
	if got := m.Header.Get("Subject"); got != "sans date" {
		t.Errorf("Subject = %q: the header was damaged", got)
	}

	raw := fetch(t, ic, waitFor(t, ic, "avec date"))
	m = readMail(t, raw)
	want := readMail(t, full)
	if m.Header.Get("Message-ID") != want.Header.Get("Message-ID") || m.Header.Get("Date") != want.Header.Get("Date") {
		t.Errorf("Date/Message-ID of a complete message changed: %q %q", m.Header.Get("Date"), m.Header.Get("Message-ID"))
	}
	if n := strings.Count(strings.ToLower(string(raw)), "\nmessage-id:"); n != 1 {
		t.Errorf("%d Message-ID fields, want 1", n)
	}
}

func readMail(t *testing.T, data []byte) *mail.Message {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
