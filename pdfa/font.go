package pdfa

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf16"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gobolditalic"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// style selects one of the four embedded faces.
type style uint8

const (
	styleRegular style = iota
	styleBold
	styleItalic
	styleBoldItalic

	styleSup style = 4 // superscript: smaller, raised; combines with the faces above
	styleSub style = 8 // subscript: smaller, lowered
)

// scale is the size factor of superscript and subscript text.
func (s style) scale() float64 {
	if s&(styleSup|styleSub) != 0 {
		return 0.7
	}
	return 1
}

// rise is the baseline shift of s at a font size.
func (s style) rise(size float64) float64 {
	switch {
	case s&styleSup != 0:
		return 0.35 * size
	case s&styleSub != 0:
		return -0.15 * size
	}
	return 0
}

// fontSet holds the four Go font faces (BSD licence, shipped with golang.org/x/image) for one
// rendering. Faces record the glyphs they are asked for, so that only those are embedded.
type fontSet struct {
	faces [4]*fontFace
}

func newFontSet() (*fontSet, error) {
	var fs fontSet
	for i, src := range [][]byte{goregular.TTF, gobold.TTF, goitalic.TTF, gobolditalic.TTF} {
		f, err := newFontFace(fmt.Sprintf("F%d", i+1), src)
		if err != nil {
			return nil, err
		}
		fs.faces[i] = f
	}
	return &fs, nil
}

func (fs *fontSet) face(s style) *fontFace { return fs.faces[s&3] }

// glyph is a glyph id and its advance width in thousandths of the font size, rounded as the /W
// array writes it so that layout and the embedded widths agree exactly.
type glyph struct {
	gid   uint16
	width int
}

// fontFace is one TrueType face embedded as a CIDFontType2 font with Identity-H encoding: the
// content stream shows glyph ids, /CIDToGIDMap is /Identity, and /ToUnicode maps them back to text.
type fontFace struct {
	res    string // resource name in the page dictionaries: F1…F4
	src    []byte
	sf     *sfnt.Font
	psName string
	upm    fixed.Int26_6
	buf    sfnt.Buffer
	cache  map[rune]glyph
	used   map[uint16]rune // glyph id -> the text it shows
}

func newFontFace(res string, src []byte) (*fontFace, error) {
	sf, err := sfnt.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("parse font %s: %w", res, err)
	}
	f := &fontFace{res: res, src: src, sf: sf, upm: fixed.Int26_6(sf.UnitsPerEm()),
		cache: map[rune]glyph{}, used: map[uint16]rune{}}
	f.psName, err = sf.Name(&f.buf, sfnt.NameIDPostScript)
	if err != nil || f.psName == "" {
		f.psName = "Go-" + res
	}
	return f, nil
}

// lookup returns the glyph of r; ok is false when the face has none.
func (f *fontFace) lookup(r rune) (glyph, bool) {
	if g, ok := f.cache[r]; ok {
		return g, g.gid != 0
	}
	gid, err := f.sf.GlyphIndex(&f.buf, r)
	if err != nil {
		gid = 0
	}
	var g glyph
	if gid != 0 {
		adv, err := f.sf.GlyphAdvance(&f.buf, gid, f.upm, font.HintingNone)
		if err == nil {
			g = glyph{gid: uint16(gid), width: int(math.Round(float64(adv) * 1000 / float64(f.upm)))}
		}
	}
	f.cache[r] = g
	return g, g.gid != 0
}

// width returns the advance of s in thousandths of the font size. s holds only runes the face
// has (see fontSet.clean).
func (f *fontFace) width(s string) int {
	w := 0
	for _, r := range s {
		g, _ := f.lookup(r)
		w += g.width
	}
	return w
}

// encode returns s as a hexadecimal string of 2-byte glyph ids and marks the glyphs used.
func (f *fontFace) encode(s string) string {
	var b strings.Builder
	b.WriteByte('<')
	for _, r := range s {
		g, ok := f.lookup(r)
		if !ok {
			continue
		}
		if _, seen := f.used[g.gid]; !seen {
			f.used[g.gid] = r
		}
		fmt.Fprintf(&b, "%04X", g.gid)
	}
	b.WriteByte('>')
	return b.String()
}

// embed writes the font objects (Type0, CIDFontType2, descriptor, subset program, CIDSet,
// ToUnicode) and returns the number of the Type0 font object, or 0 when no glyph was used.
func (f *fontFace) embed(w *pdfWriter) (int, error) {
	if len(f.used) == 0 {
		return 0, nil
	}
	gids := make([]uint16, 0, len(f.used))
	for g := range f.used {
		gids = append(gids, g)
	}
	slices.Sort(gids)
	program, kept, err := subsetTrueType(f.src, f.used)
	if err != nil {
		return 0, fmt.Errorf("subset font %s: %w", f.psName, err)
	}
	// PDF/A-1 §6.3.5 (ISO 32000 9.6.4): a subset font name carries a six-letter tag.
	sum := md5.Sum([]byte(fmt.Sprint(kept)))
	var tag [6]byte
	for i := range tag {
		tag[i] = 'A' + sum[i]%26
	}
	name := string(tag[:]) + "+" + f.psName

	metrics, err := f.sf.Metrics(&f.buf, f.upm, font.HintingNone)
	if err != nil {
		return 0, fmt.Errorf("font %s metrics: %w", f.psName, err)
	}
	bounds, err := f.sf.Bounds(&f.buf, f.upm, font.HintingNone)
	if err != nil {
		return 0, fmt.Errorf("font %s bounds: %w", f.psName, err)
	}
	scale := func(v fixed.Int26_6) int { return int(math.Round(float64(v) * 1000 / float64(f.upm))) }
	flags := 32 // nonsymbolic
	italic := 0
	if strings.Contains(f.psName, "Italic") {
		flags |= 64
		italic = -12
	}

	type0, cid, desc, file, cidset, tounicode, cidmap := w.alloc(), w.alloc(), w.alloc(), w.alloc(), w.alloc(), w.alloc(), w.alloc()
	w.object(type0, fmt.Sprintf("<< /Type /Font /Subtype /Type0 /BaseFont /%s /Encoding /Identity-H /DescendantFonts [%s] /ToUnicode %s >>",
		name, ref(cid), ref(tounicode)))
	w.object(cid, fmt.Sprintf("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /%s /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor %s /DW 1000 /W %s /CIDToGIDMap %s >>",
		name, ref(desc), f.widths(gids), ref(cidmap)))
	w.object(desc, fmt.Sprintf("<< /Type /FontDescriptor /FontName /%s /Flags %d /FontBBox [%d %d %d %d] /ItalicAngle %d /Ascent %d /Descent %d /CapHeight %d /StemV 80 /FontFile2 %s /CIDSet %s >>",
		name, flags, scale(bounds.Min.X), -scale(bounds.Max.Y), scale(bounds.Max.X), -scale(bounds.Min.Y),
		italic, scale(metrics.Ascent), -scale(metrics.Descent), scale(metrics.CapHeight), ref(file), ref(cidset)))
	w.stream(file, fmt.Sprintf("/Length1 %d", len(program)), program, true)
	w.stream(cidset, "", cidSet(kept), true)
	w.stream(tounicode, "", f.toUnicode(gids), true)
	w.stream(cidmap, "", cidToGIDMap(kept), true)
	return type0, nil
}

// widths returns the /W array for the used glyphs, in runs of consecutive ids.
func (f *fontFace) widths(gids []uint16) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < len(gids); {
		j := i
		for j+1 < len(gids) && gids[j+1] == gids[j]+1 {
			j++
		}
		fmt.Fprintf(&b, " %d [", gids[i])
		for k := i; k <= j; k++ {
			g, _ := f.lookup(f.used[gids[k]])
			fmt.Fprintf(&b, " %d", g.width)
		}
		b.WriteString(" ]")
		i = j + 1
	}
	b.WriteString(" ]")
	return b.String()
}

// toUnicode returns the ToUnicode CMap mapping each used glyph id to its text (PDF 1.4 §5.9).
func (f *fontFace) toUnicode(gids []uint16) []byte {
	var b strings.Builder
	b.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n" +
		"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n" +
		"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n" +
		"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
	for i := 0; i < len(gids); i += 100 {
		chunk := gids[i:min(i+100, len(gids))]
		fmt.Fprintf(&b, "%d beginbfchar\n", len(chunk))
		for _, g := range chunk {
			fmt.Fprintf(&b, "<%04X> <", g)
			for _, u := range utf16.Encode([]rune{f.used[g]}) {
				fmt.Fprintf(&b, "%04X", u)
			}
			b.WriteString(">\n")
		}
		b.WriteString("endbfchar\n")
	}
	b.WriteString("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
	return []byte(b.String())
}

// cidToGIDMap returns the /CIDToGIDMap stream: for each CID (an original glyph id) up to the
// largest kept, the 2-byte id of its glyph in the subset font, 0 when it was not kept.
func cidToGIDMap(kept []uint16) []byte {
	b := make([]byte, 2*(int(kept[len(kept)-1])+1))
	for i, g := range kept {
		binary.BigEndian.PutUint16(b[2*int(g):], uint16(i))
	}
	return b
}

// cidSet returns the CIDSet bit string: bit i (most significant first) set when CID i is in the
// embedded program (PDF/A-1 §6.3.5 requires it for subset CID fonts).
func cidSet(kept []uint16) []byte {
	n := int(kept[len(kept)-1])/8 + 1
	b := make([]byte, n)
	for _, g := range kept {
		b[g/8] |= 0x80 >> (g % 8)
	}
	return b
}
