package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/pdfcheck"
	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/xdm"
)

// chainResult is what the end-to-end chain checks on one CDA.
type chainResult struct {
	doc      *cda.Document
	composed *Composed
	read     *Message
}

// runChain sends raw through the whole content chain: cda → xdm → pdfa → message → Parse, to a
// professional, and in copy to the patient when the document carries a qualified INS (ECO.2.2.6:
// the patient address is built from it).
func runChain(t *testing.T, raw []byte) chainResult {
	t.Helper()
	doc, err := cda.Parse(raw)
	if err != nil {
		t.Fatalf("cda.Parse: %v", err)
	}
	d := &Draft{From: drMartin, To: []Address{drDupont}, Text: "Veuillez trouver ci-joint le document.\n", CDAs: [][]byte{raw}}
	if id := doc.Patient.Identity; id.Qualified() == nil {
		addr, err := id.PatientAddress("")
		if err != nil {
			t.Fatal(err)
		}
		d.Cc = []Address{{Addr: addr}}
	}
	c := mustCompose(t, d, fixedOptions())
	return chainResult{doc: doc, composed: c, read: mustParse(t, c.Data)}
}

// checkChain asserts the rules of section 2 on one document sent and read back.
func checkChain(t *testing.T, r chainResult) {
	t.Helper()
	m, doc := r.read, r.doc
	info := InfoFromCDA(doc)
	if len(m.Documents) != 1 || len(m.PDFs) != 1 {
		t.Fatalf("documents %+v, pdfs %v", m.Documents, m.PDFs)
	}
	// ECO.2.1.2: the XDM round-trips with the document's patientId.
	if got, want := m.Documents[0].PatientID, xdm.PatientID(doc); got != want || want == "" {
		t.Errorf("patientId = %q, want %q", got, want)
	}
	// ECO.2.4.1, ECO.2.4.2 from the XDM actually attached.
	if got := m.Headers[HeaderCodeCDA]; got != doc.Code.Code {
		t.Errorf("X-MSS-CODECDA = %q, want %q", got, doc.Code.Code)
	}
	wantINS := map[bool]string{true: "O", false: "N"}[doc.Patient.Identity.Qualified() == nil]
	if got := m.Headers[HeaderINS]; got != wantINS {
		t.Errorf("X-MSS-INS = %q, want %q", got, wantINS)
	}
	// ECO.2.1.3: shape of the subject.
	checkSubjectShape(t, m.Subject, info)
	if m.DisplaySubject != strings.TrimPrefix(m.Subject, XDMSubjectPrefix) {
		t.Errorf("display subject %q", m.DisplaySubject)
	}
	// ECO.2.1.6: shape of the PDF name.
	checkPDFNameShape(t, m.PDFs[0], info)
	// ECO.2.1.5: N1 carries the embedded PDF unchanged; N3 a rendered PDF.
	pdf := attachmentData(t, m, m.PDFs[0])
	if doc.Level == cda.N1 && doc.Body != nil && !bytes.Equal(pdf, doc.Body.Data) {
		t.Error("N1: the PDF attachment differs from the embedded PDF")
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Errorf("attachment %s is not a PDF", m.PDFs[0])
	}
}

var birthDateRE = regexp.MustCompile(`^\d\d/\d\d/\d{4}$`)

func checkSubjectShape(t *testing.T, subject string, info DocumentInfo) {
	t.Helper()
	rest, ok := strings.CutPrefix(subject, XDMSubjectPrefix)
	if !ok {
		t.Fatalf("subject %q lacks the XDM prefix", subject)
	}
	label := typeLabel(info)
	if !strings.HasPrefix(rest, label+" ") || utf8.RuneCountInString(label) > MaxTypeLength {
		t.Errorf("subject %q does not start with the label %q", subject, label)
	}
	names := strings.TrimPrefix(rest, label+" ")
	if names != StripDiacritics(names) || names != strings.ToUpper(names) {
		t.Errorf("names in %q are not upper case without diacritics", subject)
	}
	if want := RNIVName(info.Patient.Name()) + " " + RNIVName(info.Patient.FirstName); !strings.HasPrefix(names, want) {
		t.Errorf("subject names %q, want %q first", names, want)
	}
	if d := strings.TrimSpace(strings.TrimPrefix(names, RNIVName(info.Patient.Name())+" "+RNIVName(info.Patient.FirstName))); d != "" && !birthDateRE.MatchString(d) {
		t.Errorf("birth date %q is not JJ/MM/AAAA", d)
	}
}

var pdfNameRE = regexp.MustCompile(`^\d{8}_[^_/\\:*?"<>|]+_[^_/\\:*?"<>|]+_[^/\\:*?"<>|]*\.pdf$`)

func checkPDFNameShape(t *testing.T, name string, info DocumentInfo) {
	t.Helper()
	if !strings.HasPrefix(name, dateDigits(info.ActDate)+"_") || dateDigits(info.ActDate) == "" {
		t.Errorf("PDF name %q does not start with the act date %q", name, info.ActDate)
	}
	if !strings.Contains(name, "_"+RNIVName(info.Patient.Name())+"_") {
		t.Errorf("PDF name %q lacks the upper-case name", name)
	}
	if strings.Count(typeLabel(info), "_") == 0 && !pdfNameRE.MatchString(name) {
		t.Errorf("PDF name %q does not match the pattern", name)
	}
}

func attachmentData(t *testing.T, m *Message, name string) []byte {
	t.Helper()
	for _, a := range m.Attachments {
		if a.Name == name {
			return a.Data
		}
	}
	t.Fatalf("no attachment %q", name)
	return nil
}

// TestChain runs every synthetic CDA of cda/testdata through cda → xdm → pdfa → message → Parse,
// to a professional, compares the reading with golden JSON, validates N3 PDFs as PDF/A-1b, and
// checks the patient rules (ECO.2.1.1, 2.1.2, 2.1.3, 2.1.5, 2.1.6, 2.2.6, 2.4.1, 2.4.2).
func TestChain(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no synthetic CDA: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".xml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r := runChain(t, raw)
			checkChain(t, r)
			// Attachment sizes depend on the xdm and pdfa outputs, checked by their own tests.
			for i := range r.read.Attachments {
				r.read.Attachments[i].Size = 0
			}
			out, err := json.MarshalIndent(r.read, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("chain", name+".json"), append(out, '\n'))
			if r.doc.Level == cda.N3 { // ECO.2.1.5: a PDF/A-1 showing the CDA header
				path := pdfcheck.WriteTemp(t, "doc.pdf", attachmentData(t, r.read, r.read.PDFs[0]))
				pdfcheck.Preflight(t, path)
				if text := pdfcheck.Normalize(pdfcheck.Text(t, path)); !strings.Contains(text, pdfcheck.Normalize(r.doc.Title)) {
					t.Errorf("the PDF does not show the title %q", r.doc.Title)
				}
			}
			checkPatientRule(t, raw, r.doc)
		})
	}
}

// checkPatientRule: without a qualified INS, a mail to the patient's address (the document's
// matricule, or any valid one when it has none) is refused (ECO.2.2.6). The qualified case was
// sent in copy to the patient by runChain.
func checkPatientRule(t *testing.T, raw []byte, doc *cda.Document) {
	t.Helper()
	if doc.Patient.Identity.Qualified() == nil {
		return
	}
	mat := doc.Patient.Identity.INS.Matricule.String()
	if mat == "" {
		mat = "285077505612370" // a valid matricule that is not the document's: no INS to build from
	}
	_, err := Compose(&Draft{From: drMartin, To: []Address{{Addr: mat + "@patient.mssante.fr"}}, Text: "x", CDAs: [][]byte{raw}}, fixedOptions())
	if !errors.Is(err, ErrPatientNotQualified) && !errors.Is(err, ErrPatientAddress) && !errors.Is(err, ErrPatientMismatch) {
		t.Errorf("to the patient without qualified INS: error = %v, want a refusal", err)
	}
}

// TestCorpusConformance runs every real ANS sample of shared/corpus/cda through the same chain
// (not copied: read at run time). Samples with a wrong INS key go to a professional with
// X-MSS-INS: N, and are refused to the patient.
func TestCorpusConformance(t *testing.T) {
	dir := testkit.Shared(t, "corpus", "cda")
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.IsDir() || !strings.EqualFold(filepath.Ext(f.Name()), ".xml") {
			continue
		}
		t.Run(f.Name(), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			r := runChain(t, raw)
			checkChain(t, r)
			checkPatientRule(t, raw, r.doc)
		})
	}
}
