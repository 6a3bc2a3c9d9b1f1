package annuaire

import (
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Ranking of the candidates of a query (at most rankCap of them). Each query word scores the
// weight of the best field it matches, a whole word scoring more than a prefix; an entry's score
// is the sum over the words. The names weigh most, so "dupont" ranks Dr Dupont before the
// Dupont clinic's secretariat and before a colleague working rue Dupont. Ties keep the name order.
// A custom ranking rather than FTS5's bm25: bm25 needs positions for every match and favours
// short rare fields, where a directory wants the name first.

type field struct {
	weight float64
	get    func(*Entry) string
}

var rankFields = []field{
	{10, func(e *Entry) string { return e.LastName }},
	{6, func(e *Entry) string { return e.FirstName }},
	{4, func(e *Entry) string {
		if e.TradeName != "" {
			return e.Organization + " " + e.TradeName
		}
		return e.Organization
	}},
	{3, func(e *Entry) string { return e.Profession }},
	{3, func(e *Entry) string { return e.Specialty }},
	{3, func(e *Entry) string {
		if a := arrondissement(e.PostalCode); a != "" {
			return e.City + " " + a
		}
		return e.City
	}},
	{3, func(e *Entry) string { return e.PostalCode }},
	{2, func(e *Entry) string { return e.Service }},
}

// prefixFactor is the share of a field's weight scored by a prefix match.
const prefixFactor = 0.5

// rankEntries sorts entries best first for the query words (stable: ties keep their order).
func rankEntries(entries []Entry, words []string) {
	folded := make([]string, len(words))
	syns := make([]string, len(words)) // once per query: synonym folds its word
	for i, w := range words {
		folded[i] = foldFast(w)
		syns[i] = synonym(w)
	}
	scores := make([]float64, len(entries))
	for i := range entries {
		scores[i] = score(&entries[i], folded, syns)
	}
	idx := make([]int, len(entries))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	sorted := make([]Entry, len(entries))
	for i, j := range idx {
		sorted[i] = entries[j]
	}
	copy(entries, sorted)
}

// score is the score of e for the folded query words; syns[i] is the synonym of words[i] or "".
func score(e *Entry, words, syns []string) float64 {
	var folded [8]string
	for i, f := range rankFields {
		folded[i] = foldFast(f.get(e))
	}
	total := 0.0
	for wi, w := range words {
		best := 0.0
		for i, f := range rankFields {
			if f.weight <= best {
				continue
			}
			m := matchToken(folded[i], w)
			if syn := syns[wi]; syn != "" && m < 2 {
				m = max(m, matchToken(folded[i], syn))
			}
			switch m {
			case 2:
				best = f.weight
			case 1:
				best = max(best, f.weight*prefixFactor)
			}
		}
		if best == 0 { // "dalmeida", "legoff": the joined forms, computed only when needed
			best = joinedScore(e, w)
		}
		total += best
	}
	return total
}

// joinedFields are the fields whose joined forms (joinedForms) a word may match, with the weight
// of the field.
var joinedFields = []field{rankFields[0], rankFields[1], rankFields[2], rankFields[5]}

func joinedScore(e *Entry, w string) float64 {
	best := 0.0
	for _, f := range joinedFields {
		if f.weight <= best {
			continue
		}
		j := joinedForms(f.get(e))
		if j == "" {
			continue
		}
		switch matchToken(foldFast(j), w) {
		case 2:
			best = f.weight
		case 1:
			best = max(best, f.weight*prefixFactor)
		}
	}
	return best
}

// matchToken returns 2 when a token of the folded text s equals w, 1 when one starts with w.
func matchToken(s, w string) int {
	res := 0
	for s != "" {
		i := strings.IndexFunc(s, isTokenRune)
		if i < 0 {
			break
		}
		s = s[i:]
		j := strings.IndexFunc(s, func(r rune) bool { return !isTokenRune(r) })
		if j < 0 {
			j = len(s)
		}
		tok := s[:j]
		s = s[j:]
		if tok == w {
			return 2
		}
		if strings.HasPrefix(tok, w) {
			res = 1
		}
	}
	return res
}

func isTokenRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// foldFast is Fold without allocation-heavy normalisation for Latin text: ASCII is lowered,
// Latin-1 and Latin Extended-A letters are mapped through a table built once with Fold.
func foldFast(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	latinOnce.Do(buildLatin)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(unicode.ToLower(r))
		case r < rune(len(latinFold)) && latinFold[r] != "":
			b.WriteString(latinFold[r])
		default:
			return Fold(s)
		}
	}
	return b.String()
}

var (
	latinOnce sync.Once
	latinFold [0x250]string
)

func buildLatin() {
	for r := rune(0x80); r < rune(len(latinFold)); r++ {
		if unicode.IsLetter(r) || unicode.IsSpace(r) || unicode.IsPunct(r) {
			latinFold[r] = Fold(string(r))
		}
	}
}
