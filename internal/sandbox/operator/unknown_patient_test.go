package operator_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/message"
)

// ECO.2.3.1, faithfulness (QA issue 5): mail to patient.mssante.fr leaves the operator, and Mon
// espace santé answers an unknown patient or an invalid address with its "Message non distribué"
// form, after acceptance, like a closed mailbox (the sandbox used to refuse it at RCPT as an
// unknown local user). The other recipients still get the message.
func TestSubmit_unknownPatientBounce(t *testing.T) {
	w := newWorld(t)
	ctx := ctxT(t)
	unknown := "199999999999999" + patient[strings.IndexByte(patient, '@'):]
	sc := w.smtp(w.xoauth2(alice, aliceID, time.Hour))
	msg := testMessage(alice, unknown, "patient inconnu")
	if _, err := sc.Submit(ctx, alice, []string{unknown, bob}, bytes.NewReader(msg), nil); err != nil {
		t.Fatalf("Submit: %v (want acceptance, then a bounce)", err)
	}
	ic := w.imap(w.xoauth2(alice, aliceID, time.Hour))
	m, err := message.Parse(fetch(t, ic, waitFor(t, ic, "Message non distribu")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Reports) != 1 || !m.Reports[0].Failed() || m.Reports[0].Recipient != unknown || m.Reports[0].Status != "5.1.1" {
		t.Errorf("bounce reports = %+v, want one failed 5.1.1 for %s", m.Reports, unknown)
	}
	if !strings.Contains(m.Text, "patient inconnu") || strings.Contains(m.Text, "fermée") {
		t.Errorf("bounce text = %q, want the unknown-patient reason", m.Text)
	}
	if got, err := w.op.Messages(bob, "INBOX"); err != nil || len(got) != 1 {
		t.Errorf("other recipient INBOX = %d messages, %v", len(got), err)
	}
}
