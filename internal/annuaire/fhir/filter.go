package fhir

import (
	"encoding/json"
	"strings"

	"github.com/mssante/mssante/internal/annuaire"
	"github.com/mssante/mssante/internal/fold"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// filter applies the parts of a query the server did not: every word of the text must begin a
// word of the entry (accents and case folded), and the type, profession and department filters.
type filter struct {
	words      []string
	mailbox    string
	typ        string
	profession string
	department string
}

func newFilter(q annuaire.Query) filter {
	f := filter{typ: strings.ToUpper(q.Type), profession: fold.Words(q.Profession), department: strings.ToUpper(strings.TrimSpace(q.Department))}
	text := strings.TrimSpace(q.Text)
	if strings.Contains(text, "@") {
		f.mailbox = strings.ToLower(strings.Fields(text)[0])
		return f
	}
	f.words = strings.Fields(fold.Words(text))
	return f
}

func (f filter) match(e annuaire.Entry) bool {
	if f.typ != "" && e.Type != f.typ {
		return false
	}
	if f.department != "" && e.Department != f.department {
		return false
	}
	if f.profession != "" && !strings.Contains(fold.Words(e.Profession), f.profession) && e.ProfessionCode != f.profession {
		return false
	}
	if f.mailbox != "" {
		return strings.Contains(strings.ToLower(e.Address), f.mailbox)
	}
	hay := " " + fold.Words(strings.Join([]string{e.LastName, e.FirstName, e.Profession, e.Specialty, e.Organization,
		e.Service, e.City, e.PostalCode, e.Address}, " ")) + " "
	for _, w := range f.words {
		if !strings.Contains(hay, " "+w) {
			return false
		}
	}
	return true
}
