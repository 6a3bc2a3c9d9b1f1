package pdfa

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/pdfcheck"
	"github.com/mssante/mssante/internal/testkit"
)

// renderFile parses a CDA file and renders it with the test clock.
func renderFile(t *testing.T, path string) (*cda.Document, *Result) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cda.Parse(data)
	if err != nil {
		t.Fatalf("cda.Parse(%s): %v", filepath.Base(path), err)
	}
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatalf("Render(%s): %v", filepath.Base(path), err)
	}
	return doc, res
}

// checkTranscription asserts that pdftotext finds, in the rendered PDF, the header data, every
// section title and every word of every narrative (ECO.2.1.5 "transcription fidèle").
// With cutWords (an ErrWideTable warning), words inside tables are not required whole.
func checkTranscription(t *testing.T, doc *cda.Document, text string, cutWords bool) {
	t.Helper()
	got := pdfcheck.Normalize(text)
	want := func(what, s string) {
		t.Helper()
		if s = pdfcheck.Normalize(s); s != "" && !strings.Contains(got, s) {
			t.Errorf("pdftotext does not find %s %q", what, s)
		}
	}
	want("the title", documentTitle(doc))
	want("the document type", doc.Code.DisplayName)
	want("the creation date", formatTS(doc.EffectiveTime))
	for _, a := range doc.Authors {
		if a.Person != nil {
			want("the author", personName(a.Person.Name))
		}
	}
	if doc.Custodian != nil {
		want("the custodian", doc.Custodian.Name)
	}
	fonts, err := newFontSet()
	if err != nil {
		t.Fatal(err)
	}
	var walk func(ss []cda.Section)
	walk = func(ss []cda.Section) {
		for i := range ss {
			want("the section title", sectionTitle(&ss[i]))
			if ss[i].Text != nil {
				for _, w := range narrativeWords(ss[i].Text, fonts, cutWords) {
					want("the narrative word", w)
				}
			}
			walk(ss[i].Sections)
		}
	}
	walk(doc.Sections)
}

// narrativeWords returns the words of a narrative that a line can hold whole and the fonts can
// show (over-long words are cut, unknown characters become "?").
func narrativeWords(n *cda.Node, fonts *fontSet, skipTables bool) []string {
	var words []string
	var walk func(n *cda.Node)
	walk = func(n *cda.Node) {
		if skipTables && n.Kind == cda.NodeTable {
			return
		}
		if n.Kind == cda.NodeText {
		word:
			for _, w := range strings.Fields(n.Text) {
				if len([]rune(w)) > 12 {
					continue
				}
				for _, r := range w {
					if _, ok := fonts.face(styleRegular).lookup(r); !ok {
						continue word
					}
				}
				words = append(words, w)
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(n)
	return words
}

// TestRender_corpus renders every CDA of the shared ANS corpus and of cda/testdata: the N3 ones
// pass PDFBox Preflight PDF/A-1b and pdftotext finds the header, each section title and the
// narrative words; the N1 ones return the embedded PDF byte for byte. ECO.2.1.5
func TestRender_corpus(t *testing.T) {
	shared, _ := filepath.Glob(filepath.Join(testkit.Shared(t, "corpus", "cda"), "*"))
	local, _ := filepath.Glob(filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", "*.xml"))
	files := append(shared, local...)
	if len(files) == 0 {
		t.Fatal("no CDA samples found")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			doc, res := renderFile(t, path)
			if doc.Level == cda.N1 {
				if !res.Embedded || !bytes.Equal(res.PDF, doc.Body.Data) {
					t.Fatalf("N1: Render did not return the embedded PDF unchanged (ECO.2.1.5)")
				}
				// The embedded PDFs are the producer's; report whether they are PDF/A-1b and
				// check that the declaration warning agrees when Preflight accepts the file.
				v := pdfcheck.RunPreflight(t, pdfcheck.WriteTemp(t, "n1.pdf", res.PDF))
				t.Logf("N1 embedded PDF: PDF/A-1b per Preflight = %v, warnings = %v", v.Valid, res.Warnings)
				if v.Valid && slicesContainsErr(res.Warnings, ErrNotPDFA) {
					t.Errorf("valid PDF/A-1b flagged as not PDF/A")
				}
				return
			}
			if res.Embedded || res.Pages < 1 {
				t.Fatalf("N3 rendered as Embedded=%v Pages=%d", res.Embedded, res.Pages)
			}
			path := pdfcheck.WriteTemp(t, "doc.pdf", res.PDF)
			pdfcheck.Preflight(t, path)
			checkTranscription(t, doc, pdfcheck.Text(t, path), slicesContainsErr(res.Warnings, ErrWideTable))
		})
	}
}

func slicesContainsErr(errs []error, target error) bool {
	for _, e := range errs {
		if errors.Is(e, target) {
			return true
		}
	}
	return false
}

// TestRender_longTableBreaksPages: a 150-row table spans several pages, repeats its header row
// on each, and every row reaches the text. ECO.2.1.5
func TestRender_longTableBreaksPages(t *testing.T) {
	t.Parallel()
	doc := syntheticDocument(150)
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages < 3 {
		t.Fatalf("Pages = %d, want >= 3 for 150 rows", res.Pages)
	}
	path := pdfcheck.WriteTemp(t, "long.pdf", res.PDF)
	pdfcheck.Preflight(t, path)
	text := pdfcheck.Text(t, path)
	pages := strings.Split(text, "\f")
	headerPages := 0
	for _, p := range pages {
		if strings.Contains(p, "Valeurs de") && strings.Contains(p, "Commentaire") {
			headerPages++
		}
	}
	if headerPages < res.Pages-1 {
		t.Errorf("table header found on %d pages of %d, want it repeated on each table page", headerPages, res.Pages)
	}
	norm := pdfcheck.Normalize(text)
	for i := 1; i <= 150; i++ {
		if want := "Paramètre n°" + itoa(i) + " "; !strings.Contains(norm, want) {
			t.Errorf("row %d missing from the text", i)
		}
	}
	checkTranscription(t, doc, text, false)
}

func itoa(i int) string { return strconv.Itoa(i) }

func fmtInt(i int) string { return strconv.Itoa(i) }

// TestRender_tallRowSplits: a table cell taller than a page is split across pages, not lost.
func TestRender_tallRowSplits(t *testing.T) {
	t.Parallel()
	var long []string
	cell := el(cda.NodeCell)
	for i := range 150 {
		long = append(long, "ligne"+fmtInt(i))
		cell.Children = append(cell.Children, txt(long[i]), el(cda.NodeBreak))
	}
	doc := syntheticDocument(0)
	doc.Sections = []cda.Section{{Title: "Observation très longue", Text: el(cda.NodeBlock,
		el(cda.NodeTable, el(cda.NodeTBody, el(cda.NodeRow, el(cda.NodeCell, txt("Texte")), cell)))),
	}}
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages < 2 {
		t.Fatalf("Pages = %d, want >= 2", res.Pages)
	}
	path := pdfcheck.WriteTemp(t, "tall.pdf", res.PDF)
	pdfcheck.Preflight(t, path)
	norm := pdfcheck.Normalize(pdfcheck.Text(t, path))
	for _, w := range long {
		if !strings.Contains(norm, w+" ") && !strings.HasSuffix(norm, w) {
			t.Errorf("word %q lost", w)
		}
	}
}

// TestRender_pageTree: past maxKids pages the page tree gets intermediate nodes, and readers still
// see every page in order.
func TestRender_pageTree(t *testing.T) {
	saved := maxKids
	maxKids = 2
	t.Cleanup(func() { maxKids = saved })
	res, err := Render(syntheticDocument(150), &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages < 5 {
		t.Fatalf("Pages = %d, want >= 5", res.Pages)
	}
	path := pdfcheck.WriteTemp(t, "tree.pdf", res.PDF)
	pdfcheck.Preflight(t, path)
	pages := strings.Split(pdfcheck.Text(t, path), "\f")
	for i := 1; i <= res.Pages; i++ {
		if want := "Page " + strconv.Itoa(i) + " / " + strconv.Itoa(res.Pages); !strings.Contains(pages[i-1], want) {
			t.Errorf("page %d lacks %q", i, want)
		}
	}
}

// TestRender_headerOnlyTable: a long table made only of th rows still breaks pages instead of
// running past the bottom margin.
func TestRender_headerOnlyTable(t *testing.T) {
	t.Parallel()
	tbl := el(cda.NodeTable)
	for i := range 120 {
		tbl.Children = append(tbl.Children, row(cda.NodeHeaderCell, "Ligne "+strconv.Itoa(i), "valeur"))
	}
	doc := syntheticDocument(0)
	doc.Sections = []cda.Section{{Title: "Entêtes seules", Text: el(cda.NodeBlock, tbl)}}
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages < 3 {
		t.Fatalf("Pages = %d, want >= 3", res.Pages)
	}
	text := pdfcheck.Normalize(pdfcheck.Text(t, pdfcheck.WriteTemp(t, "th.pdf", res.PDF)))
	for i := range 120 {
		if !strings.Contains(text, "Ligne "+strconv.Itoa(i)+" valeur") {
			t.Errorf("row %d missing", i)
		}
	}
}

// TestRender_deepLists: lists nested forty deep keep every item readable (indentation stops
// before the column gets too narrow).
func TestRender_deepLists(t *testing.T) {
	t.Parallel()
	inner := el(cda.NodeList, el(cda.NodeItem, txt("niveau 40")))
	for i := 39; i >= 1; i-- {
		inner = el(cda.NodeList, el(cda.NodeItem, txt("niveau "+strconv.Itoa(i)), inner))
	}
	doc := syntheticDocument(0)
	doc.Sections = []cda.Section{{Title: "Listes imbriquées", Text: el(cda.NodeBlock, inner)}}
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	text := pdfcheck.Normalize(pdfcheck.Text(t, pdfcheck.WriteTemp(t, "deep.pdf", res.PDF)))
	for i := 1; i <= 40; i++ {
		if !strings.Contains(text, "niveau "+strconv.Itoa(i)+" ") && !strings.HasSuffix(text, "niveau "+strconv.Itoa(i)) {
			t.Errorf("item %d missing", i)
		}
	}
}

// TestRender_deterministic: the same document and clock give the same bytes.
func TestRender_deterministic(t *testing.T) {
	a, err := Render(syntheticDocument(40), &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(syntheticDocument(40), &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.PDF, b.PDF) {
		t.Fatal("two renders of the same document with the same clock differ")
	}
	c, err := Render(syntheticDocument(40), &Options{Now: func() time.Time { return testClock().Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.PDF, c.PDF) {
		t.Fatal("the creation date does not reach the file")
	}
}

// TestRender_metadata: Info and XMP carry the same title and dates with the zone, and the file has
// the PDF/A-1 skeleton (header comment, output intent, metadata, trailer ID).
func TestRender_metadata(t *testing.T) {
	res, err := Render(syntheticDocument(1), &Options{Now: testClock, Producer: "test producer"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n",
		"/CreationDate (D:20261128173000+01'00')",
		"<xmp:CreateDate>2026-11-28T17:30:00+01:00</xmp:CreateDate>",
		"<pdfaid:part>1</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>",
		"/S /GTS_PDFA1",
		"/Producer (test producer)",
		"<pdf:Producer>test producer</pdf:Producer>",
		"Compte rendu d’examens biologiques — été 2026</rdf:li>",
		"/ID [<",
	} {
		if !bytes.Contains(res.PDF, []byte(want)) {
			t.Errorf("PDF lacks %q", want)
		}
	}
	if !bytes.HasSuffix(res.PDF, []byte("%%EOF\n")) {
		t.Error("PDF does not end with the EOF marker")
	}
}

// TestRender_metadataControlCharacters: a title with control characters and odd spacing still
// gives equal Info and XMP values (Preflight compares them).
func TestRender_metadataControlCharacters(t *testing.T) {
	t.Parallel()
	doc := syntheticDocument(0)
	doc.Title = "Compte\trendu\x01  d\u2019examen\n\u0085final <b>&"
	res, err := Render(doc, &Options{Now: testClock, Producer: "éditeur\x02 (test)"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(res.PDF, []byte("<rdf:li xml:lang=\"x-default\">Compte rendu d’examen final &lt;b&gt;&amp;</rdf:li>")) {
		t.Error("XMP title not cleaned")
	}
	pdfcheck.Preflight(t, pdfcheck.WriteTemp(t, "meta.pdf", res.PDF))
}

// TestRender_N1 returns the embedded PDF byte for byte, warning only when it does not declare
// PDF/A-1. ECO.2.1.5 "identique au PDF encapsulé"
func TestRender_N1(t *testing.T) {
	t.Parallel()
	inner, err := Render(syntheticDocument(3), &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	doc := &cda.Document{Level: cda.N1, Body: &cda.NonXMLBody{MediaType: "application/pdf", Representation: "B64", Data: inner.PDF}}
	res, err := Render(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Embedded || !bytes.Equal(res.PDF, inner.PDF) || len(res.Warnings) != 0 {
		t.Fatalf("N1 PDF/A: Embedded=%v equal=%v warnings=%v", res.Embedded, bytes.Equal(res.PDF, inner.PDF), res.Warnings)
	}
	pdfcheck.Preflight(t, pdfcheck.WriteTemp(t, "n1.pdf", res.PDF))

	plain := []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n")
	doc.Body.Data = plain
	res, err = Render(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.PDF, plain) || !slicesContainsErr(res.Warnings, ErrNotPDFA) {
		t.Fatalf("N1 non-PDF/A: equal=%v warnings=%v, want unchanged with ErrNotPDFA", bytes.Equal(res.PDF, plain), res.Warnings)
	}

	if _, err := Render(doc, &Options{StrictN1: true}); !errors.Is(err, ErrNotPDFA) {
		t.Fatalf("StrictN1 with a non-PDF/A: err = %v, want ErrNotPDFA", err)
	}

	doc.Body = &cda.NonXMLBody{MediaType: "image/jpeg", Data: []byte("\xFF\xD8\xFF")}
	if _, err := Render(doc, nil); !errors.Is(err, ErrEmbeddedNotPDF) {
		t.Fatalf("N1 image/jpeg: err = %v, want ErrEmbeddedNotPDF", err)
	}
	if _, err := Render(&cda.Document{Level: cda.N3}, nil); !errors.Is(err, ErrNoContent) {
		t.Fatalf("empty N3: err = %v, want ErrNoContent", err)
	}
}

// TestRender_N1PlainText: an N1 document embedding text/plain is rendered as PDF/A-1b with the
// header and its lines as written (there is no embedded PDF to return).
func TestRender_N1PlainText(t *testing.T) {
	t.Parallel()
	doc := syntheticDocument(0)
	doc.Level, doc.Sections = cda.N1, nil
	doc.Body = &cda.NonXMLBody{MediaType: "text/plain; charset=UTF-8", Representation: "TXT",
		Data: []byte("Conclusion :\r\n\tpas d’anomalie décelée.\r\nÀ revoir dans 6 mois.\n")}
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	if res.Embedded || res.Pages != 1 {
		t.Fatalf("Embedded=%v Pages=%d", res.Embedded, res.Pages)
	}
	path := pdfcheck.WriteTemp(t, "txt.pdf", res.PDF)
	pdfcheck.Preflight(t, path)
	text := pdfcheck.Text(t, path)
	for _, want := range []string{"Conclusion :\n", "pas d’anomalie décelée.\nÀ revoir dans 6 mois.", documentTitle(doc)} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

// TestRender_N1Image: an N1 document embedding an image (JPEG in colour or grey, PNG with
// transparency) is rendered as PDF/A-1b: header, then the image scaled to the page.
func TestRender_N1Image(t *testing.T) {
	t.Parallel()
	rgba := image.NewNRGBA(image.Rect(0, 0, 120, 80))
	gray := image.NewGray(image.Rect(0, 0, 60, 200))
	for y := range 200 {
		for x := range 120 {
			rgba.Set(x, y, color.NRGBA{uint8(2 * x), uint8(3 * y), 128, uint8(x + y)})
			gray.Set(x, y, color.Gray{uint8(x + y)})
		}
	}
	var jpgRGB, jpgGray, pngAlpha bytes.Buffer
	if err := jpeg.Encode(&jpgRGB, rgba, nil); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpgGray, gray, nil); err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(&pngAlpha, rgba); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]*cda.NonXMLBody{
		"jpeg-rgb":  {MediaType: "image/jpeg", Data: jpgRGB.Bytes()},
		"jpeg-gray": {MediaType: "image/jpeg", Data: jpgGray.Bytes()},
		"png-alpha": {MediaType: "image/png", Data: pngAlpha.Bytes()},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc := syntheticDocument(0)
			doc.Level, doc.Sections, doc.Body = cda.N1, nil, body
			res, err := Render(doc, &Options{Now: testClock})
			if err != nil {
				t.Fatal(err)
			}
			if res.Embedded || res.Pages != 1 || len(res.Warnings) != 0 {
				t.Fatalf("Embedded=%v Pages=%d Warnings=%v", res.Embedded, res.Pages, res.Warnings)
			}
			if strings.HasPrefix(name, "jpeg") && !bytes.Contains(res.PDF, body.Data) {
				t.Error("the JPEG is not embedded as received")
			}
			path := pdfcheck.WriteTemp(t, name+".pdf", res.PDF)
			pdfcheck.Preflight(t, path)
			if !strings.Contains(pdfcheck.Text(t, path), documentTitle(doc)) {
				t.Error("title missing")
			}
		})
	}
}

// TestRender_missingGlyph: a character the fonts cannot show becomes "?" with a warning, and the
// file stays PDF/A-1b (no .notdef glyph shown).
func TestRender_missingGlyph(t *testing.T) {
	t.Parallel()
	doc := syntheticDocument(0)
	doc.Sections = []cda.Section{{Title: "Idéogrammes", Text: el(cda.NodeBlock, txt("漢字 et émoji 🙂 fin"))}}
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 3 {
		t.Errorf("warnings = %v, want one per missing character (3)", res.Warnings)
	}
	path := pdfcheck.WriteTemp(t, "glyph.pdf", res.PDF)
	pdfcheck.Preflight(t, path)
	if got := pdfcheck.Normalize(pdfcheck.Text(t, path)); !strings.Contains(got, "?? et émoji ? fin") {
		t.Errorf("text = %q", got)
	}
}

// TestRender_typography: French typographic spaces and invisible characters the fonts lack are
// mapped, not shown as "?": narrow no-break spaces in « », soft hyphens, non-breaking hyphens.
func TestRender_typography(t *testing.T) {
	t.Parallel()
	doc := syntheticDocument(0)
	doc.Sections = []cda.Section{{Title: "Typographie", Text: el(cda.NodeBlock,
		txt("«\u202Fguillemets\u202F» ; anti\u00ADcoagulant ; non\u2011stéroïdien ; 10\u2009mg\u200B."))}}
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings = %v", res.Warnings)
	}
	path := pdfcheck.WriteTemp(t, "typo.pdf", res.PDF)
	pdfcheck.Preflight(t, path)
	got := strings.ReplaceAll(pdfcheck.Normalize(pdfcheck.Text(t, path)), "\u00A0", " ")
	if want := "« guillemets » ; anticoagulant ; non-stéroïdien ; 10 mg."; !strings.Contains(got, want) {
		t.Errorf("text %q lacks %q", got, want)
	}
}

func BenchmarkRender(b *testing.B) {
	doc := syntheticDocument(60)
	opts := &Options{Now: testClock}
	for b.Loop() {
		if _, err := Render(doc, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRender_longHeadingsStayOneLine: a long document title or section title shrinks to stay on
// one line, so that pdftotext finds it whole (issue 2 acceptance: "pdftotext finds each section
// title"; ECO.2.1.5).
func TestRender_longHeadingsStayOneLine(t *testing.T) {
	t.Parallel()
	doc := syntheticDocument(0)
	doc.Title = "Compte rendu de consultation pluridisciplinaire de cancérologie thoracique et digestive du centre"
	long := "Résultats des examens complémentaires pré-anesthésiques et des consultations spécialisées antérieures"
	doc.Sections = []cda.Section{{Title: long, Text: el(cda.NodeBlock, txt("Sans particularité.")),
		Sections: []cda.Section{{Title: long + " (sous-section)", Text: el(cda.NodeBlock, txt("Rien à signaler."))}}}}
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	path := pdfcheck.WriteTemp(t, "long-headings.pdf", res.PDF)
	pdfcheck.Preflight(t, path)
	text := pdfcheck.Text(t, path)
	for _, want := range []string{doc.Title, long, long + " (sous-section)"} {
		if !strings.Contains(text, want) {
			t.Errorf("pdftotext does not find %q on one line in:\n%s", want, text)
		}
	}
}

// TestRender_lineSeparators: Unicode line and paragraph separators (U+2028, U+2029, NEL) that a
// narrative may carry are spaces, not "?" with a missing-glyph warning.
func TestRender_lineSeparators(t *testing.T) {
	t.Parallel()
	doc := syntheticDocument(0)
	doc.Sections = []cda.Section{{Title: "Séparateurs", Text: el(cda.NodeBlock,
		txt("première\u2028deuxième\u2029troisième\u0085quatrième"))}}
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings = %v", res.Warnings)
	}
	path := pdfcheck.WriteTemp(t, "separators.pdf", res.PDF)
	pdfcheck.Preflight(t, path)
	if got := pdfcheck.Normalize(pdfcheck.Text(t, path)); !strings.Contains(got, "première deuxième troisième quatrième") {
		t.Errorf("text = %q", got)
	}
}

// ECO.2.1.5: a table foot written before the body (as HTML allows) is shown after the body rows.
func TestRender_tableFootLast(t *testing.T) {
	t.Parallel()
	doc := syntheticDocument(0)
	doc.Sections = []cda.Section{{Title: "Tableau", Text: el(cda.NodeBlock, el(cda.NodeTable,
		el(cda.NodeTHead, row(cda.NodeHeaderCell, "Analyse", "Valeur")),
		el(cda.NodeTFoot, row(cda.NodeCell, "Pied du tableau", "fin")),
		el(cda.NodeTBody, row(cda.NodeCell, "Glycémie", "5,1"), row(cda.NodeCell, "Créatinine", "80")),
	))}}
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	path := pdfcheck.WriteTemp(t, "tfoot.pdf", res.PDF)
	text := pdfcheck.Normalize(pdfcheck.Text(t, path))
	head, body, foot := strings.Index(text, "Analyse"), strings.Index(text, "Créatinine"), strings.Index(text, "Pied du tableau")
	if head < 0 || body < 0 || foot < 0 || !(head < body && body < foot) {
		t.Errorf("order head %d, body %d, foot %d in %q", head, body, foot, text)
	}
}

// ECO.2.1.5: the header data the referential lists (type, creation date and time, author,
// custodian organisation) are always on the PDF; a document lacking one says so.
func TestRender_missingHeaderDataSaid(t *testing.T) {
	t.Parallel()
	doc := syntheticDocument(0)
	doc.Custodian = nil
	doc.Authors = nil
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	path := pdfcheck.WriteTemp(t, "no-custodian.pdf", res.PDF)
	pdfcheck.Preflight(t, path)
	text := pdfcheck.Normalize(pdfcheck.Text(t, path))
	for _, want := range []string{"Type de document : CR d'examens biologiques", "Date et heure de création : 27/11/2026",
		"Auteur : non renseigné dans le document", "Organisation conservant le document : non renseignée dans le document"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

// ECO.2.1.5: decomposed (NFD) French text, as macOS software writes it, is shown and extracted
// as the precomposed letters, titles included; a combining mark the font lacks is left out
// rather than shown as "?".
func TestRender_decomposedText(t *testing.T) {
	t.Parallel()
	doc := syntheticDocument(0)
	doc.Sections = []cda.Section{{Title: "Donne\u0301es biome\u0301triques", Text: el(cda.NodeBlock,
		txt("Ele\u0301onore He\u0301le\u0300ne Franc\u0327ois Noe\u0308l ; tra\u0335it"))}}
	res, err := Render(doc, &Options{Now: testClock})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range res.Warnings {
		if strings.Contains(w.Error(), `"?"`) {
			t.Errorf("warning %v: a decomposed letter became \"?\"", w)
		}
	}
	path := pdfcheck.WriteTemp(t, "nfd.pdf", res.PDF)
	pdfcheck.Preflight(t, path)
	text := pdfcheck.Text(t, path)
	for _, want := range []string{"Données biométriques", "Eléonore Hélène François Noël ; trait"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}
