package xdm

import (
	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/ins"
)

// Package is one XDM medium: its submission set and its documents.
type Package struct {
	Submission SubmissionSet
	Documents  []*Document
	// Index and Readme are INDEX.HTM and README.TXT at the root of the archive.
	Index, Readme []byte
	// Other are the entries Read found that are neither documents nor INDEX.HTM / README.TXT:
	// the METADATA.XML files as received, files outside the subset folders. Nothing is dropped.
	// WriteTo ignores them: it writes the metadata from Submission and Documents.
	Other []File
	// Warnings are the deviations found by Read (or the gaps in the CDA headers found by Build)
	// that did not stop it. Each wraps a sentinel of this package when one applies.
	Warnings []error
}

// File is an archive entry that is not a document.
type File struct {
	Path string
	Data []byte
}

// Document is one file of the submission set and its metadata.
type Document struct {
	// Path is the entry name in the archive: "IHE_XDM/SUBSET01/DOC0001.XML".
	Path string
	Data []byte
	// Entry is the XDS DocumentEntry describing the file; zero (with a warning) for a file the
	// metadata do not list.
	Entry DocumentEntry
	// CDA is the parsed document when the file is a CDA the cda package could read; nil
	// otherwise (a DICOM KOS, a signature, an unreadable CDA: see Warnings).
	CDA *cda.Document
	// Warnings concern this document only; they are also in Package.Warnings.
	Warnings []error
}

// Code is a coded XDS value: a Classification's nodeRepresentation, its codingScheme slot and its
// Name.
type Code struct {
	Code    string `json:"code"`
	Scheme  string `json:"scheme,omitempty"`
	Display string `json:"display_name,omitempty"`
}

// IsZero reports whether the code is absent.
func (c Code) IsZero() bool { return c.Code == "" }

// Author is an XDS author classification. Values are HL7 v2 strings as they travel in metadata.
type Author struct {
	Person       string   `json:"person,omitempty"`       // XCN "ID^FAMILY^Given^^^Prefix^^^&OID&ISO^D^^^IDNPS"
	Institutions []string `json:"institutions,omitempty"` // XON "NAME^^^^^&OID&ISO^IDNST^^^ID"
	Roles        []string `json:"roles,omitempty"`
	Specialties  []string `json:"specialties,omitempty"` // CE "code^display^scheme"
	Telecoms     []string `json:"telecoms,omitempty"`    // XTN "^^Internet^addr@domain"
}

// IsZero reports whether the author carries nothing.
func (a Author) IsZero() bool {
	return a.Person == "" && len(a.Institutions) == 0 && len(a.Roles) == 0 &&
		len(a.Specialties) == 0 && len(a.Telecoms) == 0
}

// SubmissionSet is the XDS SubmissionSet: the act of sending.
type SubmissionSet struct {
	ID       string // ebRIM id, "SubmissionSet01"
	UniqueID string // an OID
	SourceID string // OID of the sending software or organisation
	// PatientID is the CX identifier of the patient, as in the metadata.
	PatientID string
	// INS is PatientID read as an INS; zero when it is not one.
	INS            ins.INS
	SubmissionTime string // HL7 DTM, UTC: "20240116151112"
	Title          string
	Comments       string
	Authors        []Author
	ContentType    Code
	// IntendedRecipients are the intendedRecipient slot values (XON|XCN|XTN).
	IntendedRecipients []string
}

// DocumentEntry is an XDS DocumentEntry (ebRIM ExtrinsicObject).
type DocumentEntry struct {
	ID       string // ebRIM id, "Document01"
	MimeType string
	// PatientID is the XDSDocumentEntry.patientId as written: the patient of a received mail
	// (ECO.2.1.2), "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH".
	PatientID string
	// INS is PatientID read as an INS; zero when it is not one (see Document.Warnings).
	INS             ins.INS
	SourcePatientID string
	// SourcePatientInfo holds the sourcePatientInfo values: "PID-5|NOM^Prénom^^^^^L",
	// "PID-7|19790328", "PID-8|F".
	SourcePatientInfo []string
	UniqueID          string // the CDA id, "root^extension"
	Title             string
	Comments          string
	// Times are HL7 DTM values in UTC as written in the metadata: "20240116151112".
	CreationTime       string
	ServiceStartTime   string
	ServiceStopTime    string
	LanguageCode       string
	LegalAuthenticator string // XCN
	Authors            []Author
	ClassCode          Code
	TypeCode           Code
	FormatCode         Code
	// ConfidentialityCodes: "N" plus French masking codes (MASQUE_PS, INVISIBLE_PATIENT…).
	ConfidentialityCodes       []Code
	HealthcareFacilityTypeCode Code
	PracticeSettingCode        Code
	EventCodes                 []Code
	Hash                       string // SHA-1, lower-case hex
	Size                       int64  // -1 when the metadata carry no size
	// URI is the file name as written, relative to the subset folder: "DOC0001.XML".
	URI string
}

// Birth name, given name, birth date and sex read from SourcePatientInfo (PID-5, PID-7, PID-8).
type PatientInfo struct {
	BirthName string
	Given     string
	BirthDate string // YYYYMMDD
	Sex       string // "F", "M", "U"
}

// PatientInfo reads the sourcePatientInfo values of e.
func (e *DocumentEntry) PatientInfo() PatientInfo {
	var p PatientInfo
	for _, v := range e.SourcePatientInfo {
		field, value, ok := cutField(v)
		if !ok {
			continue
		}
		switch field {
		case "PID-5":
			comps := splitHL7(value, '^')
			if p.BirthName == "" || (len(comps) > 6 && comps[6] == "L") {
				p.BirthName = component(comps, 0)
				p.Given = component(comps, 1)
			}
		case "PID-7":
			p.BirthDate = value
		case "PID-8":
			p.Sex = value
		}
	}
	return p
}
