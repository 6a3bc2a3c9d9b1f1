package fold

import "testing"

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
	for _, s := range []string{"Hélène-Œdipe d'Arc", "ß", "\u0301", "a  b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w := Words(s)
		if Words(w) != w {
			t.Fatalf("Words is not idempotent on %q: %q then %q", s, w, Words(w))
		}
	})
}
