package pdfa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/pdfcheck"
	"github.com/mssante/mssante/internal/testkit"
)

// plainPDF writes a small PDF 1.4 that is not PDF/A-1, like the Word exports found in real N1
// documents: a non-embedded standard font (Times-Roman, WinAnsi with French accents), a CMYK
// rectangle, no XMP, no OutputIntent, no /ID.
func plainPDF(lines ...string) []byte {
	w := newPDFWriter()
	catalog, pages, page, content, font, info := w.alloc(), w.alloc(), w.alloc(), w.alloc(), w.alloc(), w.alloc()
	var ops strings.Builder
	ops.WriteString("0.1 0.6 0 0.2 k 60 780 475 4 re f 0 g BT /F1 12 Tf 72 740 Td 16 TL\n")
	for _, l := range lines {
		var s strings.Builder
		for _, r := range l { // WinAnsi covers the French letters used here
			switch {
			case r == '(' || r == ')' || r == '\\':
				s.WriteString(`\` + string(r))
			case r < 0x80:
				s.WriteRune(r)
			default:
				fmt.Fprintf(&s, `\%03o`, r)
			}
		}
		fmt.Fprintf(&ops, "(%s) Tj T*\n", s.String())
	}
	ops.WriteString("ET\n")
	w.stream(content, "", []byte(ops.String()), true)
	w.object(font, "<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding /WinAnsiEncoding >>")
	w.object(page, fmt.Sprintf("<< /Type /Page /Parent %s /MediaBox [0 0 595 842] /Resources << /Font << /F1 %s >> >> /Contents %s >>",
		ref(pages), ref(font), ref(content)))
	w.object(pages, fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count 1 >>", ref(page)))
	w.object(info, "<< /Title (Compte rendu) /Producer (Traitement de texte) >>")
	w.object(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %s >>", ref(pages)))
	return w.finish(catalog, info)
}

// ghostscript returns the gs of the machine; the test is skipped on a laptop without it and fails
// in CI (MSSANTE_REQUIRE_PEERS=1).
func ghostscript(t *testing.T) *Ghostscript {
	t.Helper()
	return &Ghostscript{Path: testkit.LookPath(t, "gs")}
}

// checkConverted runs the checks every converted N1 PDF must pass: PDFBox Preflight PDF/A-1b, the
// same number of pages (poppler's pdfinfo), and pdftotext finds the text of the original, word
// for word (a scanned PDF may have none).
func checkConverted(t *testing.T, original, converted []byte) {
	t.Helper()
	orig, conv := pdfcheck.WriteTemp(t, "original.pdf", original), pdfcheck.WriteTemp(t, "converted.pdf", converted)
	pdfcheck.Preflight(t, conv)
	if a, b := pageCount(t, orig), pageCount(t, conv); a != b || a < 1 {
		t.Errorf("converted PDF has %d pages, the original %d", b, a)
	}
	want := pdfcheck.Normalize(pdfcheck.Text(t, orig))
	got := pdfcheck.Normalize(pdfcheck.Text(t, conv))
	if got != want {
		t.Errorf("text changed by the conversion:\n got %q\nwant %q", got, want)
	}
}

// pageCount returns the page count pdfinfo reports.
func pageCount(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command(testkit.LookPath(t, "pdfinfo"), path).Output()
	if err != nil {
		t.Fatalf("pdfinfo %s: %v", path, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Pages:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("pdfinfo %s: %q", path, line)
			}
			return n
		}
	}
	t.Fatalf("pdfinfo %s: no page count in %q", path, out)
	return 0
}

// TestGhostscript_convertsToPDFA1b: a PDF that is not PDF/A-1 (fonts not embedded, CMYK, no
// metadata) becomes a PDF/A-1b file per PDFBox Preflight with the same text, reproducibly.
// ECO.2.1.1 (PDF/A-1 in the mail), ECO.2.1.5.
func TestGhostscript_convertsToPDFA1b(t *testing.T) {
	t.Parallel()
	gs := ghostscript(t)
	in := plainPDF("Compte rendu de consultation", "Patiente : Éloïse BÉRANGER, née le 12/07/1985",
		"Conclusion : échographie normale, contrôle dans un an (œdème résolu).")
	date := testClock()
	out, err := gs.Convert(context.Background(), in, date)
	if err != nil {
		t.Fatal(err)
	}
	checkConverted(t, in, out)
	if !bytes.Contains(out, []byte("(D:20261128163000+00'00')")) || !bytes.Contains(out, []byte("2026-11-28T16:30:00Z")) {
		t.Errorf("converted PDF does not carry the given date in the Info dictionary and the XMP")
	}
	again, err := gs.Convert(context.Background(), in, date)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, again) {
		t.Error("same input and date gave different PDFs")
	}
}

// TestGhostscript_errors: a failing gs, an input that is not a PDF and a cancelled context give
// ErrGhostscript, never a file.
func TestGhostscript_errors(t *testing.T) {
	t.Parallel()
	gs := ghostscript(t)
	if _, err := gs.Convert(context.Background(), []byte("not a pdf"), testClock()); !errors.Is(err, ErrGhostscript) {
		t.Errorf("non-PDF input: err = %v, want ErrGhostscript", err)
	}
	if _, err := gs.Convert(context.Background(), []byte("%PDF-1.4\ngarbage\n"), testClock()); !errors.Is(err, ErrGhostscript) {
		t.Errorf("broken PDF: err = %v, want ErrGhostscript", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := gs.Convert(ctx, plainPDF("x"), testClock()); !errors.Is(err, ErrGhostscript) {
		t.Errorf("cancelled context: err = %v, want ErrGhostscript", err)
	}
	missing := &Ghostscript{Path: filepath.Join(t.TempDir(), "gs")}
	if _, err := missing.Convert(context.Background(), plainPDF("x"), testClock()); !errors.Is(err, ErrGhostscript) {
		t.Errorf("missing program: err = %v, want ErrGhostscript", err)
	}
}

// TestRender_N1ConvertedCorpus: the N1 documents of the ANS corpus (Word exports: no XMP,
// transparency groups, CMYK, TimesNewRoman not embedded) and of cda/testdata are converted by
// Ghostscript into PDF/A-1b files that pass PDFBox Preflight and keep the text of the embedded
// PDF, with the ErrConvertedN1 warning. ECO.2.1.1, ECO.2.1.5.
func TestRender_N1ConvertedCorpus(t *testing.T) {
	gs := ghostscript(t)
	shared, _ := filepath.Glob(filepath.Join(testkit.Shared(t, "corpus", "cda"), "*"))
	local, _ := filepath.Glob(filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", "*.xml"))
	n := 0
	for _, path := range append(shared, local...) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := cda.Parse(data)
		if err != nil || doc.Level != cda.N1 || doc.Body == nil || !bytes.HasPrefix(doc.Body.Data, []byte("%PDF-")) {
			continue
		}
		n++
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			res, err := Render(doc, &Options{Now: testClock, ConvertN1: gs.Func(context.Background())})
			if err != nil {
				t.Fatal(err)
			}
			if declaresPDFA1(doc.Body.Data) {
				if !res.Embedded || !bytes.Equal(res.PDF, doc.Body.Data) {
					t.Fatal("an embedded PDF/A-1 was not returned byte for byte")
				}
				return
			}
			if !res.Converted || res.Embedded || len(res.Warnings) != 1 || !errors.Is(res.Warnings[0], ErrConvertedN1) {
				t.Fatalf("Converted=%v Embedded=%v warnings=%v, want a conversion with ErrConvertedN1", res.Converted, res.Embedded, res.Warnings)
			}
			checkConverted(t, doc.Body.Data, res.PDF)
		})
	}
	if n < 4 { // the three ANS N1 samples and the synthetic one
		t.Fatalf("only %d N1 documents with a PDF found, want at least 4", n)
	}
}

// TestRender_N1Convert: the conversion hook is called only for an embedded PDF that does not
// declare PDF/A-1, gets Options.Now, and a failure keeps the embedded PDF with ErrNotPDFA and the
// failure as warnings; StrictN1 wins over the conversion. ECO.2.1.5.
func TestRender_N1Convert(t *testing.T) {
	t.Parallel()
	inner, err := Render(syntheticDocument(3), &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	var gotDate time.Time
	convert := func(pdf []byte, date time.Time) ([]byte, error) {
		calls++
		gotDate = date
		return inner.PDF, nil
	}
	doc := &cda.Document{Level: cda.N1, Body: &cda.NonXMLBody{MediaType: "application/pdf", Data: inner.PDF}}
	res, err := Render(doc, &Options{ConvertN1: convert})
	if err != nil || calls != 0 || !res.Embedded || !bytes.Equal(res.PDF, inner.PDF) || len(res.Warnings) != 0 {
		t.Fatalf("PDF/A-1 N1: err=%v calls=%d Embedded=%v warnings=%v, want unchanged without conversion", err, calls, res.Embedded, res.Warnings)
	}

	plain := plainPDF("Compte rendu")
	doc.Body.Data = plain
	res, err = Render(doc, &Options{Now: testClock, ConvertN1: convert})
	if err != nil || calls != 1 || !res.Converted || res.Embedded || !bytes.Equal(res.PDF, inner.PDF) {
		t.Fatalf("non-PDF/A N1: err=%v calls=%d Converted=%v Embedded=%v", err, calls, res.Converted, res.Embedded)
	}
	if !gotDate.Equal(testClock()) || len(res.Warnings) != 1 || !errors.Is(res.Warnings[0], ErrConvertedN1) {
		t.Errorf("date=%v warnings=%v, want %v and ErrConvertedN1", gotDate, res.Warnings, testClock())
	}
	if !strings.Contains(ErrConvertedN1.Error(), "converti en PDF/A-1b") {
		t.Errorf("ErrConvertedN1 is not the French warning: %q", ErrConvertedN1)
	}

	failure := errors.New("convert failed")
	res, err = Render(doc, &Options{ConvertN1: func([]byte, time.Time) ([]byte, error) { return nil, failure }})
	if err != nil || !res.Embedded || res.Converted || !bytes.Equal(res.PDF, plain) ||
		!slicesContainsErr(res.Warnings, ErrNotPDFA) || !slicesContainsErr(res.Warnings, failure) {
		t.Fatalf("failed conversion: err=%v Embedded=%v warnings=%v, want unchanged with ErrNotPDFA and the failure", err, res.Embedded, res.Warnings)
	}
	res, err = Render(doc, &Options{ConvertN1: func(pdf []byte, _ time.Time) ([]byte, error) { return pdf, nil }})
	if err != nil || !res.Embedded || res.Converted || !slicesContainsErr(res.Warnings, ErrNotPDFA) {
		t.Fatalf("conversion without PDF/A declaration: err=%v Embedded=%v warnings=%v, want unchanged with ErrNotPDFA", err, res.Embedded, res.Warnings)
	}
	if _, err := Render(doc, &Options{StrictN1: true, ConvertN1: convert}); !errors.Is(err, ErrNotPDFA) || calls != 1 {
		t.Fatalf("StrictN1 with a converter: err=%v calls=%d, want ErrNotPDFA without conversion", err, calls)
	}
}

// TestFixGhostscriptDates: only Info dates in Ghostscript's UTC form are rewritten, in place.
func TestFixGhostscriptDates(t *testing.T) {
	in := []byte("<< /CreationDate(D:20261128163000Z00'00')\n/ModDate (D:20261128163000Z00'00') /Title (D:20261128163000Z00'00') >>")
	want := []byte("<< /CreationDate(D:20261128163000+00'00')\n/ModDate (D:20261128163000+00'00') /Title (D:20261128163000Z00'00') >>")
	if got := fixGhostscriptDates(in); !bytes.Equal(got, want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestPDFAPrologue: the PostScript prologue carries this package's sRGB profile and a
// GTS_PDFA1 output intent.
func TestPDFAPrologue(t *testing.T) {
	p := string(pdfaPrologue())
	for _, want := range []string{"/S /GTS_PDFA1", "/OutputConditionIdentifier (" + srgbProfileName + ")", "{Catalog} << /OutputIntents"} {
		if !strings.Contains(p, want) {
			t.Errorf("prologue lacks %q", want)
		}
	}
	hexICC := strings.ReplaceAll(p[strings.Index(p, "<\n")+2:strings.Index(p, "\n>")], "\n", "")
	if hexICC != fmt.Sprintf("%x", srgbICC()) {
		t.Error("prologue does not hold the sRGB profile")
	}
}

// FuzzFixGhostscriptDates: the rewrite of Ghostscript's output never changes its length nor any
// byte but a 'Z' turned into '+', so the cross-reference offsets stay right.
func FuzzFixGhostscriptDates(f *testing.F) {
	f.Add([]byte("/CreationDate(D:20261128163000Z00'00')/ModDate(D:20261128163000Z00'00')"))
	f.Add([]byte("/ModDate (D:20261128163000+01'00') /CreationDate(D:2026Z00'00')"))
	f.Add(plainPDF("Compte rendu"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out := fixGhostscriptDates(in)
		if len(out) != len(in) {
			t.Fatalf("length %d, want %d", len(out), len(in))
		}
		for i := range in {
			if in[i] != out[i] && (in[i] != 'Z' || out[i] != '+') {
				t.Fatalf("byte %d changed from %q to %q", i, in[i], out[i])
			}
		}
	})
}

// BenchmarkGhostscript_Convert measures one conversion of a one-page PDF (gs start included).
func BenchmarkGhostscript_Convert(b *testing.B) {
	gs := &Ghostscript{Path: testkit.LookPath(b, "gs")}
	in := plainPDF("Compte rendu de consultation", "Conclusion : examen normal.")
	for b.Loop() {
		if _, err := gs.Convert(context.Background(), in, testClock()); err != nil {
			b.Fatal(err)
		}
	}
}
