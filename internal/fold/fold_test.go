package fold

import (
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// wordsRef is Words as first written: the whole string decomposed at once. Words must give the
// same result.
func wordsRef(s string) string {
	var b strings.Builder
	space := true
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

func BenchmarkWords(b *testing.B) {
	s := strings.Repeat("Compte rendu de consultation du Dr Hélène LE GOFF-ÉRARD, données de santé. ", 60)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		Words(s)
	}
}

func TestWords(t *testing.T) {
	for in, want := range map[string]string{
		"Hélène-Œdipe  d'Arc":        "helene oedipe d arc",
		"LE GOFF-ÉRARD":              "le goff erard",
		"Straße Cæcilia":             "strasse caecilia",
		"  N’DIAYE  ":                "n diaye",
		"Saint-Étienne (42) CEDEX 2": "saint etienne 42 cedex 2",
		"Donne\u0301es":              "donnees",
		"":                           "",
	} {
		if got := Words(in); got != want {
			t.Errorf("Words(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzWords(f *testing.F) {
	for _, s := range []string{"Hélène-Œdipe d'Arc", "ß", "\u0301", "a  b", "e\u0301\u0327x", "A\xffe\u0301", "ﬁ ǅ ℌ ½ Ⅻ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w := Words(s)
		if ref := wordsRef(s); w != ref {
			t.Fatalf("Words(%q) = %q, the whole-string decomposition gives %q", s, w, ref)
		}
		if Words(w) != w {
			t.Fatalf("Words is not idempotent on %q: %q then %q", s, w, Words(w))
		}
		// Parts joined by a newline fold to their folded forms joined by a space (the mail
		// index folds the body once and joins it with the rest).
		half := len(s) / 2
		a, b := s[:half], s[half:]
		var parts []string
		for _, p := range []string{Words(a), Words(b)} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		if got, want := Words(a+"\n"+b), strings.Join(parts, " "); got != want {
			t.Fatalf("Words(%q + newline + %q) = %q, the parts folded and joined give %q", a, b, got, want)
		}
	})
}

func BenchmarkWordsRef(b *testing.B) {
	s := strings.Repeat("Compte rendu de consultation du Dr Hélène LE GOFF-ÉRARD, données de santé. ", 60)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		wordsRef(s)
	}
}

// Every rune of the table, alone, between letters, before marks and beside another: the table
// gives what the decomposition of the whole string gives.
func TestWords_tableMatchesDecomposition(t *testing.T) {
	for _, span := range [][2]rune{{0x80, 0x370}, {0x2000, 0x2070}} {
		for r := span[0]; r < span[1]; r++ {
			c := string(r)
			for _, s := range []string{c, "a" + c + "b", c + "\u0327\u0301x", "É" + c + "ß" + c, "-" + c + " " + c} {
				if got, want := Words(s), wordsRef(s); got != want {
					t.Errorf("Words(%q) = %q, want %q", s, got, want)
				}
			}
		}
	}
}
