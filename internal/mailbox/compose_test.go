package mailbox_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/message"
)

// Compose is Send without the submission (the web's outbox path): the patient rule resolves
// ToPatients and refuses an opposed patient, in To or in Bcc; the envelope carries the Bcc
// recipients, which the mail does not, and the DSN the draft asks for; nothing is sent. ECO.2.2.6,
// ECO.3.1.5, ECO.2.3.1.
func TestAccount_compose(t *testing.T) {
	w := world(t, 0)
	ctx := context.Background()
	st, known := knownPatients(t, w)
	from := sbAccount(t, w, "personal", 0)
	bcc := sbAccount(t, w, "personal", 1)
	rec := &recorded{}
	sender := open(t, w, from, false, func(o *mailbox.Options) { o.Patients = st; o.Recorder = rec })
	label := message.Address{Name: "Dr Jeanne ESSAI", Addr: from.Address}
	opposed, ok := known[0], known[1]
	want, _ := ok.Identity.PatientAddress(w.Config.PatientDomain)

	c, env, err := sender.Compose(ctx, &mailbox.Draft{Draft: message.Draft{From: label, Subject: "Résultats", Text: "x", DSN: true},
		ToPatients: []int64{ok.ID}, Bcc: []message.Address{{Addr: bcc.Address}, {Addr: strings.ToUpper(want)}}})
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	if !slices.Equal(env.Recipients, []string{want, bcc.Address}) {
		t.Errorf("envelope recipients = %v, want [%s %s] (patient once, then the Bcc)", env.Recipients, want, bcc.Address)
	}
	if env.DSN == nil {
		t.Error("the draft asks for a DSN; the envelope carries none")
	}
	if bytes.Contains(env.Data, []byte(bcc.Address)) || bytes.Contains(c.Data, []byte(bcc.Address)) {
		t.Error("the Bcc recipient is written in the mail")
	}
	if !bytes.Contains(env.Data, []byte("To: <"+want+">")) && !bytes.Contains(env.Data, []byte(want)) {
		t.Errorf("the patient address %s is not in the mail", want)
	}
	if len(rec.evs) != 0 {
		t.Errorf("Compose talked to the operator: %+v", rec.evs)
	}

	// The stored mail reads back through ParseStored, the reader of the delivery rooms.
	p, err := mailbox.ParseStored(ctx, env.Data, mailbox.ParseOptions{PatientDomain: w.Config.PatientDomain})
	if err != nil || p.Subject != "Résultats" || p.Package != nil || p.Parent().MessageID != c.MessageID {
		t.Errorf("ParseStored = %+v, %v", p, err)
	}
	if got := mailbox.SafeFileName(`a/b:c?.pdf`); got != "a_b_c_.pdf" {
		t.Errorf("SafeFileName = %q", got)
	}

	oppAddr := opposed.Identity.INS.Matricule.String() + "@" + w.Config.PatientDomain
	for name, d := range map[string]*mailbox.Draft{
		"by id": {Draft: message.Draft{From: label, Subject: "s", Text: "x", Derogation: true}, ToPatients: []int64{opposed.ID}},
		"bcc": {Draft: message.Draft{From: label, Subject: "s", Text: "x", To: []message.Address{{Addr: bcc.Address}}},
			Bcc: []message.Address{{Addr: oppAddr}}},
	} {
		_, _, err := sender.Compose(ctx, d)
		var re *mailbox.RecipientError
		if !errors.As(err, &re) || !errors.Is(err, patients.ErrOpposition) {
			t.Errorf("%s: opposed patient: %v", name, err)
		}
	}
	// A patient the software does not know has no derogation in Bcc.
	unknown := "180017512345759@" + w.Config.PatientDomain
	_, _, err = sender.Compose(ctx, &mailbox.Draft{Draft: message.Draft{From: label, Subject: "s", Text: "x",
		To: []message.Address{{Addr: bcc.Address}}, Derogation: true}, Bcc: []message.Address{{Addr: unknown}}})
	if !errors.Is(err, message.ErrPatientAddress) || !strings.Contains(err.Error(), "copie cachée") {
		t.Errorf("unknown patient in Bcc: %v", err)
	}
}

// ParseStored reads a stored mail with its IHE XDM archive (the documents a forward packages
// again) and the patient it concerns; no known patient is an empty match, not an error. ECO.3.1.2.
func TestParseStored_documents(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "message", "testdata", "patient-cda.eml"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := patients.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "patients.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	p, err := mailbox.ParseStored(context.Background(), raw, mailbox.ParseOptions{Patients: st})
	if err != nil {
		t.Fatalf("ParseStored: %v", err)
	}
	if p.Package == nil || p.PackageErr != nil || p.PatientINS == "" || len(p.Patients) != 0 {
		t.Fatalf("ParseStored = package %v (%v), patient %q %v", p.Package, p.PackageErr, p.PatientINS, p.Patients)
	}
	cdas, err := p.CDAs()
	if err != nil || len(cdas) == 0 || !bytes.Contains(cdas[0], []byte("ClinicalDocument")) {
		t.Errorf("CDAs = %d documents, %v", len(cdas), err)
	}
	if _, err := mailbox.ParseStored(context.Background(), []byte{0, 1, 2}, mailbox.ParseOptions{}); err == nil {
		t.Error("binary data parsed as a mail")
	}
}
