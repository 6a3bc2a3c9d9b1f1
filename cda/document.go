package cda

import (
	"time"

	"github.com/mssante/mssante/ins"
)

// Level is the CDA level of a document as CI-SIS uses it.
type Level int

const (
	// LevelUnknown: neither a structuredBody nor a nonXMLBody was found.
	LevelUnknown Level = iota
	// N1: the body is a nonXMLBody embedding a document (a PDF, for MSSanté).
	N1
	// N3: the body is a structuredBody with sections (and possibly coded entries).
	N3
)

// String returns "N1", "N3" or "unknown".
func (l Level) String() string {
	switch l {
	case N1:
		return "N1"
	case N3:
		return "N3"
	}
	return "unknown"
}

// II is an HL7 instance identifier.
type II struct {
	Root      string
	Extension string
}

// String returns "root^extension", the XDS uniqueId form, or the root alone without extension.
func (i II) String() string {
	if i.Extension == "" {
		return i.Root
	}
	return i.Root + "^" + i.Extension
}

// Code is an HL7 coded value (CE/CD).
type Code struct {
	Code           string
	DisplayName    string
	CodeSystem     string
	CodeSystemName string
}

// TS is an HL7 point in time: the text as written and its reading.
type TS struct {
	// Raw is the value attribute as written: "20191203133000+0100", "19790328", "2019".
	Raw string
	// Time is Raw read at its precision; the zero time when Raw is empty or unreadable. A value
	// without a time zone is read in Europe/Paris (CI-SIS documents are French local times).
	Time time.Time
	// HasZone reports whether Raw carried a UTC offset.
	HasZone bool
}

// IsZero reports whether the time is absent or unreadable.
func (t TS) IsZero() bool { return t.Time.IsZero() }

// Name is a person's name as CDA writes it.
type Name struct {
	Prefix string   // "Dr", "Pr", "M.", "Mme"
	Given  []string // given names in order
	Family string
	Suffix string
}

// Person is an assigned person or author with their identifier and organisation.
type Person struct {
	ID           II // e.g. RPPS: root 1.2.250.1.71.4.2.1, extension "8" + RPPS number
	Name         Name
	Specialty    Code // assignedAuthor/code
	Organization *Organization
	Telecom      []string
}

// Organization is a represented, custodian or service organisation.
type Organization struct {
	ID      II
	Name    string
	Telecom []string
	Addr    string // one line, as a professional would read it
}

// Author is one author of the document: a person, a device, or only an organisation.
type Author struct {
	Time   TS
	Person *Person // nil for a device author without a person
	// Device names the authoring device when there is no person ("Logiciel X 1.0").
	Device       string
	Organization *Organization
}

// Patient is the recordTarget of the document.
type Patient struct {
	// IDs are every patientRole/id, in document order, known or not.
	IDs []II
	// Identity is built from the first id whose root is a qualifying INS OID (else the legacy
	// INS-C OID, with an ErrLegacyINS warning) and the CI-SIS traits: BirthName = family@BR,
	// UsedName = family@CL (nom utilisé), else family@SP, only when it differs from the birth name;
	// FirstName = given@BR; GivenNames = the given parts without qualifier; BirthDate from birthTime
	// (full date only, midnight UTC); Sex from administrativeGenderCode (M, F, else unknown);
	// BirthplaceCode = birthplace/place/addr/county. Without qualifiers the unqualified parts are
	// used and, when there is an INS, an ErrMissing warning says so.
	// Identity.INS.Matricule is zero when the document carries no INS; see Document.Warnings for a
	// wrong key (the matricule is kept: reading warns, writing refuses).
	Identity ins.Identity
	// Name is the name for display: the used family name (CL, SP, else birth name), the used given
	// name (given@CL, else the first given name), prefix and suffix.
	Name      Name
	BirthTime TS
	Gender    Code
}

// ServiceEvent is documentationOf/serviceEvent: the act the document reports.
type ServiceEvent struct {
	Code Code
	Low  TS // act date (ECO.2.1.6)
	High TS
	// PracticeSetting is performer/assignedEntity/representedOrganization/standardIndustryClassCode,
	// the XDS practiceSettingCode.
	PracticeSetting Code
	Performer       *Person
}

// Section is one section of an N3 body, with its nested sections.
type Section struct {
	ID       II
	Code     Code
	Title    string
	Text     *Node // the narrative block (section/text); nil when the section has none
	Sections []Section
}

// NonXMLBody is the embedded document of an N1 CDA.
type NonXMLBody struct {
	MediaType      string // "application/pdf"
	Representation string // "B64" or "TXT"
	Data           []byte // decoded content
}

// Document is a CDA R2 document read per CI-SIS: its header and its body.
type Document struct {
	Level       Level
	TemplateIDs []II
	ID          II
	Code        Code // document type (XDS typeCode)
	Title       string
	// EffectiveTime is the creation date and time of the document (XDS creationTime).
	EffectiveTime   TS
	Confidentiality Code
	Language        string // "fr-FR"
	SetID           II
	Version         string
	// RelatedDocuments are the relatedDocument/parentDocument elements: the document this one
	// replaces (typeCode RPLC) or appends to (APND).
	RelatedDocuments []RelatedDocument

	Patient            Patient
	Authors            []Author
	Custodian          *Organization
	LegalAuthenticator *Person
	// LegalAuthenticationTime is legalAuthenticator/time.
	LegalAuthenticationTime TS
	ServiceEvents           []ServiceEvent
	// HealthcareFacilityType is componentOf/encompassingEncounter/location/healthCareFacility/code
	// (XDS healthcareFacilityTypeCode).
	HealthcareFacilityType Code

	Sections []Section   // N3
	Body     *NonXMLBody // N1

	// Warnings are the deviations found while reading that did not stop it: a wrong INS key
	// (*ins.KeyError), a legacy INS-C (ErrLegacyINS), unreadable times (ErrTime), missing title, code
	// or INS traits (ErrMissing), an unreadable N1 body (ErrBody). Ids under unknown roots (IPP…)
	// are kept in Patient.IDs without a warning.
	Warnings []error
}

// ActDate returns the date of the act: the low time of the first service event, else the document
// effective time (ECO.2.1.6).
func (d *Document) ActDate() TS {
	for _, e := range d.ServiceEvents {
		if !e.Low.IsZero() {
			return e.Low
		}
	}
	return d.EffectiveTime
}

// NodeKind is the kind of a narrative block node.
type NodeKind uint8

// Narrative block node kinds (CDA R2 NarrativeBlock.xsd).
const (
	NodeText        NodeKind = iota // character data, in Text
	NodeBlock                       // the section/text element itself
	NodeParagraph                   // paragraph
	NodeContent                     // content (inline, StyleCode)
	NodeBreak                       // br
	NodeList                        // list (Ordered)
	NodeItem                        // item
	NodeTable                       // table
	NodeCaption                     // caption (of a table, list, paragraph)
	NodeTHead                       // thead
	NodeTBody                       // tbody
	NodeTFoot                       // tfoot
	NodeRow                         // tr
	NodeHeaderCell                  // th
	NodeCell                        // td
	NodeFootnote                    // footnote
	NodeFootnoteRef                 // footnoteRef (IDRef)
	NodeLink                        // linkHtml (Href)
	NodeSub                         // sub
	NodeSup                         // sup
	NodeMultiMedia                  // renderMultiMedia (referencedObject in Href)
)

// Node is one node of a narrative block. Whitespace in Text is kept as written except that runs
// of whitespace are folded to one space (the CDA narrative is not preformatted).
type Node struct {
	Kind      NodeKind
	Text      string // NodeText
	StyleCode string // content, paragraph, td…: "Bold", "Italics", "xLabel"…
	Href      string // NodeLink href; NodeFootnoteRef and NodeMultiMedia: the referenced id
	ID        string
	Ordered   bool // NodeList with listType="ordered"
	ColSpan   int  // th/td, 0 when absent
	RowSpan   int
	Children  []*Node
}

// RelatedDocument is a relatedDocument of the header: its typeCode and the parentDocument ids.
type RelatedDocument struct {
	TypeCode string // "RPLC" (replacement), "APND", "XFRM"
	ID       II     // parentDocument/id
	SetID    II     // parentDocument/setId
	Version  string // parentDocument/versionNumber
}

// Replaces returns the id of the document this one replaces (relatedDocument typeCode RPLC), if any.
func (d *Document) Replaces() (II, bool) {
	for _, r := range d.RelatedDocuments {
		if r.TypeCode == "RPLC" && r.ID.Root != "" {
			return r.ID, true
		}
	}
	return II{}, false
}
