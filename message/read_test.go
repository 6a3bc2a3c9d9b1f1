package message

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) *Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "read", name))
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, b)
}

// ECO.3.1.1, ECO.3.1.2: a mail from Mon espace santé is a patient's, with birth name, first name
// and INS; the latin-1 text and RFC 2047 words are decoded.
func TestParse_patientSender_ECO_3_1_1_ECO_3_1_2(t *testing.T) {
	m := readFixture(t, "patient-latin1.eml")
	if m.SenderKind != Patient || m.Patient == nil {
		t.Fatalf("sender kind = %v, patient %v", m.SenderKind, m.Patient)
	}
	if want := (PatientSender{BirthName: "DUPOND", FirstName: "Léo", INS: "285077505612370", KeyValid: true}); *m.Patient != want {
		t.Errorf("patient = %+v, want %+v", *m.Patient, want)
	}
	if m.Subject != "Question sur mon ordonnance à renouveler" {
		t.Errorf("subject = %q", m.Subject)
	}
	if !strings.Contains(m.Text, "Léo") || !strings.Contains(m.Text, "renouveler") {
		t.Errorf("latin-1 text not decoded: %q", m.Text)
	}
	if !m.MDNRequested {
		t.Error("MDN request not seen")
	}
	// Case does not tell the name: the referential's example order (« Léo Dupond ») is taken.
	m = readFixture(t, "patient-plain-order.eml")
	if m.Patient == nil || m.Patient.BirthName != "PETIT" || m.Patient.FirstName != "Clara" || len(m.Warnings) == 0 {
		t.Errorf("patient = %+v, warnings %v", m.Patient, m.Warnings)
	}
	pro := readFixture(t, "dsn-failed.eml")
	if pro.SenderKind != Professional || pro.Patient != nil {
		t.Errorf("professional sender read as %v %+v", pro.SenderKind, pro.Patient)
	}
}

func TestSplitPatientLabel(t *testing.T) {
	for _, tc := range []struct{ in, birth, first string }{
		{"DUPOND Léo", "DUPOND", "Léo"},
		{"Léo DUPOND", "DUPOND", "Léo"},
		{"Jean-Pierre LE GALL", "LE GALL", "Jean-Pierre"},
		{"Léo Dupond", "DUPOND", "Léo"},
		{"BÉRANGER Éloïse", "BERANGER", "Éloïse"},
	} {
		birth, first, _ := splitPatientLabel(tc.in)
		if birth != tc.birth || first != tc.first {
			t.Errorf("splitPatientLabel(%q) = %q, %q, want %q, %q", tc.in, birth, first, tc.birth, tc.first)
		}
	}
}

// ECO.2.3.1: delivery status notifications are read per recipient.
func TestParse_dsn(t *testing.T) {
	m := readFixture(t, "dsn-failed.eml")
	if len(m.Reports) != 2 {
		t.Fatalf("reports = %+v", m.Reports)
	}
	r := m.Reports[0]
	if r.Kind != "dsn" || r.Recipient != "inconnu@hopital-a.mssante.fr" || r.Action != "failed" || r.Status != "5.1.1" ||
		!strings.Contains(r.Reason, "User unknown") || !r.Failed() {
		t.Errorf("failed report = %+v", r)
	}
	if r.OriginalMessageID != "orig-0001@medecin.mssante.fr" {
		t.Errorf("original message id = %q", r.OriginalMessageID)
	}
	if r := m.Reports[1]; r.Action != "delivered" || r.Failed() {
		t.Errorf("delivered report = %+v", r)
	}
	if len(m.Attachments) != 0 {
		t.Errorf("report parts listed as attachments: %+v", m.Attachments)
	}
}

// ECO.2.3.1: a Postfix DSN (the shape Postfix 3.7 writes: per-message fields first, X-Postfix
// fields, Original-Envelope-Id when MAIL FROM gave ENVID) gives the envelope id to each
// recipient's report, for the outbox to match on (RFC 3464 §2.2.1); without ENVID it is empty.
func TestParse_dsnOriginalEnvelopeID(t *testing.T) {
	m := readFixture(t, "dsn-postfix-envid.eml")
	if len(m.Reports) != 2 {
		t.Fatalf("reports = %+v", m.Reports)
	}
	const envid = "3f9c2a7e41d0b6a8.outbox@medecin.mssante.fr"
	for _, r := range m.Reports {
		if r.Kind != "dsn" || r.OriginalEnvelopeID != envid || r.OriginalMessageID != envid {
			t.Errorf("report %+v, want envelope id and original Message-ID %s", r, envid)
		}
	}
	if r := m.Reports[0]; r.Action != "failed" || r.Status != "5.1.1" || !strings.Contains(r.Reason, "unknown user") {
		t.Errorf("failed report = %+v", r)
	}
	for _, r := range readFixture(t, "dsn-failed.eml").Reports {
		if r.OriginalEnvelopeID != "" {
			t.Errorf("envelope id %q in a DSN without Original-Envelope-Id", r.OriginalEnvelopeID)
		}
	}
}

// Mon espace santé's "Message non distribué" is a bounce with its recipient and reason.
func TestParse_mesBounce(t *testing.T) {
	m := readFixture(t, "mes-bounce.eml")
	if len(m.Reports) != 1 {
		t.Fatalf("reports = %+v", m.Reports)
	}
	r := m.Reports[0]
	if r.Kind != "bounce" || r.Recipient != "162036912304592@patient.mssante.fr" || !strings.Contains(r.Reason, "fermée") ||
		r.OriginalMessageID != "orig-0002@medecin.mssante.fr" {
		t.Errorf("bounce = %+v", r)
	}
}

// ECO.3.1.1: a notice of Mon espace santé itself ("ne-pas-repondre@patient…") comes from the
// patient domain but is no patient writing: no patient identity, no INS warning.
func TestParse_mesNoticeIsNotAPatient(t *testing.T) {
	raw := "From: Mon espace sante <ne-pas-repondre@patient.mssante.fr>\r\nTo: <a@medecin.mssante.fr>\r\n" +
		"Subject: Message non distribue\r\nAuto-Submitted: auto-replied\r\n\r\nBonjour.\r\n"
	m, err := Parse([]byte(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.SenderKind == Patient || m.Patient != nil {
		t.Errorf("sender kind %v, patient %+v; want a notice, not a patient", m.SenderKind, m.Patient)
	}
	patient, err := Parse([]byte("From: DUPOND Leo <279035121518989@patient.mssante.fr>\r\nTo: <a@medecin.mssante.fr>\r\nSubject: x\r\n\r\nx\r\n"), nil)
	if err != nil || patient.SenderKind != Patient {
		t.Errorf("a matricule address is still a patient: %v, %v", patient.SenderKind, err)
	}
}

// ECO.2.3.2: a received MDN is read (windows-1252 human part decoded).
func TestParse_mdnReceived(t *testing.T) {
	m := readFixture(t, "mdn-displayed.eml")
	if len(m.Reports) != 1 {
		t.Fatalf("reports = %+v", m.Reports)
	}
	if r := m.Reports[0]; r.Kind != "mdn" || r.Disposition != "displayed" || r.Recipient != "jean.dupont@hopital-a.mssante.fr" ||
		r.OriginalMessageID != "orig-0003@medecin.mssante.fr" {
		t.Errorf("mdn = %+v", r)
	}
	if !strings.Contains(m.Text, "affiché") {
		t.Errorf("windows-1252 text not decoded: %q", m.Text)
	}
}

// ECO.2.1.2, ECO.3.1.3: documents and their patientId come from the XDM; the subject is shown
// without its prefix; the MSSanté headers are reported.
func TestParse_xdm_ECO_2_1_2(t *testing.T) {
	c := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, CDAs: [][]byte{sample(t, "n3-cr-imagerie.xml")}}, fixedOptions())
	m := mustParse(t, c.Data)
	if len(m.Documents) != 1 {
		t.Fatalf("documents = %+v", m.Documents)
	}
	d := m.Documents[0]
	if d.PatientID != "285077505612370^^^&1.2.250.1.213.1.4.10&ISO^NH" || d.INS != "285077505612370" || d.Code != "18748-4" || d.Level != "N3" {
		t.Errorf("document = %+v", d)
	}
	if m.DisplaySubject != "CR d'imagerie médicale BERANGER ELOISE 12/07/1985" {
		t.Errorf("display subject = %q", m.DisplaySubject)
	}
	if m.Headers["X-MSS-CODECDA"] != "18748-4" || m.Headers["X-MSS-INS"] != "O" || m.Headers["X-MSS-NIL"] != "TEST-NIL-0001" {
		t.Errorf("headers = %v", m.Headers)
	}
}

// A part in an unknown charset is kept as received, with a warning: nothing is lost.
func TestParse_unknownCharsetKept(t *testing.T) {
	m := mustParse(t, []byte("From: a@b.mssante.fr\r\nSubject: x\r\nContent-Type: text/plain; charset=x-inconnu\r\n\r\nbonjour"))
	if m.Text != "bonjour" || len(m.Warnings) == 0 {
		t.Errorf("text %q, warnings %v", m.Text, m.Warnings)
	}
}

func TestParse_refusesNonMail(t *testing.T) {
	if _, err := Parse([]byte("ceci n'est pas un courriel\n"), nil); !errors.Is(err, ErrNotMail) {
		t.Errorf("error = %v, want ErrNotMail", err)
	}
}

// A delivery report whose Diagnostic-Code is 8-bit Latin-1 ("Message non distribué" written by a
// French server) gives a readable reason, not replacement characters.
func TestParse_dsnLatin1Reason(t *testing.T) {
	raw := "From: MAILER-DAEMON@mx.hopital.mssante.fr\r\nTo: a@medecin.mssante.fr\r\nSubject: non distribu\xe9\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n" +
		"--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nMessage non distribu\xe9\r\n" +
		"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.hopital.mssante.fr\r\n\r\n" +
		"Final-Recipient: rfc822; 285077505612370@patient.mssante.fr\r\nAction: failed\r\nStatus: 5.1.1\r\n" +
		"Diagnostic-Code: smtp; 550 5.1.1 Message non distribu\xe9 : bo\xeete ferm\xe9e\r\n\r\n--B--\r\n"
	m := mustParse(t, []byte(raw))
	if len(m.Reports) != 1 {
		t.Fatalf("reports = %+v", m.Reports)
	}
	if r := m.Reports[0]; r.Reason != "550 5.1.1 Message non distribué : boîte fermée" || r.Status != "5.1.1" {
		t.Errorf("report = %+v", r)
	}
}
