package xdm

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/charmap"

	"github.com/mssante/mssante/ins"
)

// The ebRIM subset read from METADATA.XML. Tags carry no namespace: elements and attributes
// match by local name, whatever prefix or namespace the writer used (or forgot to declare).
type rimSlot struct {
	Name   string   `xml:"name,attr"`
	Values []string `xml:"ValueList>Value"`
}

type rimText struct {
	Strings []struct {
		Value string `xml:"value,attr"`
	} `xml:"LocalizedString"`
}

func (t rimText) String() string {
	if len(t.Strings) == 0 {
		return ""
	}
	return t.Strings[0].Value
}

type rimClassification struct {
	Scheme  string    `xml:"classificationScheme,attr"`
	Node    string    `xml:"classificationNode,attr"`
	Object  string    `xml:"classifiedObject,attr"`
	NodeRep string    `xml:"nodeRepresentation,attr"`
	Slots   []rimSlot `xml:"Slot"`
	Name    rimText   `xml:"Name"`
}

type rimExternalID struct {
	Scheme string `xml:"identificationScheme,attr"`
	Value  string `xml:"value,attr"`
}

type rimObject struct {
	ID              string              `xml:"id,attr"`
	MimeType        string              `xml:"mimeType,attr"`
	Slots           []rimSlot           `xml:"Slot"`
	Name            rimText             `xml:"Name"`
	Description     rimText             `xml:"Description"`
	Classifications []rimClassification `xml:"Classification"`
	ExternalIDs     []rimExternalID     `xml:"ExternalIdentifier"`
}

type rimAssociation struct {
	Type   string `xml:"associationType,attr"`
	Source string `xml:"sourceObject,attr"`
	Target string `xml:"targetObject,attr"`
}

type rimRequest struct {
	List struct {
		Extrinsic       []rimObject         `xml:"ExtrinsicObject"`
		Packages        []rimObject         `xml:"RegistryPackage"`
		Classifications []rimClassification `xml:"Classification"`
		Associations    []rimAssociation    `xml:"Association"`
	} `xml:"RegistryObjectList"`
}

// maxXMLDepth bounds the nesting of METADATA.XML (ebRIM needs 6 levels).
const maxXMLDepth = 32

// metadata is what parseMetadata returns.
type metadata struct {
	submission SubmissionSet
	entries    []DocumentEntry
	entryWarns [][]error // per entry, same order
	warnings   []error   // about the submission set and the whole file
}

// parseMetadata reads a METADATA.XML leniently: BOM, leading whitespace, CRLF, undeclared
// prefixes, Latin-1 are accepted; a DOCTYPE is refused (ErrDoctype).
func parseMetadata(data []byte) (*metadata, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.TrimLeft(data, " \t\r\n")
	if err := scanXML(data); err != nil {
		return nil, err
	}
	var req rimRequest
	if err := newDecoder(data).Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoMetadata, err)
	}
	if len(req.List.Packages) == 0 && len(req.List.Extrinsic) == 0 {
		return nil, fmt.Errorf("%w: no RegistryPackage nor ExtrinsicObject", ErrNoMetadata)
	}
	m := &metadata{}
	m.submission = readSubmission(&req, &m.warnings)
	for i := range req.List.Extrinsic {
		var warns []error
		m.entries = append(m.entries, readEntry(&req.List.Extrinsic[i], &warns))
		m.entryWarns = append(m.entryWarns, warns)
	}
	return m, nil
}

func newDecoder(data []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.Entity = nil // only the five predefined entities
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "iso-8859-1", "latin1", "iso8859-1", "iso-8859-15":
			return charmap.ISO8859_1.NewDecoder().Reader(in), nil
		case "windows-1252", "cp1252":
			return charmap.Windows1252.NewDecoder().Reader(in), nil
		}
		return nil, fmt.Errorf("unsupported charset %q", label)
	}
	return d
}

// scanXML checks the token stream before decoding: no DOCTYPE, bounded depth, well-formed.
func scanXML(data []byte) error {
	d := newDecoder(data)
	depth := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNoMetadata, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			if bytes.HasPrefix(bytes.TrimSpace(t), []byte("DOCTYPE")) || bytes.HasPrefix(bytes.TrimSpace(t), []byte("ENTITY")) {
				return ErrDoctype
			}
		case xml.StartElement:
			if depth++; depth > maxXMLDepth {
				return fmt.Errorf("%w: nesting deeper than %d", ErrNoMetadata, maxXMLDepth)
			}
		case xml.EndElement:
			depth--
		}
	}
}

// readSubmission finds the submission set: the RegistryPackage classified with the
// SubmissionSet node (inside it or at the top level), else the first RegistryPackage.
func readSubmission(req *rimRequest, warn *[]error) SubmissionSet {
	pkgs := req.List.Packages
	if len(pkgs) == 0 {
		*warn = append(*warn, errors.New("xdm: metadata have no submission set (RegistryPackage)"))
		return SubmissionSet{}
	}
	ss := &pkgs[0]
	marked := map[string]bool{}
	for _, c := range req.List.Classifications {
		if c.Node == uuidSubmissionSet {
			marked[c.Object] = true
		}
	}
	for i := range pkgs {
		for _, c := range pkgs[i].Classifications {
			if c.Node == uuidSubmissionSet {
				marked[pkgs[i].ID] = true
			}
		}
	}
	for i := range pkgs {
		if marked[pkgs[i].ID] {
			ss = &pkgs[i]
			break
		}
	}
	s := SubmissionSet{
		ID:                 ss.ID,
		SubmissionTime:     slotValue(ss.Slots, "submissionTime"),
		IntendedRecipients: slotValues(ss.Slots, "intendedRecipient"),
		Title:              ss.Name.String(),
		Comments:           ss.Description.String(),
		UniqueID:           externalID(ss, uuidSSUniqueID),
		SourceID:           externalID(ss, uuidSSSourceID),
		PatientID:          externalID(ss, uuidSSPatientID),
	}
	for _, c := range ss.Classifications {
		switch c.Scheme {
		case uuidSSAuthor:
			s.Authors = append(s.Authors, readAuthor(c))
		case uuidSSContentType:
			s.ContentType = readCode(c)
		}
	}
	s.INS = patientINS(s.PatientID, "submission set", warn)
	return s
}

func readEntry(o *rimObject, warn *[]error) DocumentEntry {
	e := DocumentEntry{
		ID:                 o.ID,
		MimeType:           o.MimeType,
		Title:              o.Name.String(),
		Comments:           o.Description.String(),
		CreationTime:       slotValue(o.Slots, "creationTime"),
		ServiceStartTime:   slotValue(o.Slots, "serviceStartTime"),
		ServiceStopTime:    slotValue(o.Slots, "serviceStopTime"),
		LanguageCode:       slotValue(o.Slots, "languageCode"),
		LegalAuthenticator: slotValue(o.Slots, "legalAuthenticator"),
		SourcePatientID:    slotValue(o.Slots, "sourcePatientId"),
		SourcePatientInfo:  slotValues(o.Slots, "sourcePatientInfo"),
		Hash:               strings.ToLower(slotValue(o.Slots, "hash")),
		URI:                slotValue(o.Slots, "URI"),
		PatientID:          externalID(o, uuidDEPatientID),
		UniqueID:           externalID(o, uuidDEUniqueID),
		Size:               -1,
	}
	if s := slotValue(o.Slots, "size"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			*warn = append(*warn, fmt.Errorf("xdm: document %s: size %q is not a byte count", o.ID, s))
		} else {
			e.Size = n
		}
	}
	for _, c := range o.Classifications {
		readEntryClassification(&e, c)
	}
	e.INS = patientINS(e.PatientID, "document "+o.ID, warn)
	return e
}

func readEntryClassification(e *DocumentEntry, c rimClassification) {
	switch c.Scheme {
	case uuidDEAuthor:
		e.Authors = append(e.Authors, readAuthor(c))
	case uuidDEClass:
		e.ClassCode = readCode(c)
	case uuidDEType:
		e.TypeCode = readCode(c)
	case uuidDEFormat:
		e.FormatCode = readCode(c)
	case uuidDEConfidentiality:
		e.ConfidentialityCodes = append(e.ConfidentialityCodes, readCode(c))
	case uuidDEFacilityType:
		e.HealthcareFacilityTypeCode = readCode(c)
	case uuidDEPracticeSetting:
		e.PracticeSettingCode = readCode(c)
	case uuidDEEventCode:
		e.EventCodes = append(e.EventCodes, readCode(c))
	}
}

// patientINS reads a patientId as an INS; it warns when it is absent, not an INS or has a wrong key.
func patientINS(cx, what string, warn *[]error) ins.INS {
	if cx == "" {
		*warn = append(*warn, fmt.Errorf("%w: %s has no patientId", ErrNoINS, what))
		return ins.INS{}
	}
	id, err := ins.ParseCX(cx)
	if id.Matricule.IsZero() || !id.OID.Known() {
		*warn = append(*warn, fmt.Errorf("%w: %s patientId %q", ErrNoINS, what, cx))
		return ins.INS{}
	}
	if err != nil {
		*warn = append(*warn, fmt.Errorf("xdm: %s patientId: %w", what, err))
	}
	return id
}

func readCode(c rimClassification) Code {
	return Code{Code: c.NodeRep, Scheme: slotValue(c.Slots, "codingScheme"), Display: c.Name.String()}
}

func readAuthor(c rimClassification) Author {
	return Author{
		Person:       slotValue(c.Slots, "authorPerson"),
		Institutions: slotValues(c.Slots, "authorInstitution"),
		Roles:        slotValues(c.Slots, "authorRole"),
		Specialties:  slotValues(c.Slots, "authorSpecialty"),
		Telecoms:     slotValues(c.Slots, "authorTelecommunication"),
	}
}

// slotValues returns the values of the named slot; names compare case-insensitively (some
// writers spell "sourcePatientID"). Values are trimmed.
func slotValues(slots []rimSlot, name string) []string {
	for _, s := range slots {
		if strings.EqualFold(strings.TrimSpace(s.Name), name) {
			out := make([]string, 0, len(s.Values))
			for _, v := range s.Values {
				out = append(out, strings.TrimSpace(v))
			}
			return out
		}
	}
	return nil
}

func slotValue(slots []rimSlot, name string) string {
	if vs := slotValues(slots, name); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func externalID(o *rimObject, scheme string) string {
	for _, e := range o.ExternalIDs {
		if e.Scheme == scheme {
			return strings.TrimSpace(e.Value)
		}
	}
	return ""
}
