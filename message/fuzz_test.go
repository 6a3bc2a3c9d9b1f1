package message

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary mails to Parse: it must not panic, must return a message or an error
// (never both nil), and what it returns must be encodable as the CLI prints it.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata", filepath.Join("testdata", "read")} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("Subject: =?utf-8?q?XDM/1.0/DDM+?=\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: application/zip; name=IHE_XDM.zip\r\n\r\nPK\x03\x04\r\n--x--\r\n"))
	f.Add([]byte("From: =?x-unknown?q?abc?= <1@patient.mssante.fr>\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, nil)
		if m == nil && err == nil {
			t.Fatal("Parse returned neither a message nor an error")
		}
		if m == nil {
			return
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("message not encodable: %v", err)
		}
		if m.Patient != nil && m.SenderKind != Patient {
			t.Fatal("patient identity on a professional's mail")
		}
		if DisplaySubject(m.Subject) != m.DisplaySubject {
			t.Fatal("display subject inconsistent")
		}
		sameIndex(t, m, data)
	})
}

// sameIndex: parsing without the attachments' data (the index's mode) reads the same text,
// sender, documents, reports and attachment list as a full parse; only the data and sizes of
// the attachments other than the XDM archive are left out.
func sameIndex(t *testing.T, full *Message, data []byte) {
	t.Helper()
	m, err := Parse(data, &ReadOptions{SkipAttachmentData: true})
	if err != nil {
		t.Fatalf("index parse failed where the full parse did not: %v", err)
	}
	type view struct {
		Text, HTML, Subject, MessageID string
		Kind                           SenderKind
		Patient                        *PatientSender
		Documents                      []ReceivedDocument
		Reports                        []Report
		PDFs, Names                    []string
		XDM                            []byte
	}
	of := func(m *Message, skipped bool) view {
		v := view{Text: m.Text, HTML: m.HTML, Subject: m.Subject, MessageID: m.MessageID, Kind: m.SenderKind,
			Patient: m.Patient, Documents: m.Documents, Reports: m.Reports, PDFs: m.PDFs, XDM: m.XDM}
		for _, a := range m.Attachments {
			v.Names = append(v.Names, a.ContentType+" "+a.Name)
			if skipped && a.Data == nil && a.Size != -1 {
				t.Fatalf("attachment %q skipped with size %d", a.Name, a.Size)
			}
		}
		return v
	}
	want, got := of(full, false), of(m, true)
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if string(wj) != string(gj) {
		t.Fatalf("index parse differs from the full parse:\n got %s\nwant %s", gj, wj)
	}
}

// FuzzSubjectNames: the subject's names are upper case without diacritics whatever the CDA says.
func FuzzSubjectNames(f *testing.F) {
	f.Add("Béranger", "Éloïse", "CR d'imagerie médicale", "19850712")
	f.Add("Œdipe", "Ægir", "Lettre de liaison à la sortie d'un établissement de soins", "2020")
	f.Fuzz(func(t *testing.T, name, first, typ, birth string) {
		s, err := Subject([]DocumentInfo{{TypeName: typ, Patient: PatientNames{BirthName: name, FirstName: first, BirthDate: birth}}})
		if err != nil {
			t.Fatal(err)
		}
		if DisplaySubject(s) == s {
			t.Fatalf("subject %q lacks the prefix", s)
		}
		if n := RNIVName(name); n != RNIVName(n) {
			t.Fatalf("RNIVName not idempotent on %q: %q", name, n)
		}
		if got := PDFName(DocumentInfo{TypeName: typ, Patient: PatientNames{BirthName: name, FirstName: first}}, "", "20260101"); SanitizeFileName(got) != got {
			t.Fatalf("PDF name %q holds forbidden characters", got)
		}
	})
}
