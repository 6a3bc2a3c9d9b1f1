// Package fold turns French names and labels into search keys: the form in which the directory
// and the known-patients base compare what a professional types with what they hold.
package fold

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Words returns s lower-cased, without diacritics, with the ligatures œ, æ and ß expanded, and every
// run of characters other than letters and digits turned into one space: "Hélène-Œdipe  d'Arc"
// gives "helene oedipe d arc".
func Words(s string) string {
	w := words{}
	w.b.Grow(len(s))
	w.space = true
	// ASCII characters are starters that NFD leaves as they are: only the runs of other bytes
	// are decomposed (the same result as decomposing the whole string, at a fraction of the
	// cost on mostly ASCII text). Invalid UTF-8 stops the decomposition of what follows it: it
	// becomes a separator first.
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			w.ascii(c)
			i++
			continue
		}
		j := i + 1
		for j < len(s) && s[j] >= utf8.RuneSelf {
			j++
		}
		if run := s[i:j]; !w.table(run) {
			for _, r := range norm.NFD.String(strings.ToValidUTF8(run, " ")) {
				w.rune(r)
			}
		}
		i = j
	}
	return strings.TrimSpace(w.b.String())
}

type words struct {
	b     strings.Builder
	space bool // the last byte written is a space, or nothing was written
}

// table writes run rune by rune from the folded forms of latinTable and reports true, or
// writes nothing and reports false when a rune of run is not in the table (or invalid).
// Folding rune by rune gives what the decomposition of the whole run gives here: in the table,
// a rune decomposes into at most one starter and nonspacing marks (Mn), which are dropped, so
// that the reordering of marks across runes changes nothing.
func (w *words) table(run string) bool {
	for _, r := range run {
		if !inTable(r) {
			return false
		}
	}
	for _, r := range run {
		for _, c := range []byte(latinTable[tableIndex(r)]) {
			if c == ' ' {
				w.separator()
			} else {
				w.b.WriteByte(c)
				w.space = false
			}
		}
	}
	return true
}

// The table covers Latin-1 Supplement to the combining diacritical marks (U+0080–U+036F) and
// the general punctuation (U+2000–U+206F: ’, –, …), where French text lives.
const (
	tableLow, tableHigh = 0x80, 0x370
	punctLow, punctHigh = 0x2000, 0x2070
)

func inTable(r rune) bool {
	return tableLow <= r && r < tableHigh || punctLow <= r && r < punctHigh
}

func tableIndex(r rune) int {
	if r < tableHigh {
		return int(r - tableLow)
	}
	return int(r-punctLow) + tableHigh - tableLow
}

// latinTable is the folded form of each rune of the table, a space standing for a separator.
var latinTable = func() []string {
	t := make([]string, tableHigh-tableLow+punctHigh-punctLow)
	for _, span := range [][2]rune{{tableLow, tableHigh}, {punctLow, punctHigh}} {
		for r := span[0]; r < span[1]; r++ {
			w := words{}
			for _, d := range norm.NFD.String(string(r)) {
				w.space = false // each separator writes its space, merged when the entry is used
				w.rune(d)
			}
			t[tableIndex(r)] = w.b.String()
		}
	}
	return t
}()

func (w *words) ascii(c byte) {
	switch {
	case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
		w.b.WriteByte(c)
	case 'A' <= c && c <= 'Z':
		w.b.WriteByte(c + 'a' - 'A')
	default:
		w.separator()
		return
	}
	w.space = false
}

func (w *words) separator() {
	if !w.space {
		w.b.WriteByte(' ')
	}
	w.space = true
}

func (w *words) rune(r rune) {
	switch {
	case unicode.Is(unicode.Mn, r):
		return
	case r == 'œ' || r == 'Œ':
		w.b.WriteString("oe")
	case r == 'æ' || r == 'Æ':
		w.b.WriteString("ae")
	case r == 'ß':
		w.b.WriteString("ss")
	case unicode.IsLetter(r) || unicode.IsDigit(r):
		w.b.WriteRune(unicode.ToLower(r))
	default:
		w.separator()
		return
	}
	w.space = false
}
