package annuaire

import (
	"strings"
	"unicode"
)

// Search terms added to the indexed text of an entry, so that the words users type match the
// way names are written in the extraction file.

// joinedForms returns the words a user may type for a name written with an apostrophe, a hyphen
// or a particle as one word: "D'ALMEIDA" → "DALMEIDA", "LE GOFF-ÉRARD" → "LEGOFF",
// "L'HAY-LES-ROSES" → "LHAY HAYLES LESROSES". A short word (elision, particle: d', l', n', o',
// le, mc) is joined to the next one. Longer words are not joined ("JEAN-MARC" gives nothing):
// their joined forms would multiply the terms a typed prefix expands to ("marie" to every
// "marie…" compound first name), which slowed two-word searches tenfold. "" when there is none.
func joinedForms(s string) string {
	words := strings.FieldsFunc(s, func(r rune) bool { return !isTokenRune(r) })
	if len(words) < 2 {
		return ""
	}
	var out []string
	for i := 0; i+1 < len(words); i++ {
		if len([]rune(words[i])) <= 3 && !isDigits(words[i]) && !isDigits(words[i+1]) {
			out = append(out, words[i]+words[i+1])
		}
	}
	return strings.Join(dedupe(out), " ")
}

func dedupe(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := s[:0]
	for _, w := range s {
		if k := strings.ToLower(w); !seen[k] {
			seen[k] = true
			out = append(out, w)
		}
	}
	return out
}

// withJoined returns s followed by its joined forms.
func withJoined(s string) string {
	if j := joinedForms(s); j != "" {
		return s + " " + j
	}
	return s
}

// arrondissement returns the arrondissement number of a Paris, Lyon or Marseille postcode
// ("75015" → "15", "69003" → "3", "75116" → "16"), "" for other postcodes: users type
// "Paris 15" where the file says "75015 PARIS".
func arrondissement(postcode string) string {
	if len(postcode) != 5 || !isDigits(postcode) {
		return ""
	}
	n := int(postcode[3]-'0')*10 + int(postcode[4]-'0')
	switch {
	case strings.HasPrefix(postcode, "750") && n >= 1 && n <= 20, postcode == "75116":
		if postcode == "75116" {
			n = 16
		}
	case strings.HasPrefix(postcode, "6900") && n >= 1 && n <= 9:
	case strings.HasPrefix(postcode, "130") && n >= 1 && n <= 16:
	default:
		return ""
	}
	return itoa(n)
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return string(rune('0'+n/10)) + string(rune('0'+n%10))
}

// cityTerms is the indexed text of the city of e: the city, its joined forms and, in Paris, Lyon
// and Marseille, the arrondissement number.
func cityTerms(e *Entry) string {
	s := withJoined(e.City)
	if a := arrondissement(e.PostalCode); a != "" {
		s += " " + a
	}
	return s
}

// orgTerms is the indexed text of the organisation of e: its name, its trade name when it
// differs, and their joined forms.
func orgTerms(e *Entry) string {
	s := withJoined(e.Organization)
	if e.TradeName != "" && !strings.EqualFold(e.TradeName, e.Organization) {
		s += " " + withJoined(e.TradeName)
	}
	return s
}

// synonyms are the abbreviations of the extraction file's addresses (La Poste norm: "ST DENIS"
// for Saint-Denis) and their long forms, a query word of either form matching both; and the word
// users say for a label of the file ("généraliste" for "Qualifié en Médecine Générale").
var synonyms = map[string]string{"st": "saint", "saint": "st", "ste": "sainte", "sainte": "ste",
	"generaliste": "generale", "generalistes": "generale"}

// synonym returns the other form of w ("st" ↔ "saint"), "" when there is none. An ordinal
// ("15e", "15ème", "1er") gives its number, for "Paris 15e".
func synonym(w string) string {
	f := Fold(w)
	for _, suffix := range []string{"eme", "ieme", "er", "e"} {
		if n := strings.TrimSuffix(f, suffix); n != f && len(n) <= 2 && isDigits(n) {
			return n
		}
	}
	return synonyms[strings.TrimFunc(f, func(r rune) bool { return !unicode.IsLetter(r) })]
}
