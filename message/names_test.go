package message

import "testing"

// ECO.2.1.3: names in upper case without accents or diacritics (INS-RNIV).
func TestRNIVName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Éloïse", "ELOISE"},
		{"béranger", "BERANGER"},
		{"Cœur-Joie", "COEUR-JOIE"},
		{"Lætitia", "LAETITIA"},
		{"D'Artagnan  de   Castelmore", "D'ARTAGNAN DE CASTELMORE"},
		{"Strauß", "STRAUSS"},
		{"Çağla", "CAGLA"},
		{"PAT-TROIS", "PAT-TROIS"},
		{"Marie\u2011Noëlle O\u2019Neil\u2010Dupré", "MARIE-NOELLE O'NEIL-DUPRE"},
		{"", ""},
	} {
		if got := RNIVName(tc.in); got != tc.want {
			t.Errorf("RNIVName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// ECO.2.1.3, ECO.2.1.6: the document type is cut to 40 characters, not bytes.
func TestTruncate(t *testing.T) {
	long := "Lettre de liaison à la sortie d'un établissement de soins"
	if got, want := Truncate(long, MaxTypeLength), "Lettre de liaison à la sortie d'un établ"; got != want {
		t.Errorf("Truncate(%q, 40) = %q, want %q", long, got, want)
	}
	decomposed := "e\u0301te\u0301" // "été" written with combining accents: 3 characters
	if got := Truncate(decomposed, 3); got != "été" {
		t.Errorf("Truncate(decomposed, 3) = %q, want %q", got, "été")
	}
	if got := Truncate("court", 40); got != "court" {
		t.Errorf("Truncate(court) = %q", got)
	}
}

// ECO.2.1.6: characters that file systems forbid are replaced.
func TestSanitizeFileName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`CR a/b\c:d*e?f"g<h>i|j`, "CR a_b_c_d_e_f_g_h_i_j"},
		{"tab\there\nnl", "tab_here_nl"},
		{"CR d'anesthésie", "CR d'anesthésie"},
	} {
		if got := SanitizeFileName(tc.in); got != tc.want {
			t.Errorf("SanitizeFileName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
