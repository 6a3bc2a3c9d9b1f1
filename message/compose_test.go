package message

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/mssante/mssante/ins"
)

const (
	bioINS     = "162036912304592" // patient of cda/testdata/n3-cr-biologie.xml
	bioPatient = bioINS + "@patient.mssante.fr"
)

// bioVariant returns n3-cr-biologie.xml with another document code and id: same patient.
func bioVariant(t testing.TB, code, display, id string) []byte {
	b := sample(t, "n3-cr-biologie.xml")
	b = bytes.Replace(b, []byte(`code="11502-2" displayName="CR d'examens biologiques"`), []byte(`code="`+code+`" displayName="`+display+`"`), 1)
	return bytes.Replace(b, []byte("CRBIO-2025-0310"), []byte(id), 1)
}

func threeDocs(t testing.TB) [][]byte {
	return [][]byte{sample(t, "n3-cr-biologie.xml"), bioVariant(t, "PRESC-BIO", "Prescription d'examens de biologie", "P-1"),
		bioVariant(t, "15508-5", "Rapport d'accouchement", "A-1")}
}

// ECO.2.2.1, ECO.2.4.3: every new mail has a Message-ID and X-MSS-NIL.
func TestCompose_messageIDAndNIL_ECO_2_2_1_ECO_2_4_3(t *testing.T) {
	c := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Subject: "Bonjour", Text: "Texte"}, fixedOptions())
	id, ok := headerValue(c.Data, "Message-ID")
	if !ok || id != "<"+c.MessageID+">" || !strings.HasSuffix(c.MessageID, "@medecin.mssante.fr") {
		t.Errorf("Message-ID = %q (%v), Composed.MessageID %q", id, ok, c.MessageID)
	}
	if v, _ := headerValue(c.Data, "X-MSS-NIL"); v != "TEST-NIL-0001" {
		t.Errorf("X-MSS-NIL = %q, want TEST-NIL-0001", v)
	}
	c2 := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Text: "x"}, nil)
	if v, _ := headerValue(c2.Data, "X-MSS-NIL"); v != DefaultNIL {
		t.Errorf("default X-MSS-NIL = %q, want %q", v, DefaultNIL)
	}
	if c.MessageID == c2.MessageID {
		t.Error("two mails share a Message-ID")
	}
}

// ECO.2.2.2: a reply carries In-Reply-To and References.
func TestCompose_reply_ECO_2_2_2(t *testing.T) {
	parent := &Parent{MessageID: "p2@hopital-a.mssante.fr", References: []string{"p1@medecin.mssante.fr"}, Subject: "XDM/1.0/DDM+CR d'examens biologiques CHATEAU JEROME"}
	c := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Text: "Merci", Parent: parent}, fixedOptions())
	m := mustParse(t, c.Data)
	if m.MessageID == "" || strings.Join(m.InReplyTo, ",") != "p2@hopital-a.mssante.fr" ||
		strings.Join(m.References, ",") != "p1@medecin.mssante.fr,p2@hopital-a.mssante.fr" {
		t.Errorf("reply ids: Message-ID %q, In-Reply-To %v, References %v", m.MessageID, m.InReplyTo, m.References)
	}
	if m.Subject != "Re: CR d'examens biologiques CHATEAU JEROME" {
		t.Errorf("reply subject = %q", m.Subject)
	}
}

// ECO.2.2.2: a reply to a reply chains the References (RFC 5322 §3.6.4).
func TestParentOf_ECO_2_2_2(t *testing.T) {
	first := mustParse(t, mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Subject: "Patient", Text: "x"}, fixedOptions()).Data)
	second := mustParse(t, mustCompose(t, &Draft{From: drDupont, To: []Address{drMartin}, Text: "y", Parent: ParentOf(first)}, fixedOptions()).Data)
	third := mustParse(t, mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Text: "z", Parent: ParentOf(second)}, fixedOptions()).Data)
	if want := []string{first.MessageID, second.MessageID}; strings.Join(third.References, " ") != strings.Join(want, " ") {
		t.Errorf("References = %v, want %v", third.References, want)
	}
	if third.Subject != "Re: Patient" {
		t.Errorf("subject = %q", third.Subject)
	}
	noRefs := &Message{MessageID: "c@x", InReplyTo: []string{"b@x"}}
	if p := ParentOf(noRefs); strings.Join(p.References, ",") != "b@x" {
		t.Errorf("ParentOf without References = %+v", p)
	}
}

// ECO.2.2.3, ECO.2.2.4: UTF-8 text; text/plain alone, or multipart/alternative plain then HTML.
func TestCompose_body_ECO_2_2_3_ECO_2_2_4(t *testing.T) {
	text, html := "Cœur : ça va, élève.\n", "<p>Cœur : ça va, élève.</p>"
	plain := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Text: text}, fixedOptions())
	if ct, _ := headerValue(plain.Data, "Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("plain Content-Type = %q", ct)
	}
	alt := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Text: text, HTML: html}, fixedOptions())
	e, err := gomessage.Read(bytes.NewReader(alt.Data))
	if err != nil {
		t.Fatal(err)
	}
	if ct, _, _ := e.Header.ContentType(); ct != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, want multipart/alternative", ct)
	}
	var types []string
	mr := e.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		ct, params, _ := p.Header.ContentType()
		types = append(types, ct+";"+params["charset"])
	}
	if strings.Join(types, ",") != "text/plain;utf-8,text/html;utf-8" {
		t.Errorf("alternative parts = %v, want text/plain then text/html, UTF-8", types)
	}
	m := mustParse(t, alt.Data)
	if m.Text != text || m.HTML != html {
		t.Errorf("read back text %q html %q", m.Text, m.HTML)
	}
	if _, err := Compose(&Draft{From: drMartin, To: []Address{drDupont}, HTML: html}, nil); !errors.Is(err, ErrHTMLWithoutText) {
		t.Errorf("HTML alone: error = %v, want ErrHTMLWithoutText", err)
	}
}

// ECO.2.2.5: applicative mailbox: closing notice naming the contact mailbox, and Reply-To.
func TestCompose_applicative_ECO_2_2_5(t *testing.T) {
	contact := Address{Name: "Secrétariat biologie", Addr: "secretariat.bio@hopital-c.mssante.fr"}
	app := Address{Name: "Hôpital C – Biologie", Addr: "resultats.bio@hopital-c.mssante.fr"}
	c := mustCompose(t, &Draft{From: app, To: []Address{drDupont}, Text: "Résultats joints.", HTML: "<p>Résultats joints.</p>", AppContact: &contact}, fixedOptions())
	m := mustParse(t, c.Data)
	if len(m.ReplyTo) != 1 || m.ReplyTo[0].Addr != contact.Addr {
		t.Errorf("Reply-To = %v, want %s", m.ReplyTo, contact.Addr)
	}
	for _, body := range []string{m.Text, m.HTML} {
		if !strings.Contains(body, "généré automatiquement") || !strings.Contains(body, contact.Addr) {
			t.Errorf("body lacks the closing notice: %q", body)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(m.Text), contact.Addr+".") {
		t.Errorf("the notice does not end the text: %q", m.Text)
	}
}

// ECO.2.2.6: patient addresses from qualified INS only; the derogation checks the key.
func TestCompose_patientRecipient_ECO_2_2_6(t *testing.T) {
	bio := sample(t, "n3-cr-biologie.xml")
	c := mustCompose(t, &Draft{From: drMartin, To: []Address{{Addr: bioPatient}}, CDAs: [][]byte{bio}}, fixedOptions())
	if c.Headers[HeaderINS] != "O" || len(c.Derogations) != 0 {
		t.Errorf("qualified patient: headers %v derogations %v", c.Headers, c.Derogations)
	}
	other := Address{Addr: "285077505612370@patient.mssante.fr"}
	if _, err := Compose(&Draft{From: drMartin, To: []Address{other}, CDAs: [][]byte{bio}}, fixedOptions()); !errors.Is(err, ErrPatientMismatch) {
		t.Errorf("other patient: error = %v, want ErrPatientMismatch", err)
	}
	sansINS := sample(t, "n3-sans-ins.xml")
	if _, err := Compose(&Draft{From: drMartin, To: []Address{other}, CDAs: [][]byte{sansINS}}, fixedOptions()); !errors.Is(err, ErrPatientNotQualified) {
		t.Errorf("unqualified: error = %v, want ErrPatientNotQualified", err)
	}
	c = mustCompose(t, &Draft{From: drMartin, To: []Address{other}, CDAs: [][]byte{sansINS}, Derogation: true}, fixedOptions())
	if len(c.Derogations) != 1 || c.Derogations[0].Decoded.Sex != ins.SexFemale || c.Derogations[0].BirthYear != 1985 || len(c.Warnings) == 0 {
		t.Errorf("derogation: %+v, warnings %v", c.Derogations, c.Warnings)
	}
	wrongKey := Address{Addr: "285077505612300@patient.mssante.fr"}
	if _, err := Compose(&Draft{From: drMartin, To: []Address{wrongKey}, Text: "x", Derogation: true}, fixedOptions()); !errors.Is(err, ErrPatientAddress) || !errors.Is(err, ins.ErrKey) {
		t.Errorf("wrong key under derogation: error = %v, want ErrPatientAddress and ins.ErrKey", err)
	}
	// Without documents: a known qualified identity, else the derogation.
	if _, err := Compose(&Draft{From: drMartin, To: []Address{other}, Text: "x"}, fixedOptions()); !errors.Is(err, ErrPatientNotQualified) {
		t.Errorf("no document, unknown patient: error = %v, want ErrPatientNotQualified", err)
	}
	m, _ := ins.Parse("285077505612370")
	known := ins.Identity{INS: ins.INS{Matricule: m, OID: ins.OIDTest}, BirthName: "BERANGER", FirstName: "ELOISE",
		BirthDate: mustDate(t, "1985-07-12"), Sex: ins.SexFemale}
	mustCompose(t, &Draft{From: drMartin, To: []Address{other}, Text: "x", Patients: []ins.Identity{known}}, fixedOptions())
}

// ECO.2.2.8: X-MSS-MES: FIN on request, only to a patient.
func TestCompose_mesFin_ECO_2_2_8(t *testing.T) {
	c := mustCompose(t, &Draft{From: drMartin, To: []Address{{Addr: bioPatient}}, CDAs: [][]byte{sample(t, "n3-cr-biologie.xml")}, MESFin: true}, fixedOptions())
	if v, _ := headerValue(c.Data, "X-MSS-MES"); v != "FIN" {
		t.Errorf("X-MSS-MES = %q, want FIN", v)
	}
	c = mustCompose(t, &Draft{From: drMartin, To: []Address{{Addr: bioPatient}}, CDAs: [][]byte{sample(t, "n3-cr-biologie.xml")}}, fixedOptions())
	if _, ok := headerValue(c.Data, "X-MSS-MES"); ok {
		t.Error("X-MSS-MES set without request")
	}
	if _, err := Compose(&Draft{From: drMartin, To: []Address{drDupont}, Text: "x", MESFin: true}, nil); !errors.Is(err, ErrMESFinWithoutPatient) {
		t.Errorf("MES FIN to a professional: error = %v, want ErrMESFinWithoutPatient", err)
	}
}

// ECO.2.3.1, ECO.2.3.2: DSN and MDN requests on demand only.
func TestCompose_receipts_ECO_2_3_1_ECO_2_3_2(t *testing.T) {
	c := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Text: "x", DSN: true, MDN: true}, fixedOptions())
	if v, _ := headerValue(c.Data, "Return-Receipt-To"); v != "<marie.martin@medecin.mssante.fr>" {
		t.Errorf("Return-Receipt-To = %q", v)
	}
	if v, _ := headerValue(c.Data, "Disposition-Notification-To"); v != `"Dr Marie MARTIN" <marie.martin@medecin.mssante.fr>` {
		t.Errorf("Disposition-Notification-To = %q", v)
	}
	m := mustParse(t, c.Data)
	if !m.DSNRequested || !m.MDNRequested {
		t.Errorf("read back: dsn %v mdn %v", m.DSNRequested, m.MDNRequested)
	}
	c = mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Text: "x"}, fixedOptions())
	for _, k := range []string{"Return-Receipt-To", "Disposition-Notification-To"} {
		if _, ok := headerValue(c.Data, k); ok {
			t.Errorf("%s set without request", k)
		}
	}
}

// ECO.2.4.1, ECO.2.4.2: X-MSS-CODECDA and X-MSS-INS from the attached XDM; absent without.
func TestCompose_xdmHeaders_ECO_2_4_1_ECO_2_4_2(t *testing.T) {
	c := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, CDAs: threeDocs(t)}, fixedOptions())
	if v, _ := headerValue(c.Data, "X-MSS-CODECDA"); v != "11502-2, PRESC-BIO, 15508-5" {
		t.Errorf("X-MSS-CODECDA = %q", v)
	}
	if v, _ := headerValue(c.Data, "X-MSS-INS"); v != "O" {
		t.Errorf("X-MSS-INS = %q, want O", v)
	}
	if c.Subject != "XDM/1.0/DDM+3 documents CHATEAU JEROME 15/03/1962" {
		t.Errorf("subject = %q", c.Subject)
	}
	c = mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, CDAs: [][]byte{sample(t, "n3-sans-ins.xml")}}, fixedOptions())
	if v, _ := headerValue(c.Data, "X-MSS-INS"); v != "N" {
		t.Errorf("X-MSS-INS without INS = %q, want N", v)
	}
	c = mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Text: "x"}, fixedOptions())
	for _, k := range []string{"X-MSS-CODECDA", "X-MSS-INS"} {
		if _, ok := headerValue(c.Data, k); ok {
			t.Errorf("%s set on a mail without XDM", k)
		}
	}
}

// ECO.2.1.1: XDM and one PDF per document, one patient only.
func TestCompose_attachments_ECO_2_1_1(t *testing.T) {
	c := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Text: "ci-joint", CDAs: threeDocs(t), RecordNumber: "D42"}, fixedOptions())
	m := mustParse(t, c.Data)
	if len(m.Documents) != 3 || len(m.PDFs) != 3 || m.XDM == nil {
		t.Fatalf("documents %d, pdfs %v, xdm %v", len(m.Documents), m.PDFs, m.XDM != nil)
	}
	if m.Attachments[0].Name != XDMFileName || m.Attachments[0].ContentType != "application/zip" {
		t.Errorf("first attachment = %+v", m.Attachments[0])
	}
	if m.PDFs[0] != "20250310_CR d'examens biologiques_CHATEAU_Jerome_D42.pdf" {
		t.Errorf("pdf name = %q", m.PDFs[0])
	}
	other := bytes.Replace(sample(t, "n3-cr-biologie.xml"), []byte(bioINS), []byte("285077505612370"), -1)
	_, err := Compose(&Draft{From: drMartin, To: []Address{drDupont}, CDAs: [][]byte{sample(t, "n3-cr-biologie.xml"), other}}, nil)
	if !errors.Is(err, ErrSeveralPatients) {
		t.Errorf("two patients: error = %v, want ErrSeveralPatients", err)
	}
}

// ECO.2.1.3: with documents the subject is generated; a different subject is replaced with a warning.
func TestCompose_subjectWithDocuments_ECO_2_1_3(t *testing.T) {
	c := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Subject: "Mon objet", CDAs: [][]byte{sample(t, "n3-lettre-liaison.xml")}}, fixedOptions())
	if c.Subject != "XDM/1.0/DDM+Lettre de liaison à la sortie d'un établ LEFEVRE FRANCOISE 03/12/1991" || len(c.Warnings) == 0 {
		t.Errorf("subject %q, warnings %v", c.Subject, c.Warnings)
	}
	c = mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Subject: "XDM/1.0/DDM+faux", Text: "x"}, fixedOptions())
	if c.Subject != "faux" {
		t.Errorf("subject without XDM = %q, want the prefix removed", c.Subject)
	}
}

// Mon espace santé refuses mails over 25 MB: refused before sending.
func TestCompose_tooLargeForPatient(t *testing.T) {
	opts := fixedOptions()
	opts.MaxPatientSize = 10000
	d := &Draft{From: drMartin, To: []Address{{Addr: bioPatient}}, CDAs: [][]byte{sample(t, "n3-cr-biologie.xml")}}
	if _, err := Compose(d, opts); !errors.Is(err, ErrTooLargeForPatient) {
		t.Errorf("error = %v, want ErrTooLargeForPatient", err)
	}
	d.To = []Address{drDupont}
	mustCompose(t, d, opts) // no limit between professionals

	// The real limit: 25 Mo of text to a patient (derogation path, no document).
	big := strings.Repeat(strings.Repeat("a", 99)+"\n", MaxPatientMailSize/100+1)
	_, err := Compose(&Draft{From: drMartin, To: []Address{{Addr: bioPatient}}, Text: big, Derogation: true}, nil)
	if !errors.Is(err, ErrTooLargeForPatient) {
		t.Errorf("25 Mo to a patient: error = %v, want ErrTooLargeForPatient", err)
	}
}

func TestCompose_refusesBadInput(t *testing.T) {
	for name, d := range map[string]*Draft{
		"no recipient":  {From: drMartin, Text: "x"},
		"no label":      {From: Address{Addr: "a@b.mssante.fr"}, To: []Address{drDupont}},
		"bad address":   {From: drMartin, To: []Address{{Addr: "pas une adresse"}}},
		"header inject": {From: drMartin, To: []Address{{Addr: "a@b.fr>\r\nBcc: x@y.fr"}}},
	} {
		if _, err := Compose(d, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// CR and LF in a label or a subject never start a new header field.
func TestCompose_noHeaderInjection(t *testing.T) {
	d := &Draft{From: Address{Name: "Dr X\r\nBcc: espion@exemple.fr", Addr: drMartin.Addr}, To: []Address{drDupont},
		Subject: "Objet\r\nBcc: espion@exemple.fr", Text: "x"}
	c := mustCompose(t, d, nil)
	if _, ok := headerValue(c.Data, "Bcc"); ok {
		t.Errorf("header injected:\n%s", headerBlock(c.Data))
	}
}

// Golden files: byte-exact output with injected Now and Rand.
func TestCompose_golden(t *testing.T) {
	contact := Address{Addr: "secretariat@hopital-c.mssante.fr"}
	for name, d := range map[string]*Draft{
		"plain.eml": {From: drMartin, To: []Address{drDupont}, Cc: []Address{{Name: "Secrétariat", Addr: "secretariat@hopital-a.mssante.fr"}},
			Subject: "Votre patiente", Text: "Bonjour,\nje vous adresse ma patiente.\n", DSN: true, MDN: true},
		"applicative-html.eml": {From: Address{Name: "Hôpital C – Biologie", Addr: "resultats@hopital-c.mssante.fr"}, To: []Address{drMartin},
			Subject: "Résultats", Text: "Résultats disponibles.\n", HTML: "<html><body><p>Résultats disponibles.</p></body></html>", AppContact: &contact},
		// N1: the PDF is the embedded one, so the golden file depends on xdm's output only.
		"patient-cda.eml": {From: drMartin, To: []Address{{Addr: "178059935011292@patient.mssante.fr"}}, Text: "Votre compte rendu.\n",
			CDAs: [][]byte{sample(t, "n1-note-consultation-pdf.xml")}, MESFin: true, MDN: true},
	} {
		c := mustCompose(t, d, fixedOptions())
		golden(t, name, c.Data)
	}
}

// Folding never makes a whitespace-only line (RFC 5322 §3.2.2).
func TestFold_noBlankContinuation(t *testing.T) {
	v := strings.Repeat("x", 70) + "      y"
	for _, l := range strings.Split(strings.TrimSuffix(fold("Subject", v), "\r\n"), "\r\n") {
		if strings.TrimSpace(l) == "" {
			t.Errorf("blank line in %q", fold("Subject", v))
		}
	}
}

// ECO.2.1.3: the XDM prefix stays readable in the raw header; the subject decodes back exactly.
func TestEncodeText(t *testing.T) {
	for _, s := range []string{
		"XDM/1.0/DDM+Lettre de liaison à la sortie d'un établ LEFEVRE FRANCOISE 03/12/1991",
		"Résultats élevés  double espace",
		"=?utf-8?q?faux?= mot",
		"ligne\r\nBcc: x",
		"",
	} {
		enc := encodeText(s)
		if strings.ContainsAny(enc, "\r\n") || strings.ContainsFunc(enc, func(r rune) bool { return r > 0x7e }) {
			t.Errorf("encodeText(%q) = %q: not ASCII on one line", s, enc)
		}
		if s == "" || strings.HasPrefix(s, "XDM") {
			if !strings.HasPrefix(enc, strings.SplitN(s, " ", 2)[0]) {
				t.Errorf("encodeText(%q) = %q: first word not raw", s, enc)
			}
		}
		h := header([]field{{"Subject", enc}})
		mh := mail.Header{Header: h}
		if got, err := mh.Subject(); err != nil || got != s {
			t.Errorf("round trip of %q = %q, %v (encoded %q)", s, got, err, enc)
		}
	}
}

// ECO.2.4.1: a CDA without type code would give an empty X-MSS-CODECDA: Compose refuses it.
func TestCompose_refusesDocumentWithoutCode_ECO_2_4_1(t *testing.T) {
	b := bytes.Replace(sample(t, "n3-cr-biologie.xml"), []byte(`code="11502-2" displayName="CR d'examens biologiques"`),
		[]byte(`nullFlavor="UNK"`), 1)
	if bytes.Equal(b, sample(t, "n3-cr-biologie.xml")) {
		t.Fatal("sample code not found")
	}
	_, err := Compose(&Draft{From: drMartin, To: []Address{drDupont}, CDAs: [][]byte{b}}, fixedOptions())
	if !errors.Is(err, ErrNoTypeCode) || !errors.Is(err, ErrCDA) {
		t.Errorf("error = %v, want ErrNoTypeCode", err)
	}
}

// ECO.2.2.3: a body or subject given in ISO-8859-1 / Windows-1252 (not valid UTF-8) is converted:
// the text parts of the mail are always valid UTF-8, and the caller is told.
func TestCompose_latin1BodyBecomesUTF8_ECO_2_2_3(t *testing.T) {
	d := &Draft{From: drMartin, To: []Address{drDupont}, Subject: "R\xe9sultats", Text: "C\x9cur : \xe7a va, \xe9l\xe8ve.\n",
		HTML: "<p>C\x9cur : \xe7a va, \xe9l\xe8ve.</p>"}
	c := mustCompose(t, d, fixedOptions())
	if d.Text != "C\x9cur : \xe7a va, \xe9l\xe8ve.\n" {
		t.Error("Compose changed the caller's draft")
	}
	m := mustParse(t, c.Data)
	if m.Text != "Cœur : ça va, élève.\n" || m.HTML != "<p>Cœur : ça va, élève.</p>" || m.Subject != "Résultats" {
		t.Errorf("read back subject %q text %q html %q", m.Subject, m.Text, m.HTML)
	}
	if len(c.Warnings) != 3 {
		t.Errorf("warnings = %q, want one per converted field (3)", c.Warnings)
	}
}
