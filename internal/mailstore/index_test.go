package mailstore

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC)

// ECO.3.1.3: the display subject has no XDM prefix; the documents carry the METADATA.XML patient.
func TestIndex_cdaMail_ECO_3_1_3(t *testing.T) {
	c := cdaMail(t, "n3-cr-biologie.xml", 1, t0)
	if !strings.HasPrefix(c.Subject, "XDM/1.0/DDM+") {
		t.Fatalf("composed subject %q has no XDM prefix", c.Subject)
	}
	e := index(c.Data, nil)
	if strings.Contains(e.Display, "XDM/1.0/DDM+") || e.Display == "" {
		t.Errorf("display subject %q", e.Display)
	}
	if e.Kind != SenderProfessional || e.Patient != nil {
		t.Errorf("kind %s patient %+v, want professional", e.Kind, e.Patient)
	}
	if len(e.Documents) != 1 {
		t.Fatalf("documents %+v, want 1", e.Documents)
	}
	d := e.Documents[0]
	if d.INS != bioINS || d.OID != "1.2.250.1.213.1.4.10" || !strings.HasPrefix(d.PatientID, bioINS+"^^^&1.2.250.1.213.1.4.10") {
		t.Errorf("document patient %+v", d)
	}
	if d.TypeCode == "" || d.TypeLabel == "" || d.UniqueID == "" {
		t.Errorf("document type or unique id missing: %+v", d)
	}
	if e.MessageID != c.MessageID || e.threadID() != c.MessageID {
		t.Errorf("message id %q thread %q, want %q", e.MessageID, e.threadID(), c.MessageID)
	}
	if !strings.Contains(e.Text, "compte rendu") {
		t.Errorf("search text %q lacks the body", e.Text)
	}
}

// ECO.3.1.2: a Mon espace santé sender shows birth name, first name and INS.
func TestIndex_patientSender_ECO_3_1_2(t *testing.T) {
	e := index(fixture(t, "read/patient-plain-order.eml"), nil)
	if e.Kind != SenderPatient || e.Patient == nil {
		t.Fatalf("kind %s patient %+v, want patient", e.Kind, e.Patient)
	}
	if p := e.Patient; p.BirthName != "PETIT" || p.GivenNames != "Clara" || p.INS != "291121305508744" {
		t.Errorf("patient %+v", p)
	}
	if k := e.patientKey(nil); k != "petit clara" {
		t.Errorf("patient sort key %q", k)
	}
}

func TestIndex_senderKinds(t *testing.T) {
	for _, tc := range []struct {
		file string
		want SenderKind
	}{
		{"read/mes-bounce.eml", SenderNotice},
		{"applicative-html.eml", SenderApplicative},
		{"plain.eml", SenderProfessional},
		{"read/dsn-failed.eml", SenderProfessional},
	} {
		if e := index(fixture(t, tc.file), nil); e.Kind != tc.want {
			t.Errorf("%s: kind %s, want %s", tc.file, e.Kind, tc.want)
		}
	}
}

// Reports (DSN, MDN, Mon espace santé bounce) keep the Message-ID they are about.
func TestIndex_reports(t *testing.T) {
	for _, tc := range []struct {
		file, kind, orig string
		failed           bool
	}{
		{"read/mes-bounce.eml", "bounce", "orig-0002@medecin.mssante.fr", true},
		{"read/dsn-failed.eml", "dsn", "orig-0001@medecin.mssante.fr", true},
		{"read/mdn-displayed.eml", "mdn", "", false},
	} {
		e := index(fixture(t, tc.file), nil)
		if len(e.Reports) == 0 {
			t.Errorf("%s: no report", tc.file)
			continue
		}
		r := e.Reports[0]
		if r.Kind != tc.kind || r.Failed != tc.failed || (tc.orig != "" && r.OriginalMessageID != tc.orig) || r.OriginalMessageID == "" {
			t.Errorf("%s: report %+v", tc.file, r)
		}
	}
}

// ECO.3.2.1: the thread is the root of References whatever the arrival order.
func TestIndex_thread_ECO_3_2_1(t *testing.T) {
	root := index(plainMail(drDupont, "Dr Jean DUPONT", "Avis", "a@x", t0, "1"), nil)
	reply := index(plainMail(drMartin, "Dr Marie MARTIN", "Re: Avis", "b@x", t0, "2", "a@x"), nil)
	again := index(plainMail(drDupont, "Dr Jean DUPONT", "Re: Re: Avis", "c@x", t0, "3", "a@x", "b@x"), nil)
	for _, e := range []*entry{root, reply, again} {
		if e.threadID() != "a@x" {
			t.Errorf("%s: thread %q, want a@x", e.MessageID, e.threadID())
		}
	}
}

func TestIndex_notMail(t *testing.T) {
	e := index([]byte{}, nil)
	if e == nil || e.Kind != SenderProfessional {
		t.Fatalf("index of nothing: %+v", e)
	}
}
