package pdfa

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"image/png"
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

// TestSubsetTrueType_keepsUsedGlyphs: the subset holds exactly the glyphs asked for and
// .notdef, renumbered in order, with their advances, and its cmap finds them by character; a
// TrueType parser reads it.
func TestSubsetTrueType_keepsUsedGlyphs(t *testing.T) {
	src, err := sfnt.Parse(goregular.TTF)
	if err != nil {
		t.Fatal(err)
	}
	ppem := fixed.Int26_6(src.UnitsPerEm())
	used := map[uint16]rune{}
	for _, r := range "Aé€ " {
		g, err := src.GlyphIndex(nil, r)
		if err != nil || g == 0 {
			t.Fatalf("GlyphIndex(%q) = %d, %v", r, g, err)
		}
		used[uint16(g)] = r
	}
	out, kept, err := subsetTrueType(goregular.TTF, used)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != len(used)+1 || kept[0] != 0 || !slices.IsSorted(kept) {
		t.Fatalf("kept = %v, want .notdef and the %d used glyphs in order", kept, len(used))
	}
	sub, err := sfnt.Parse(out)
	if err != nil {
		t.Fatalf("subset does not parse: %v", err)
	}
	if sub.NumGlyphs() != len(kept) {
		t.Errorf("NumGlyphs = %d, want %d", sub.NumGlyphs(), len(kept))
	}
	for i, old := range kept {
		want, err1 := src.GlyphAdvance(nil, sfnt.GlyphIndex(old), ppem, 0)
		got, err2 := sub.GlyphAdvance(nil, sfnt.GlyphIndex(i), ppem, 0)
		if err1 != nil || err2 != nil || got != want {
			t.Errorf("glyph %d (was %d): advance %v, want %v (%v %v)", i, old, got, want, err1, err2)
		}
	}
	for _, r := range "Aé€" {
		g, err := sub.GlyphIndex(nil, r)
		if err != nil || g == 0 {
			t.Fatalf("subset GlyphIndex(%q) = %d, %v", r, g, err)
		}
		if segs, err := sub.LoadGlyph(nil, g, ppem, nil); err != nil || len(segs) == 0 {
			t.Errorf("glyph %q: %d segments, %v", r, len(segs), err)
		}
	}
	if g, _ := sub.GlyphIndex(nil, 'Z'); g != 0 {
		t.Errorf("unused 'Z' maps to glyph %d in the subset", g)
	}
	if len(out) >= len(goregular.TTF)/4 {
		t.Errorf("subset is %d bytes, font is %d", len(out), len(goregular.TTF))
	}
	m := cidToGIDMap(kept)
	for i, old := range kept {
		if got := binary.BigEndian.Uint16(m[2*int(old):]); int(got) != i {
			t.Errorf("CIDToGIDMap[%d] = %d, want %d", old, got, i)
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
	if got := compositeRefs(g); !slices.Equal(got, []int{12, 20}) {
		t.Fatalf("compositeRefs = %v, want [12 20]", got)
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

// FuzzDecodeImage: any bytes given as an N1 image either fail cleanly or give samples matching
// the declared size.
func FuzzDecodeImage(f *testing.F) {
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	var p, j bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		f.Fatal(err)
	}
	if err := jpeg.Encode(&j, img, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(p.Bytes())
	f.Add(j.Bytes())
	f.Add([]byte("II*\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := decodeImage(data)
		if err != nil {
			return
		}
		if im.width <= 0 || im.height <= 0 || (im.jpeg == nil && len(im.samples) != 3*im.width*im.height) {
			t.Fatalf("image %dx%d with %d samples", im.width, im.height, len(im.samples))
		}
	})
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}
