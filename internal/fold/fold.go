// Package fold turns French names and labels into search keys: the form in which the directory
// and the known-patients base compare what a professional types with what they hold.
package fold

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Words returns s lower-cased, without diacritics, with the ligatures œ, æ and ß expanded, and every
// run of characters other than letters and digits turned into one space: "Hélène-Œdipe  d'Arc"
// gives "helene oedipe d arc".
func Words(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := true
	// Invalid UTF-8 stops the decomposition of what follows it: it becomes a separator first.
	for _, r := range norm.NFD.String(strings.ToValidUTF8(s, " ")) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == 'œ' || r == 'Œ':
			b.WriteString("oe")
		case r == 'æ' || r == 'Æ':
			b.WriteString("ae")
		case r == 'ß':
			b.WriteString("ss")
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
	}
	return strings.TrimSpace(b.String())
}
