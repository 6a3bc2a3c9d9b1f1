package pdfa

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// subsetTrueType returns a compact TrueType font holding only the glyphs of used (glyph id ->
// the character it shows), glyph 0 (.notdef) and the components of composite glyphs. Kept
// glyphs are renumbered in increasing order of their original ids: kept[i] becomes glyph i, so
// the PDF maps CIDs (the original ids) to the new ones with a /CIDToGIDMap stream. Every glyph of
// the result is one the PDF uses, so the /CIDSet, the map and the font program agree whatever a
// validator counts as "present". hmtx, maxp, hhea and a format 4 cmap are rebuilt for the new
// ids; layout tables (GSUB, GPOS, kern…) are dropped, the PDF positions every glyph.
func subsetTrueType(src []byte, used map[uint16]rune) (out []byte, kept []uint16, err error) {
	tables, err := ttfTables(src)
	if err != nil {
		return nil, nil, err
	}
	head, loca, glyf, maxp, hhea, hmtx := tables["head"], tables["loca"], tables["glyf"], tables["maxp"], tables["hhea"], tables["hmtx"]
	if len(head) < 54 || len(maxp) < 6 || len(hhea) < 36 || loca == nil || glyf == nil {
		return nil, nil, errors.New("missing head, maxp, hhea, loca or glyf table")
	}
	numGlyphs := int(binary.BigEndian.Uint16(maxp[4:]))
	numHMetrics := int(binary.BigEndian.Uint16(hhea[34:]))
	if numHMetrics < 1 || numHMetrics > numGlyphs || len(hmtx) < 4*numHMetrics+2*(numGlyphs-numHMetrics) {
		return nil, nil, errors.New("bad hmtx table")
	}
	offsets, err := locaOffsets(loca, numGlyphs, binary.BigEndian.Uint16(head[50:]) == 1)
	if err != nil {
		return nil, nil, err
	}
	glyphData := func(g int) ([]byte, error) {
		if g >= numGlyphs || offsets[g] > offsets[g+1] || offsets[g+1] > len(glyf) {
			return nil, fmt.Errorf("glyph %d out of range", g)
		}
		return glyf[offsets[g]:offsets[g+1]], nil
	}

	keep := map[uint16]bool{0: true}
	queue := []uint16{0}
	for g := range used {
		queue = append(queue, g)
	}
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		keep[g] = true
		data, err := glyphData(int(g))
		if err != nil {
			return nil, nil, err
		}
		for _, c := range compositeComponents(data) {
			if !keep[c] {
				keep[c] = true
				queue = append(queue, c)
			}
		}
	}
	for g := range keep {
		kept = append(kept, g)
	}
	slices.Sort(kept)
	newID := make(map[uint16]uint16, len(kept))
	for i, g := range kept {
		newID[g] = uint16(i)
	}

	var newGlyf, newHmtx []byte
	newLoca := make([]byte, 0, 4*(len(kept)+1))
	for _, g := range kept {
		newLoca = binary.BigEndian.AppendUint32(newLoca, uint32(len(newGlyf)))
		data, _ := glyphData(int(g))
		start := len(newGlyf)
		newGlyf = append(newGlyf, data...)
		for _, at := range compositeRefs(data) {
			old := binary.BigEndian.Uint16(data[at:])
			binary.BigEndian.PutUint16(newGlyf[start+at:], newID[old])
		}
		for len(newGlyf)%4 != 0 {
			newGlyf = append(newGlyf, 0)
		}
		m := min(int(g), numHMetrics-1)
		newHmtx = append(newHmtx, hmtx[4*m:4*m+2]...) // advance width
		if int(g) < numHMetrics {
			newHmtx = append(newHmtx, hmtx[4*m+2:4*m+4]...)
		} else {
			at := 4*numHMetrics + 2*(int(g)-numHMetrics)
			newHmtx = append(newHmtx, hmtx[at:at+2]...)
		}
	}
	newLoca = binary.BigEndian.AppendUint32(newLoca, uint32(len(newGlyf)))

	newHead := slices.Clone(head)
	binary.BigEndian.PutUint32(newHead[8:], 0) // checkSumAdjustment, set below
	binary.BigEndian.PutUint16(newHead[50:], 1)
	newMaxp := slices.Clone(maxp)
	binary.BigEndian.PutUint16(newMaxp[4:], uint16(len(kept)))
	newHhea := slices.Clone(hhea)
	binary.BigEndian.PutUint16(newHhea[34:], uint16(len(kept)))
	result := map[string][]byte{"head": newHead, "loca": newLoca, "glyf": newGlyf, "hmtx": newHmtx,
		"maxp": newMaxp, "hhea": newHhea, "cmap": cmapFormat4(used, newID)}
	for _, t := range []string{"cvt ", "fpgm", "prep", "name", "OS/2"} {
		if tables[t] != nil {
			result[t] = tables[t]
		}
	}
	if post := tables["post"]; len(post) >= 32 {
		p := slices.Clone(post[:32])
		binary.BigEndian.PutUint32(p, 0x00030000) // format 3: no glyph names
		result["post"] = p
	}
	out = writeTTF(result)
	adj := 0xB1B0AFBA - ttfChecksum(out)
	binary.BigEndian.PutUint32(out[headOffset(out)+8:], adj)
	return out, kept, nil
}

// locaOffsets reads the glyph offsets of a loca table, short or long format.
func locaOffsets(loca []byte, numGlyphs int, long bool) ([]int, error) {
	offsets := make([]int, numGlyphs+1)
	for i := range offsets {
		switch {
		case long && 4*i+4 <= len(loca):
			offsets[i] = int(binary.BigEndian.Uint32(loca[4*i:]))
		case !long && 2*i+2 <= len(loca):
			offsets[i] = 2 * int(binary.BigEndian.Uint16(loca[2*i:]))
		default:
			return nil, errors.New("short loca table")
		}
	}
	return offsets, nil
}

// cmapFormat4 builds a cmap table (Windows Unicode BMP, format 4) mapping the characters of used
// to their new glyph ids, one segment per character.
func cmapFormat4(used map[uint16]rune, newID map[uint16]uint16) []byte {
	type pair struct {
		r   uint16
		gid uint16
	}
	var pairs []pair
	for g, r := range used {
		if r > 0 && r < 0xFFFF {
			pairs = append(pairs, pair{uint16(r), newID[g]})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int { return int(a.r) - int(b.r) })
	pairs = slices.CompactFunc(pairs, func(a, b pair) bool { return a.r == b.r })
	pairs = append(pairs, pair{0xFFFF, 0}) // the required final segment
	segs := len(pairs)
	entrySelector := 0
	for 1<<(entrySelector+1) <= segs {
		entrySelector++
	}
	searchRange := 2 << entrySelector
	sub := []byte{}
	for _, v := range []int{4, 16 + 8*segs, 0, 2 * segs, searchRange, entrySelector, 2*segs - searchRange} {
		sub = binary.BigEndian.AppendUint16(sub, uint16(v))
	}
	for _, p := range pairs { // endCode
		sub = binary.BigEndian.AppendUint16(sub, p.r)
	}
	sub = binary.BigEndian.AppendUint16(sub, 0) // reservedPad
	for _, p := range pairs {                   // startCode
		sub = binary.BigEndian.AppendUint16(sub, p.r)
	}
	for _, p := range pairs { // idDelta: glyph = (code + delta) mod 65536
		delta := p.gid - p.r
		if p.r == 0xFFFF {
			delta = 1
		}
		sub = binary.BigEndian.AppendUint16(sub, delta)
	}
	for range pairs { // idRangeOffset
		sub = binary.BigEndian.AppendUint16(sub, 0)
	}
	out := []byte{0, 0, 0, 1, 0, 3, 0, 1, 0, 0, 0, 12} // version 0, one table: (3,1) at 12
	return append(out, sub...)
}

// ttfTables reads the table directory of a TrueType font.
func ttfTables(src []byte) (map[string][]byte, error) {
	if len(src) < 12 {
		return nil, errors.New("short font")
	}
	n := int(binary.BigEndian.Uint16(src[4:]))
	if len(src) < 12+16*n {
		return nil, errors.New("short table directory")
	}
	tables := map[string][]byte{}
	for i := range n {
		rec := src[12+16*i:]
		off, length := int(binary.BigEndian.Uint32(rec[8:])), int(binary.BigEndian.Uint32(rec[12:]))
		if off < 0 || length < 0 || off+length > len(src) {
			return nil, fmt.Errorf("table %q out of range", rec[:4])
		}
		tables[string(rec[:4])] = src[off : off+length]
	}
	return tables, nil
}

// compositeComponents returns the glyph ids a composite glyph refers to (TrueType glyf table,
// composite glyph description); nil for a simple or empty glyph.
func compositeComponents(data []byte) []uint16 {
	var comps []uint16
	for _, at := range compositeRefs(data) {
		comps = append(comps, binary.BigEndian.Uint16(data[at:]))
	}
	return comps
}

// compositeRefs returns the byte offsets, in a glyph description, of the glyphIndex fields of its
// components; nil for a simple or empty glyph.
func compositeRefs(data []byte) []int {
	if len(data) < 10 || int16(binary.BigEndian.Uint16(data)) >= 0 {
		return nil
	}
	var refs []int
	p := 10
	for p+4 <= len(data) {
		flags := binary.BigEndian.Uint16(data[p:])
		refs = append(refs, p+2)
		p += 4
		if flags&0x0001 != 0 { // ARG_1_AND_2_ARE_WORDS
			p += 4
		} else {
			p += 2
		}
		switch {
		case flags&0x0008 != 0: // WE_HAVE_A_SCALE
			p += 2
		case flags&0x0040 != 0: // WE_HAVE_AN_X_AND_Y_SCALE
			p += 4
		case flags&0x0080 != 0: // WE_HAVE_A_TWO_BY_TWO
			p += 8
		}
		if flags&0x0020 == 0 { // MORE_COMPONENTS
			break
		}
	}
	return refs
}

// writeTTF assembles tables (sorted by tag) into a TrueType file.
func writeTTF(tables map[string][]byte) []byte {
	tags := make([]string, 0, len(tables))
	for t := range tables {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	n := len(tags)
	entrySelector := 0
	for 1<<(entrySelector+1) <= n {
		entrySelector++
	}
	searchRange := 16 << entrySelector
	out := binary.BigEndian.AppendUint32(nil, 0x00010000)
	out = binary.BigEndian.AppendUint16(out, uint16(n))
	out = binary.BigEndian.AppendUint16(out, uint16(searchRange))
	out = binary.BigEndian.AppendUint16(out, uint16(entrySelector))
	out = binary.BigEndian.AppendUint16(out, uint16(16*n-searchRange))
	off := 12 + 16*n
	for _, t := range tags {
		data := tables[t]
		out = append(out, t...)
		out = binary.BigEndian.AppendUint32(out, ttfChecksum(data))
		out = binary.BigEndian.AppendUint32(out, uint32(off))
		out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
		off += (len(data) + 3) &^ 3
	}
	for _, t := range tags {
		out = append(out, tables[t]...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	return out
}

func headOffset(font []byte) int {
	n := int(binary.BigEndian.Uint16(font[4:]))
	for i := range n {
		rec := font[12+16*i:]
		if string(rec[:4]) == "head" {
			return int(binary.BigEndian.Uint32(rec[8:]))
		}
	}
	return 0
}

func ttfChecksum(b []byte) uint32 {
	var sum uint32
	for i := 0; i < len(b); i += 4 {
		var w [4]byte
		copy(w[:], b[i:])
		sum += binary.BigEndian.Uint32(w[:])
	}
	return sum
}
