package cda

import (
	"fmt"
	"strings"
)

// document converts the decoded XML into a Document, collecting warnings.
func (x *xDocument) document() (*Document, error) {
	d := &Document{
		ID:              x.ID.ii(),
		Confidentiality: x.Confidentiality.code(),
		Language:        strings.TrimSpace(x.Language.Code),
		SetID:           x.SetID.ii(),
		Version:         strings.TrimSpace(x.Version.Value),
	}
	for _, r := range x.Related {
		d.RelatedDocuments = append(d.RelatedDocuments, RelatedDocument{
			TypeCode: strings.TrimSpace(r.TypeCode), ID: r.ID.ii(), SetID: r.SetID.ii(),
			Version: strings.TrimSpace(r.Version.Value),
		})
	}
	for _, t := range x.TemplateIDs {
		d.TemplateIDs = append(d.TemplateIDs, t.ii())
	}
	if x.Code != nil {
		d.Code = x.Code.code()
	}
	if d.Code.Code == "" {
		d.warn(fmt.Errorf("%w: ClinicalDocument/code/@code", ErrMissing))
	}
	if x.Title != nil {
		d.Title = strings.TrimSpace(foldSpace(string(*x.Title)))
	}
	if d.Title == "" {
		d.warn(fmt.Errorf("%w: ClinicalDocument/title", ErrMissing))
	}
	if d.ID.Root == "" {
		d.warn(fmt.Errorf("%w: ClinicalDocument/id/@root", ErrMissing))
	}
	d.EffectiveTime = d.ts("ClinicalDocument/effectiveTime", x.EffectiveTime.Value)
	if d.EffectiveTime.Raw == "" {
		d.warn(fmt.Errorf("%w: ClinicalDocument/effectiveTime", ErrMissing))
	}

	if len(x.RecordTargets) == 0 || x.RecordTargets[0].Role == nil {
		return nil, ErrNoPatient
	}
	if len(x.RecordTargets) > 1 {
		d.warn(fmt.Errorf("%d recordTarget elements: only the first patient is read", len(x.RecordTargets)))
	}
	d.readPatient(x.RecordTargets[0].Role)

	for i, a := range x.Authors {
		d.Authors = append(d.Authors, d.author(i, a))
	}
	if len(d.Authors) == 0 {
		d.warn(fmt.Errorf("%w: ClinicalDocument/author", ErrMissing))
	}
	if x.Custodian != nil {
		d.Custodian = x.Custodian.organization()
	}
	if x.LegalAuth != nil {
		d.LegalAuthenticationTime = d.ts("legalAuthenticator/time", x.LegalAuth.Time.Value)
		if x.LegalAuth.Assigned != nil {
			d.LegalAuthenticator = x.LegalAuth.Assigned.person()
		}
	}
	for i, e := range x.ServiceEvents {
		d.ServiceEvents = append(d.ServiceEvents, d.serviceEvent(i, e))
	}
	if x.FacilityCode != nil {
		d.HealthcareFacilityType = x.FacilityCode.code()
	}
	d.readBody(x)
	return d, nil
}

func (d *Document) warn(err error) { d.Warnings = append(d.Warnings, err) }

// ts reads a time and records a warning naming path when it is unreadable.
func (d *Document) ts(path, raw string) TS {
	t, err := ParseTS(raw)
	if err != nil {
		d.warn(fmt.Errorf("%s: %w", path, err))
	}
	return t
}

func (i xII) ii() II {
	return II{Root: strings.TrimSpace(i.Root), Extension: strings.TrimSpace(i.Extension)}
}

func (c xCode) code() Code {
	return Code{
		Code:           strings.TrimSpace(c.Code),
		DisplayName:    strings.TrimSpace(foldSpace(c.DisplayName)),
		CodeSystem:     strings.TrimSpace(c.CodeSystem),
		CodeSystemName: strings.TrimSpace(c.CodeSystemName),
	}
}

func (d *Document) author(i int, a xAuthor) Author {
	au := Author{Time: d.ts(fmt.Sprintf("author[%d]/time", i+1), a.Time.Value)}
	x := a.Assigned
	if x == nil {
		return au
	}
	if x.Org != nil {
		au.Organization = x.Org.organization()
	}
	switch {
	case x.Person != nil:
		au.Person = x.person()
		au.Person.Organization = au.Organization
	case x.Device != nil:
		var parts []string
		for _, s := range []string{x.Device.Software, x.Device.Model} {
			// CI-SIS samples write "." for an unknown model.
			if s = strings.TrimSpace(foldSpace(s)); s != "" && s != "." {
				parts = append(parts, s)
			}
		}
		au.Device = strings.Join(parts, " ")
	}
	return au
}

// person builds the Person of an assignedAuthor or assignedEntity.
func (x *xAssigned) person() *Person {
	p := &Person{}
	if len(x.IDs) > 0 {
		p.ID = x.IDs[0].ii()
	}
	if x.Code != nil {
		p.Specialty = x.Code.code()
	}
	p.Telecom = telecoms(x.Telecom)
	if x.Person != nil && len(x.Person.Names) > 0 {
		p.Name = x.Person.Names[0].name()
	}
	if x.Org != nil {
		p.Organization = x.Org.organization()
	}
	return p
}

func telecoms(vs []xValue) []string {
	var out []string
	for _, v := range vs {
		if s := strings.TrimSpace(v.Value); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// name reads a person name: prefix, given names in order, first family, suffix.
func (p xParts) name() Name {
	var n Name
	for _, part := range p.Parts {
		v := strings.TrimSpace(foldSpace(part.Text))
		if v == "" {
			continue
		}
		switch part.XMLName.Local {
		case "prefix":
			if n.Prefix == "" {
				n.Prefix = v
			}
		case "given":
			n.Given = append(n.Given, v)
		case "family":
			if n.Family == "" {
				n.Family = v
			}
		case "suffix":
			if n.Suffix == "" {
				n.Suffix = v
			}
		}
	}
	if n.Family == "" && len(n.Given) == 0 {
		n.Family = strings.TrimSpace(foldSpace(p.Text)) // a name written as plain text
	}
	return n
}

func (o *xOrg) organization() *Organization {
	org := &Organization{Telecom: telecoms(o.Telecom)}
	if len(o.IDs) > 0 {
		org.ID = o.IDs[0].ii()
	}
	if len(o.Names) > 0 {
		org.Name = strings.TrimSpace(foldSpace(o.Names[0].Text))
	}
	if len(o.Addr) > 0 {
		org.Addr = o.Addr[0].addressLine()
	}
	return org
}

// addressLine writes an AD on one line: street parts, then postal code and city, then country.
func (p xParts) addressLine() string {
	var street, locality, country []string
	for _, part := range p.Parts {
		v := strings.TrimSpace(foldSpace(part.Text))
		if v == "" {
			continue
		}
		switch part.XMLName.Local {
		case "postalCode", "city":
			locality = append(locality, v)
		case "country":
			country = append(country, v)
		case "county", "state", "useablePeriod":
		default:
			street = append(street, v)
		}
	}
	if len(p.Parts) == 0 {
		return strings.TrimSpace(foldSpace(p.Text))
	}
	var lines []string
	for _, l := range [][]string{street, locality, country} {
		if len(l) > 0 {
			lines = append(lines, strings.Join(l, " "))
		}
	}
	return strings.Join(lines, ", ")
}

func (d *Document) serviceEvent(i int, x xServiceEvent) ServiceEvent {
	path := fmt.Sprintf("documentationOf[%d]/serviceEvent/effectiveTime", i+1)
	e := ServiceEvent{Code: x.Code.code()}
	switch {
	case x.Time.Low != nil:
		e.Low = d.ts(path+"/low", x.Time.Low.Value)
	case x.Time.Value != "":
		e.Low = d.ts(path, x.Time.Value)
	}
	if x.Time.High != nil {
		e.High = d.ts(path+"/high", x.Time.High.Value)
	}
	for _, p := range x.Performers {
		if p.Assigned == nil {
			continue
		}
		e.Performer = p.Assigned.person()
		if p.Assigned.Org != nil && p.Assigned.Org.Industry != nil {
			e.PracticeSetting = p.Assigned.Org.Industry.code()
		}
		break
	}
	return e
}

// String writes the name as a professional reads it: "Dr Hélène MARCHAND".
func (n Name) String() string {
	parts := make([]string, 0, len(n.Given)+3)
	if n.Prefix != "" {
		parts = append(parts, n.Prefix)
	}
	parts = append(parts, n.Given...)
	for _, p := range []string{n.Family, n.Suffix} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}
