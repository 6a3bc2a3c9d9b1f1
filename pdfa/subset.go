package pdfa

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// subsetTrueType returns a copy of the TrueType font src whose glyf table keeps only the outlines
// of the glyphs in gids, glyph 0 (.notdef) and the components of composite glyphs; other glyphs
// become empty. Glyph ids are unchanged, so /CIDToGIDMap /Identity stays valid and hmtx still
// gives every advance. Layout tables (GSUB, GPOS, kern…) are dropped: the PDF positions glyphs.
// kept lists the glyph ids whose outlines the result holds, sorted.
func subsetTrueType(src []byte, gids []uint16) (out []byte, kept []uint16, err error) {
	tables, err := ttfTables(src)
	if err != nil {
		return nil, nil, err
	}
	head, loca, glyf, maxp := tables["head"], tables["loca"], tables["glyf"], tables["maxp"]
	if len(head) < 54 || len(maxp) < 6 || loca == nil || glyf == nil {
		return nil, nil, errors.New("missing head, maxp, loca or glyf table")
	}
	numGlyphs := int(binary.BigEndian.Uint16(maxp[4:]))
	longLoca := binary.BigEndian.Uint16(head[50:]) == 1
	offsets := make([]int, numGlyphs+1)
	for i := range offsets {
		if longLoca {
			if 4*i+4 > len(loca) {
				return nil, nil, errors.New("short loca table")
			}
			offsets[i] = int(binary.BigEndian.Uint32(loca[4*i:]))
		} else {
			if 2*i+2 > len(loca) {
				return nil, nil, errors.New("short loca table")
			}
			offsets[i] = 2 * int(binary.BigEndian.Uint16(loca[2*i:]))
		}
	}
	glyphData := func(g int) ([]byte, error) {
		if g >= numGlyphs || offsets[g] > offsets[g+1] || offsets[g+1] > len(glyf) {
			return nil, fmt.Errorf("glyph %d out of range", g)
		}
		return glyf[offsets[g]:offsets[g+1]], nil
	}

	keep := map[uint16]bool{0: true}
	queue := append([]uint16{0}, gids...)
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

	var newGlyf []byte
	newLoca := make([]byte, 0, 4*(numGlyphs+1))
	for g := range numGlyphs {
		newLoca = binary.BigEndian.AppendUint32(newLoca, uint32(len(newGlyf)))
		if keep[uint16(g)] {
			data, _ := glyphData(g)
			newGlyf = append(newGlyf, data...)
			for len(newGlyf)%4 != 0 {
				newGlyf = append(newGlyf, 0)
			}
		}
	}
	newLoca = binary.BigEndian.AppendUint32(newLoca, uint32(len(newGlyf)))

	newHead := slices.Clone(head)
	binary.BigEndian.PutUint32(newHead[8:], 0) // checkSumAdjustment, set below
	binary.BigEndian.PutUint16(newHead[50:], 1)
	result := map[string][]byte{"head": newHead, "loca": newLoca, "glyf": newGlyf}
	for _, t := range []string{"hhea", "hmtx", "maxp", "cvt ", "fpgm", "prep", "cmap", "name", "OS/2"} {
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

	for g := range keep {
		kept = append(kept, g)
	}
	slices.Sort(kept)
	return out, kept, nil
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
	if len(data) < 10 || int16(binary.BigEndian.Uint16(data)) >= 0 {
		return nil
	}
	var comps []uint16
	p := 10
	for p+4 <= len(data) {
		flags := binary.BigEndian.Uint16(data[p:])
		comps = append(comps, binary.BigEndian.Uint16(data[p+2:]))
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
	return comps
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
