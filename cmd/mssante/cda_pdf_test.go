package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/pdfcheck"
	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/pdfa"
)

func runCDAPDF(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), &cmdEnv{stdout: &out, stderr: &errOut, stdin: strings.NewReader("")}, args)
	return code, out.String(), errOut.String()
}

// ECO.2.1.5: "cda pdf" writes a PDF/A-1b rendering of an N3 CDA and the embedded PDF of an N1,
// reports it in JSON and prints warnings on stderr.
func TestCDAPDF_ECO_2_1_5(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1764340200")
	samples := filepath.Join(testkit.ModuleRoot(t), "cda", "testdata")
	dir := t.TempDir()

	out := filepath.Join(dir, "n3.pdf")
	code, stdout, stderr := runCDAPDF(t, "cda", "pdf", filepath.Join(samples, "n3-cr-biologie.xml"), "-o", out)
	var got cdaPDFJSON
	if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
		t.Fatalf("cda pdf N3: exit %d: %s%s", code, stdout, stderr)
	}
	if got.Level != "N3" || got.Embedded || got.Pages < 1 || got.Output != out {
		t.Errorf("N3 JSON = %+v", got)
	}
	pdfcheck.Preflight(t, out)
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCDAPDF(t, "cda", "pdf", filepath.Join(samples, "n3-cr-biologie.xml"), "-o", out); code != 0 {
		t.Fatalf("second run: exit %d", code)
	}
	if second, _ := os.ReadFile(out); !bytes.Equal(first, second) {
		t.Error("same CDA and SOURCE_DATE_EPOCH gave different PDFs")
	}

	n1 := filepath.Join(samples, "n1-note-consultation-pdf.xml")
	out = filepath.Join(dir, "n1.pdf")
	// --n1-as-is: the embedded PDF byte for byte, even though it is not PDF/A-1.
	code, stdout, stderr = runCDAPDF(t, "cda", "pdf", "--n1-as-is", "-o", out, n1)
	if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
		t.Fatalf("cda pdf N1: exit %d: %s%s", code, stdout, stderr)
	}
	data, err := os.ReadFile(n1)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cda.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Embedded || !bytes.Equal(written, doc.Body.Data) {
		t.Errorf("N1: embedded=%v, file equal to the embedded PDF = %v", got.Embedded, bytes.Equal(written, doc.Body.Data))
	}
	if len(got.Warnings) > 0 && !strings.Contains(stderr, "warning: "+got.Warnings[0]) {
		t.Errorf("warning %q not on stderr: %q", got.Warnings[0], stderr)
	}

	if len(got.Warnings) > 0 {
		if code, _, _ := runCDAPDF(t, "cda", "pdf", "--strict-n1", "-o", filepath.Join(dir, "strict.pdf"), n1); code != 1 {
			t.Errorf("--strict-n1 on a non-PDF/A N1: exit %d, want 1", code)
		}
	}
	if code, _, _ := runCDAPDF(t, "cda", "pdf", n1); code != 2 {
		t.Errorf("without -o: exit %d, want 2", code)
	}
	if code, _, _ := runCDAPDF(t, "cda", "pdf", filepath.Join(samples, "malformed", "truncated.xml"), "-o", out); code != 1 {
		t.Errorf("malformed CDA: exit %d, want 1", code)
	}
}

// n1Samples returns the N1 CDA files embedding a PDF: the three of the ANS corpus and the
// synthetic one of cda/testdata.
func n1Samples(t *testing.T) []string {
	t.Helper()
	shared, _ := filepath.Glob(filepath.Join(testkit.Shared(t, "corpus", "cda"), "*"))
	local, _ := filepath.Glob(filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", "*.xml"))
	var files []string
	for _, path := range append(shared, local...) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if doc, err := cda.Parse(data); err == nil && doc.Level == cda.N1 && doc.Body != nil &&
			bytes.HasPrefix(doc.Body.Data, []byte("%PDF-")) {
			files = append(files, path)
		}
	}
	if len(files) < 4 {
		t.Fatalf("found %d N1 samples with a PDF, want the 3 ANS ones and the synthetic one", len(files))
	}
	return files
}

// checkN1PDF checks a PDF made from an N1 document: PDFBox Preflight PDF/A-1b, and pdftotext
// finds the text of the embedded PDF (a scanned one may have none).
func checkN1PDF(t *testing.T, cdaPath, pdfPath string) {
	t.Helper()
	data, err := os.ReadFile(cdaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cda.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	pdfcheck.Preflight(t, pdfPath)
	want := pdfcheck.Normalize(pdfcheck.Text(t, pdfcheck.WriteTemp(t, "embedded.pdf", doc.Body.Data)))
	if got := pdfcheck.Normalize(pdfcheck.Text(t, pdfPath)); got != want {
		t.Errorf("%s: text of the PDF differs from the embedded one:\n got %q\nwant %q", filepath.Base(cdaPath), got, want)
	}
}

// ECO.2.1.1, ECO.2.1.5: "cda pdf" on the real ANS N1 samples (Word exports, not PDF/A-1) writes a
// PDF/A-1b file (Ghostscript conversion) that passes PDFBox Preflight and keeps the text, says so
// in JSON ("converted") and with the French warning on stderr; --strict-n1 still refuses them.
func TestCDAPDF_N1Converted_ECO_2_1_5(t *testing.T) {
	testkit.LookPath(t, "gs")
	t.Setenv("SOURCE_DATE_EPOCH", "1764340200")
	dir := t.TempDir()
	for i, path := range n1Samples(t) {
		out := filepath.Join(dir, fmt.Sprintf("n1-%d.pdf", i))
		code, stdout, stderr := runCDAPDF(t, "cda", "pdf", path, "-o", out)
		var got cdaPDFJSON
		if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
			t.Fatalf("%s: exit %d: %s%s", filepath.Base(path), code, stdout, stderr)
		}
		if !got.Converted || got.Embedded || got.Level != "N1" || len(got.Warnings) != 1 ||
			!strings.Contains(got.Warnings[0], "converti en PDF/A-1b") || !strings.Contains(stderr, got.Warnings[0]) {
			t.Errorf("%s: JSON %+v, stderr %q; want a conversion with the French warning", filepath.Base(path), got, stderr)
		}
		checkN1PDF(t, path, out)
		if code, _, _ := runCDAPDF(t, "cda", "pdf", "--strict-n1", path, "-o", filepath.Join(dir, "strict.pdf")); code != 1 {
			t.Errorf("%s: --strict-n1: exit %d, want 1", filepath.Base(path), code)
		}
	}
}

// ECO.2.1.5: an N1 document whose embedded PDF already is PDF/A-1 (rendered by pdfa from an N3)
// gets that PDF byte for byte, without warning.
func TestCDAPDF_N1PDFAUnchanged_ECO_2_1_5(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", "n3-cr-biologie.xml"))
	if err != nil {
		t.Fatal(err)
	}
	n3, err := cda.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := pdfa.Render(n3, nil)
	if err != nil {
		t.Fatal(err)
	}
	n1 := filepath.Join(dir, "n1-pdfa.xml")
	if err := os.WriteFile(n1, n1WithPDF(t, inner.PDF), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.pdf")
	code, stdout, stderr := runCDAPDF(t, "cda", "pdf", n1, "-o", out)
	var got cdaPDFJSON
	if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Embedded || got.Converted || len(got.Warnings) != 0 || !bytes.Equal(written, inner.PDF) {
		t.Errorf("JSON %+v, identical = %v; want the embedded PDF/A-1 unchanged", got, bytes.Equal(written, inner.PDF))
	}
	pdfcheck.Preflight(t, out)
}

// n1WithPDF returns the synthetic N1 sample of cda/testdata with pdf as its embedded document.
func n1WithPDF(t *testing.T, pdf []byte) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", "n1-note-consultation-pdf.xml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cda.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	old := base64.StdEncoding.EncodeToString(doc.Body.Data)
	s := string(data)
	start := strings.Index(s, "<text")
	end := strings.Index(s, "</text>")
	if start < 0 || end < start || !strings.Contains(strings.Join(strings.Fields(s[start:end]), ""), old) {
		t.Fatal("the N1 sample does not have the expected nonXMLBody text element")
	}
	open := start + strings.Index(s[start:], ">") + 1
	out := s[:open] + base64.StdEncoding.EncodeToString(pdf) + s[end:]
	check, err := cda.Parse([]byte(out))
	if err != nil || !bytes.Equal(check.Body.Data, pdf) {
		t.Fatalf("rewritten N1 sample does not embed the PDF: %v", err)
	}
	return []byte(out)
}

// ECO.2.1.5: without Ghostscript on PATH (or with --n1-as-is) the embedded PDF is kept byte for
// byte with the ErrNotPDFA warning, as before the conversion existed.
func TestCDAPDF_N1WithoutGhostscript_ECO_2_1_5(t *testing.T) {
	n1 := filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", "n1-note-consultation-pdf.xml")
	data, err := os.ReadFile(n1)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cda.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		args       []string
	}{
		{"PATH empty", "", nil},
		{"--n1-as-is", os.Getenv("PATH"), []string{"--n1-as-is"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", tc.path)
			out := filepath.Join(t.TempDir(), "n1.pdf")
			code, stdout, stderr := runCDAPDF(t, append([]string{"cda", "pdf", n1, "-o", out}, tc.args...)...)
			var got cdaPDFJSON
			if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
				t.Fatalf("exit %d: %s%s", code, stdout, stderr)
			}
			written, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Embedded || got.Converted || !bytes.Equal(written, doc.Body.Data) ||
				len(got.Warnings) != 1 || got.Warnings[0] != pdfa.ErrNotPDFA.Error() {
				t.Errorf("JSON %+v, identical = %v; want the embedded PDF unchanged with ErrNotPDFA", got, bytes.Equal(written, doc.Body.Data))
			}
		})
	}
}

// ECO.2.1.1, ECO.2.1.5: every PDF "compose" attaches for the real ANS N1 samples passes PDFBox
// Preflight PDF/A-1b and keeps the text of the embedded PDF; the XDM carries the CDA unchanged.
func TestCompose_N1PDFA_ECO_2_1_5(t *testing.T) {
	testkit.LookPath(t, "gs")
	dir := t.TempDir()
	for i, path := range n1Samples(t) {
		eml := filepath.Join(dir, fmt.Sprintf("n1-%d.eml", i))
		stdout, stderr, code := runMain(t, "compose", "--from", "marie.martin@medecin.mssante.fr", "--from-label", "Dr Marie MARTIN",
			"--to", "jean.dupont@hopital-a.mssante.fr", "--cda", path, "-o", eml)
		if code != 0 {
			t.Fatalf("%s: compose exit %d: %s", filepath.Base(path), code, stderr)
		}
		if !strings.Contains(stdout, "converti en PDF/A-1b") {
			t.Errorf("%s: compose JSON lacks the conversion warning: %s", filepath.Base(path), stdout)
		}
		raw, err := os.ReadFile(eml)
		if err != nil {
			t.Fatal(err)
		}
		m, err := message.Parse(raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.PDFs) != 1 {
			t.Fatalf("%s: PDFs %v, want one", filepath.Base(path), m.PDFs)
		}
		for _, a := range m.Attachments {
			if a.Name == m.PDFs[0] {
				checkN1PDF(t, path, pdfcheck.WriteTemp(t, fmt.Sprintf("att-%d.pdf", i), a.Data))
			}
		}
	}
}
