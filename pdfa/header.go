package pdfa

import (
	"fmt"
	"strings"

	"github.com/mssante/mssante/cda"
)

// Font sizes in points.
const (
	sizeTitle   = 16.0
	sizeBody    = 10.0
	sizeTable   = 9.0
	sizeFooter  = 8.0
	sizeHeading = 13.0
	// sizeFitFloor is the smallest size to which a long title or heading shrinks to stay on one
	// line: text extraction (pdftotext) then finds it whole, not split across lines.
	sizeFitFloor = 7.0
)

// documentTitle is the title shown and written in the metadata: the CDA title, else the display
// name of the document type.
func documentTitle(doc *cda.Document) string {
	if t := strings.TrimSpace(doc.Title); t != "" {
		return t
	}
	if doc.Code.DisplayName != "" {
		return doc.Code.DisplayName
	}
	return "Document CDA"
}

// personName formats a name as French documents print it: prefix, given names, FAMILY.
func personName(n cda.Name) string {
	parts := []string{}
	if n.Prefix != "" {
		parts = append(parts, n.Prefix)
	}
	parts = append(parts, n.Given...)
	if n.Family != "" {
		parts = append(parts, strings.ToUpper(n.Family))
	}
	if n.Suffix != "" {
		parts = append(parts, n.Suffix)
	}
	return strings.Join(parts, " ")
}

// authorLine names the first author for the metadata.
func authorLine(doc *cda.Document) string {
	for _, a := range doc.Authors {
		if a.Person != nil {
			if s := personName(a.Person.Name); s != "" {
				return s
			}
		}
		if a.Device != "" {
			return a.Device
		}
	}
	return ""
}

// formatTS prints a CDA time at its precision, in French: "03/12/2019 à 13:30 (UTC+01:00)".
func formatTS(ts cda.TS) string {
	if ts.IsZero() {
		return ts.Raw
	}
	t := ts.Time
	digits := 0
	for _, r := range ts.Raw {
		if r == '+' || r == '-' || r == '.' {
			break
		}
		digits++
	}
	var s string
	switch {
	case digits <= 4:
		s = t.Format("2006")
	case digits <= 6:
		s = t.Format("01/2006")
	case digits <= 8:
		s = t.Format("02/01/2006")
	default:
		s = t.Format("02/01/2006 à 15:04")
	}
	if digits > 8 && ts.HasZone {
		s += " (UTC" + t.Format("-07:00") + ")"
	}
	return s
}

func codeText(c cda.Code) string {
	switch {
	case c.DisplayName != "" && c.Code != "":
		return c.DisplayName + " (" + c.Code + ")"
	case c.DisplayName != "":
		return c.DisplayName
	}
	return c.Code
}

func orgText(o *cda.Organization) string {
	if o == nil {
		return ""
	}
	parts := []string{}
	for _, s := range []string{o.Name, o.Addr} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

func authorText(a cda.Author) string {
	parts := []string{}
	org := a.Organization
	if a.Person != nil {
		if s := personName(a.Person.Name); s != "" {
			parts = append(parts, s)
		}
		if a.Person.Specialty.DisplayName != "" {
			parts = append(parts, a.Person.Specialty.DisplayName)
		}
		if org == nil {
			org = a.Person.Organization
		}
	}
	if a.Device != "" {
		parts = append(parts, a.Device)
	}
	if s := orgText(org); s != "" {
		parts = append(parts, s)
	}
	s := strings.Join(parts, ", ")
	if !a.Time.IsZero() {
		s += " — le " + formatTS(a.Time)
	}
	return s
}

// patientText is the patient line: name, birth date, sex, INS.
func patientText(p cda.Patient) string {
	id := p.Identity
	name := personName(p.Name)
	if name == "" && (id.BirthName != "" || id.FirstName != "") {
		name = strings.TrimSpace(id.FirstName + " " + strings.ToUpper(id.BirthName))
	}
	parts := []string{}
	if name != "" {
		parts = append(parts, name)
	}
	if id.BirthName != "" && !strings.Contains(strings.ToUpper(name), strings.ToUpper(id.BirthName)) {
		parts = append(parts, "né(e) "+strings.ToUpper(id.BirthName))
	}
	if !p.BirthTime.IsZero() {
		parts = append(parts, "né(e) le "+formatTS(p.BirthTime))
	}
	switch p.Gender.Code {
	case "F":
		parts = append(parts, "sexe féminin")
	case "M":
		parts = append(parts, "sexe masculin")
	}
	if !id.INS.Matricule.IsZero() {
		parts = append(parts, "INS "+id.INS.Matricule.String())
	}
	return strings.Join(parts, ", ")
}

// renderHeader lays out the title and the header data ECO.2.1.5 names, with the referential's
// wording: Type de document, Date et heure de création, Auteur, Organisation conservant le
// document, Responsable du document (legal authenticator); plus the patient and the acts.
func renderHeader(l *layout, doc *cda.Document) {
	title := documentTitle(doc)
	l.paragraph([]run{{title, styleBold}}, marginLeft, contentWidth, l.fitSize(title, styleBold, sizeTitle, sizeFitFloor))
	l.y -= 4
	field := func(label, value string) {
		if strings.TrimSpace(value) == "" {
			return
		}
		l.paragraph([]run{{label + " : ", styleBold}, {value, styleRegular}}, marginLeft, contentWidth, sizeBody)
	}
	// The data ECO.2.1.5 requires are always shown: a document that lacks one says so.
	required := func(label, value, missing string) {
		if strings.TrimSpace(value) == "" {
			value = missing
		}
		field(label, value)
	}
	required("Type de document", codeText(doc.Code), "non renseigné dans le document")
	required("Date et heure de création", formatTS(doc.EffectiveTime), "non renseignée dans le document")
	field("Patient", patientText(doc.Patient))
	authors := 0
	for _, a := range doc.Authors {
		if v := authorText(a); strings.TrimSpace(v) != "" {
			field("Auteur", v)
			authors++
		}
	}
	if authors == 0 {
		field("Auteur", "non renseigné dans le document")
	}
	required("Organisation conservant le document", orgText(doc.Custodian), "non renseignée dans le document")
	for _, e := range doc.ServiceEvents {
		v := codeText(e.Code)
		if !e.Low.IsZero() {
			if v != "" {
				v += " — "
			}
			v += "le " + formatTS(e.Low)
		}
		field("Acte", v)
	}
	if la := doc.LegalAuthenticator; la != nil {
		v := personName(la.Name)
		if !doc.LegalAuthenticationTime.IsZero() {
			v += " — le " + formatTS(doc.LegalAuthenticationTime)
		}
		field("Responsable du document", v)
	}
	l.y -= 4
	l.rule(marginLeft, pageWidth-marginRight, l.y, 1)
	l.y -= 10
}

// renderFooters writes on every page the patient and the page number.
func renderFooters(l *layout, doc *cda.Document) {
	left := documentTitle(doc)
	if p := personName(doc.Patient.Name); p != "" {
		left = p + " — " + left
	}
	fs := l.fonts.face(styleRegular)
	for i, p := range l.pages {
		keep := l.pages
		l.pages = []*page{p} // draw on page p
		right := fmt.Sprintf("Page %d / %d", i+1, len(keep))
		rw := float64(fs.width(right)) * sizeFooter / 1000
		y := marginBottom - 25
		l.rule(marginLeft, pageWidth-marginRight, y+sizeFooter+3, 0.5)
		maxLeft := contentWidth - rw - 20
		text := l.clean(left, styleRegular)
		for float64(fs.width(text))*sizeFooter/1000 > maxLeft && len([]rune(text)) > 1 {
			r := []rune(text)
			text = string(r[:len(r)-2]) + "…"
		}
		l.text(marginLeft, y, sizeFooter, styleRegular, text)
		l.text(pageWidth-marginRight-rw, y, sizeFooter, styleRegular, right)
		l.pages = keep
	}
}
