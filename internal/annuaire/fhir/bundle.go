package fhir

import (
	"strings"

	"github.com/mssante/mssante/internal/annuaire"
)

// The part of FHIR R4 JSON the client reads. Unknown fields are ignored.

type bundle struct {
	ResourceType string        `json:"resourceType"`
	Link         []bundleLink  `json:"link"`
	Entry        []bundleEntry `json:"entry"`
	Issue        []Issue       `json:"issue"` // when the answer is an OperationOutcome
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	Resource *resource `json:"resource"`
	Search   struct {
		Mode string `json:"mode"` // match, include
	} `json:"search"`
}

type resource struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Identifier   []identifier      `json:"identifier"`
	Name         humanOrString     `json:"name"`
	Telecom      []contactPoint    `json:"telecom"`
	Address      []address         `json:"address"`
	Extension    []extension       `json:"extension"`
	Practitioner *reference        `json:"practitioner"`
	Organization *reference        `json:"organization"`
	Code         []codeableConcept `json:"code"`
	Specialty    []codeableConcept `json:"specialty"`
	// Qualification holds, on a v2 Practitioner, the profession (TRE_G15) and the specialties
	// (TRE_R38) among diplomas and other titles.
	Qualification []struct {
		Code codeableConcept `json:"code"`
	} `json:"qualification"`
}

// humanOrString holds Practitioner.name (HumanName list) or Organization.name (string).
type humanOrString struct {
	Human []humanName
	Text  string
}

func (h *humanOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return jsonUnmarshal(b, &h.Text)
	}
	return jsonUnmarshal(b, &h.Human)
}

type humanName struct {
	Use    string   `json:"use"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
	Prefix []string `json:"prefix"`
	Suffix []string `json:"suffix"`
}

type identifier struct {
	System string          `json:"system"`
	Value  string          `json:"value"`
	Type   codeableConcept `json:"type"`
}

type contactPoint struct {
	System    string      `json:"system"`
	Value     string      `json:"value"`
	Extension []extension `json:"extension"`
}

type address struct {
	City       string `json:"city"`
	PostalCode string `json:"postalCode"`
}

type reference struct {
	Reference string `json:"reference"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type extension struct {
	URL                  string           `json:"url"`
	Extension            []extension      `json:"extension"`
	ValueString          *string          `json:"valueString"`
	ValueBoolean         *bool            `json:"valueBoolean"`
	ValueCoding          *coding          `json:"valueCoding"`
	ValueCodeableConcept *codeableConcept `json:"valueCodeableConcept"`
	ValueHumanName       *humanName       `json:"valueHumanName"`
}

// Extension URLs are matched on their last segment: the ANS moved them between hosts
// (apifhir.annuaire.sante.fr, interop.esante.gouv.fr).
const (
	extMailboxMetadata = "as-ext-mailbox-mss-metadata"
	extEmailType       = "fr-core-contact-point-email-type"
	extRoleName        = "practitionerrole-name" // as-ext-practitionerrole-name, exercise name
	// oidRPPS is the identifier system of the national id of professionals (idNat_PS).
	oidRPPS = "urn:oid:1.2.250.1.71.4.2.1"
)

// urlIs reports whether the extension URL u names name: its last segment, case folded (the v1
// API writes structuredefinition/practitionerRole-name), with or without the "as-ext-" prefix
// of the v2 IG.
func urlIs(u, name string) bool {
	last := strings.ToLower(u[strings.LastIndexByte(u, '/')+1:])
	name = strings.ToLower(name)
	return last == name || strings.TrimPrefix(last, "as-ext-") == strings.TrimPrefix(name, "as-ext-")
}

// legacyMailboxNames are the last URL segments of the resource-level mailbox extension of the
// first API versions and IG drafts (…/StructureDefinition/MailboxMSS,
// …/structuredefinition/mailboxMSS, as-ext-mailbox-mss): the address is its "value"
// sub-extension, beside the same type, description and service as the v2 metadata.
var legacyMailboxNames = []string{"mailboxmss", "mailbox-mss", "as-ext-mailbox-mss"}

// legacyMailboxes returns the mailboxes of resource-level MailboxMSS extensions.
func legacyMailboxes(exts []extension) []mailbox {
	var out []mailbox
	for _, e := range exts {
		last := strings.ToLower(e.URL[strings.LastIndexByte(e.URL, '/')+1:])
		legacy := false
		for _, n := range legacyMailboxNames {
			legacy = legacy || last == n
		}
		if !legacy {
			continue
		}
		var m mailbox
		for _, s := range e.Extension {
			if s.URL == "value" {
				m.address = str(s.ValueString)
			}
		}
		if !strings.Contains(m.address, "@") {
			continue
		}
		m.readMetadata(e.Extension)
		out = append(out, m)
	}
	return out
}

// refKey returns the "Type/id" key of a reference, which may be relative ("Organization/1"),
// absolute ("https://…/fhir/v2/Organization/1") or versioned ("Organization/1/_history/2").
func refKey(ref string) string {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	ref = strings.TrimRight(ref, "/")
	j := strings.LastIndexByte(ref, '/')
	if j <= 0 {
		return ref
	}
	k := strings.LastIndexByte(ref[:j], '/')
	return ref[k+1:]
}

// mailbox is an MSSanté telecom with its metadata.
type mailbox struct {
	address, typ, description, service string
	redList, digitization              bool
}

// mailboxes returns the MSSanté mailboxes among telecoms: system email with the mailbox metadata
// extension or the MSSANTE email type. Ordinary contact e-mails are left out.
func mailboxes(telecoms []contactPoint) []mailbox {
	var out []mailbox
	for _, t := range telecoms {
		if t.System != "email" || !strings.Contains(t.Value, "@") {
			continue
		}
		m := mailbox{address: strings.TrimSpace(t.Value)}
		mss := false
		for _, e := range t.Extension {
			switch {
			case urlIs(e.URL, extEmailType):
				mss = mss || e.ValueCoding != nil && e.ValueCoding.Code == "MSSANTE"
			case urlIs(e.URL, extMailboxMetadata):
				mss = true
				m.readMetadata(e.Extension)
			}
		}
		if mss {
			out = append(out, m)
		}
	}
	return out
}

func (m *mailbox) readMetadata(exts []extension) {
	for _, s := range exts {
		switch s.URL {
		case "type":
			if s.ValueCodeableConcept != nil && len(s.ValueCodeableConcept.Coding) > 0 {
				m.typ = strings.ToUpper(s.ValueCodeableConcept.Coding[0].Code)
			} else if s.ValueCoding != nil {
				m.typ = strings.ToUpper(s.ValueCoding.Code)
			}
		case "description":
			m.description = str(s.ValueString)
		case "service":
			m.service = str(s.ValueString)
		case "listeRouge":
			m.redList = s.ValueBoolean != nil && *s.ValueBoolean
		case "digitization":
			m.digitization = s.ValueBoolean != nil && *s.ValueBoolean
		}
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

// entries turns the resources of b into directory entries. Organizations only included for a
// practitioner role ("include" mode) give context, not entries.
func (b *bundle) entries() []annuaire.Entry {
	byRef := map[string]*resource{}
	for _, e := range b.Entry {
		if e.Resource != nil && e.Resource.ID != "" {
			byRef[e.Resource.ResourceType+"/"+e.Resource.ID] = e.Resource
		}
	}
	var out []annuaire.Entry
	for _, e := range b.Entry {
		r := e.Resource
		if r == nil {
			continue
		}
		var base annuaire.Entry
		defaultType := annuaire.TypePER
		switch r.ResourceType {
		case "Practitioner":
			base = practitionerEntry(r)
		case "PractitionerRole":
			base = roleEntry(r, byRef)
		case "Organization":
			if e.Search.Mode == "include" {
				continue
			}
			base = organizationEntry(r)
			defaultType = annuaire.TypeORG
		default:
			continue
		}
		for _, m := range append(mailboxes(r.Telecom), legacyMailboxes(r.Extension)...) {
			if m.redList {
				continue // listeRouge: never shown
			}
			entry := base
			entry.Address, entry.Type, entry.Source = m.address, m.typ, "fhir"
			if entry.Type == "" {
				entry.Type = defaultType
			}
			entry.Service = m.service
			if entry.Service == "" && entry.Type != annuaire.TypePER {
				entry.Service = m.description
			}
			out = append(out, entry)
		}
	}
	return out
}

func practitionerEntry(r *resource) annuaire.Entry {
	var e annuaire.Entry
	e.NationalID = nationalID(r.Identifier)
	if n := officialName(r.Name.Human); n != nil {
		e.LastName, e.FirstName, e.Civility = n.Family, first(n.Given), first(n.Prefix)
	}
	for _, q := range r.Qualification {
		for _, cd := range q.Code.Coding {
			switch {
			case isProfession(cd.System) && e.ProfessionCode == "":
				e.ProfessionCode, e.Profession = cd.Code, professionLabel(cd)
			case isSpecialty(cd.System) && e.Specialty == "":
				e.Specialty = cd.Display
				if e.Specialty == "" {
					e.Specialty = cd.Code
				}
			}
		}
	}
	return e
}

func isProfession(system string) bool {
	return strings.Contains(system, "TRE_G15") || strings.Contains(system, "TRE-G15")
}

func isSpecialty(system string) bool {
	return strings.Contains(system, "TRE_R38") || strings.Contains(system, "TRE-R38")
}

// professionLabels names the most frequent professions of TRE_G15-ProfessionSante, for answers
// that carry only the code.
var professionLabels = map[string]string{
	"10": "Médecin", "21": "Pharmacien", "40": "Chirurgien-Dentiste", "50": "Sage-Femme",
	"60": "Infirmier", "70": "Masseur-Kinésithérapeute", "80": "Pédicure-Podologue",
	"91": "Orthophoniste", "92": "Orthoptiste",
}

func professionLabel(cd coding) string {
	if cd.Display != "" {
		return cd.Display
	}
	return professionLabels[cd.Code]
}

func roleEntry(r *resource, byRef map[string]*resource) annuaire.Entry {
	var e annuaire.Entry
	if r.Practitioner != nil {
		if p := byRef[refKey(r.Practitioner.Reference)]; p != nil {
			e = practitionerEntry(p)
		}
	}
	for _, x := range r.Extension {
		if urlIs(x.URL, "as-ext-"+extRoleName) && x.ValueHumanName != nil {
			n := x.ValueHumanName // the exercise name wins over the civil one
			e.LastName, e.FirstName = n.Family, first(n.Given)
			if c := first(n.Prefix); c != "" {
				e.Civility = c
			}
		}
	}
	for _, c := range r.Code {
		for _, cd := range c.Coding {
			if isProfession(cd.System) {
				e.ProfessionCode, e.Profession = cd.Code, professionLabel(cd)
			}
		}
	}
	if len(r.Specialty) > 0 && len(r.Specialty[0].Coding) > 0 && r.Specialty[0].Coding[0].Display != "" {
		e.Specialty = r.Specialty[0].Coding[0].Display
	}
	if r.Organization != nil {
		if o := byRef[refKey(r.Organization.Reference)]; o != nil {
			oe := organizationEntry(o)
			e.Organization, e.City, e.PostalCode, e.Department = oe.Organization, oe.City, oe.PostalCode, oe.Department
		}
	}
	return e
}

func organizationEntry(r *resource) annuaire.Entry {
	e := annuaire.Entry{Organization: strings.TrimSpace(r.Name.Text)}
	if len(r.Address) > 0 {
		e.City, e.PostalCode = strings.TrimSpace(r.Address[0].City), strings.TrimSpace(r.Address[0].PostalCode)
		e.Department = department(e.PostalCode)
	}
	return e
}

// nationalID returns the RPPS national id (idNat_PS) of a practitioner.
func nationalID(ids []identifier) string {
	for _, id := range ids {
		if id.System == oidRPPS {
			return id.Value
		}
	}
	for _, id := range ids {
		for _, c := range id.Type.Coding {
			if c.Code == "IDNPS" || c.Code == "RPPS" {
				return id.Value
			}
		}
	}
	return ""
}

func officialName(ns []humanName) *humanName {
	for i := range ns {
		if ns[i].Use == "official" || ns[i].Use == "usual" {
			return &ns[i]
		}
	}
	if len(ns) > 0 {
		return &ns[0]
	}
	return nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return strings.TrimSpace(s[0])
}

// department derives the department from a French postal code: two digits, three overseas
// (97x, 98x), 2A/2B for Corsica (20000-20199 and 20200-20699).
func department(pc string) string {
	if len(pc) != 5 {
		return ""
	}
	switch {
	case strings.HasPrefix(pc, "97") || strings.HasPrefix(pc, "98"):
		return pc[:3]
	case strings.HasPrefix(pc, "20"):
		if pc < "20200" {
			return "2A"
		}
		return "2B"
	}
	return pc[:2]
}
