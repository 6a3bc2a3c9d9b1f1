package message

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ligatures maps the letters that Unicode does not decompose to their INS-RNIV spelling.
var ligatures = strings.NewReplacer(
	"Œ", "OE", "œ", "oe", "Æ", "AE", "æ", "ae", "ß", "ss", "Ø", "O", "ø", "o",
	"Đ", "D", "đ", "d", "Ł", "L", "ł", "l", "’", "'", "‘", "'", "ʼ", "'",
	"\u2010", "-", "\u2011", "-", // Unicode hyphen and non-breaking hyphen: the ASCII hyphen of INS-RNIV
)

// StripDiacritics removes accents and other combining marks and spells the ligatures out
// (é→e, Ç→C, Œ→OE, æ→ae), keeping the case, the spaces, hyphens and apostrophes as written.
func StripDiacritics(s string) string {
	s = norm.NFD.String(ligatures.Replace(s))
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// RNIVName returns a name in the form INS-RNIV asks for in the subject (ECO.2.1.3): upper case,
// without accents or diacritics, runs of spaces folded. Hyphens and apostrophes are kept.
func RNIVName(s string) string {
	return strings.Join(strings.Fields(strings.ToUpper(StripDiacritics(s))), " ")
}

// Truncate cuts s to at most n characters (Unicode code points of its NFC form), as the
// referential cuts document types to 40 characters (ECO.2.1.3, ECO.2.1.6).
func Truncate(s string, n int) string {
	s = norm.NFC.String(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// SanitizeFileName replaces the characters that common file systems forbid in a name
// (`/ \ : * ? " < > |` and control characters) by "_" (ECO.2.1.6).
func SanitizeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return '_'
		case strings.ContainsRune(`/\:*?"<>|`, r):
			return '_'
		}
		return r
	}, norm.NFC.String(s))
}
