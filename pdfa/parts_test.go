package pdfa

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/testkit"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// TestSubsetTrueType_keepsUsedGlyphs: the subset keeps the outlines of the glyphs asked for (and
// of the components of composite ones such as "é"), empties the others, and stays a font that a
// TrueType parser reads.
func TestSubsetTrueType_keepsUsedGlyphs(t *testing.T) {
	src, err := sfnt.Parse(goregular.TTF)
	if err != nil {
		t.Fatal(err)
	}
	gid := func(f *sfnt.Font, r rune) sfnt.GlyphIndex {
		g, err := f.GlyphIndex(nil, r)
		if err != nil || g == 0 {
			t.Fatalf("GlyphIndex(%q) = %d, %v", r, g, err)
		}
		return g
	}
	out, kept, err := subsetTrueType(goregular.TTF, []uint16{uint16(gid(src, 'A')), uint16(gid(src, 'é'))})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) >= len(goregular.TTF)/2 {
		t.Errorf("subset is %d bytes, font is %d: not subset", len(out), len(goregular.TTF))
	}
	if len(kept) < 3 { // .notdef, A, é
		t.Errorf("kept = %v", kept)
	}
	sub, err := sfnt.Parse(out)
	if err != nil {
		t.Fatalf("subset does not parse: %v", err)
	}
	ppem := fixed.Int26_6(sub.UnitsPerEm())
	for r, want := range map[rune]bool{'A': true, 'é': true, 'Z': false} {
		segs, err := sub.LoadGlyph(nil, gid(sub, r), ppem, nil)
		if err != nil {
			t.Fatalf("LoadGlyph(%q): %v", r, err)
		}
		if got := len(segs) > 0; got != want {
			t.Errorf("glyph %q has outline = %v, want %v", r, got, want)
		}
	}
}

// TestCompositeComponents reads the component glyph ids of a hand-made composite glyph (the Go
// fonts have none): words arguments, then a scaled component.
func TestCompositeComponents(t *testing.T) {
	g := []byte{0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0}         // numberOfContours -1, bbox
	g = append(g, 0x00, 0x21, 0x00, 0x05, 0, 1, 0, 2)       // MORE_COMPONENTS|ARG_WORDS, glyph 5, 2 words
	g = append(g, 0x00, 0x08, 0x00, 0x07, 1, 2, 0x40, 0x00) // WE_HAVE_A_SCALE, glyph 7, 2 bytes, F2Dot14
	if got := compositeComponents(g); !slices.Equal(got, []uint16{5, 7}) {
		t.Fatalf("compositeComponents = %v, want [5 7]", got)
	}
	if got := compositeComponents([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}); got != nil {
		t.Fatalf("simple glyph: compositeComponents = %v, want nil", got)
	}
}

// TestSRGBICC_header: the generated profile is a well-formed ICC v2 RGB display profile.
func TestSRGBICC_header(t *testing.T) {
	p := srgbICC()
	if got := binary.BigEndian.Uint32(p); int(got) != len(p) {
		t.Fatalf("declared size %d, actual %d", got, len(p))
	}
	if string(p[36:40]) != "acsp" || string(p[12:16]) != "mntr" || string(p[16:20]) != "RGB " || p[8] != 2 {
		t.Fatalf("bad header %q", p[:40])
	}
	n := int(binary.BigEndian.Uint32(p[128:]))
	tags := map[string]bool{}
	for i := range n {
		e := p[132+12*i:]
		off, size := binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:])
		if off%4 != 0 || int(off+size) > len(p) {
			t.Errorf("tag %q at %d+%d out of bounds or unaligned", e[:4], off, size)
		}
		tags[string(e[:4])] = true
	}
	for _, want := range []string{"desc", "cprt", "wtpt", "rXYZ", "gXYZ", "bXYZ", "rTRC", "gTRC", "bTRC"} {
		if !tags[want] {
			t.Errorf("missing tag %q", want)
		}
	}
}

// FuzzRender feeds CDA bytes through cda.Parse and Render: whatever parses renders to a complete
// PDF, without panic.
func FuzzRender(f *testing.F) {
	dir := filepath.Join(testkit.ModuleRoot(f), "cda", "testdata")
	files, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`<ClinicalDocument xmlns="urn:hl7-org:v3"><recordTarget/><component><structuredBody><component><section><title>T</title><text><table><tr><td colspan="9">x</td></tr></table></text></section></component></structuredBody></component></ClinicalDocument>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := cda.Parse(data)
		if err != nil {
			return
		}
		res, err := Render(doc, &Options{Now: testClock})
		if err != nil {
			return
		}
		if !res.Embedded && (!strings.HasPrefix(string(res.PDF), "%PDF-1.4") || !strings.HasSuffix(string(res.PDF), "%%EOF\n")) {
			t.Fatalf("incomplete PDF")
		}
	})
}

// FuzzLayout lays out arbitrary text in a paragraph, a list and a table cell: no panic, no
// endless page loop, a complete file.
func FuzzLayout(f *testing.F) {
	for _, s := range []string{"", " ", "Œdème « péri-lésionnel » à 12 €", strings.Repeat("x", 5000),
		"a\u00a0b\tc\u202fd", "漢字🙂", strings.Repeat("mot ", 3000)} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, cols int) {
		cols = 1 + abs(cols)%30
		doc := syntheticDocument(0)
		tr := el(cda.NodeRow)
		for range cols {
			tr.Children = append(tr.Children, el(cda.NodeCell, txt(s)))
		}
		doc.Sections = []cda.Section{{Title: s, Text: el(cda.NodeBlock, txt(s), el(cda.NodeBreak),
			el(cda.NodeList, el(cda.NodeItem, txt(s))), el(cda.NodeTable, el(cda.NodeTBody, tr)))}}
		res, err := Render(doc, &Options{Now: testClock})
		if err != nil {
			t.Fatal(err)
		}
		if res.Pages < 1 || res.Pages > 10000 || !strings.HasSuffix(string(res.PDF), "%%EOF\n") {
			t.Fatalf("pages = %d", res.Pages)
		}
	})
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}
