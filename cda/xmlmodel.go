package cda

import "encoding/xml"

// The x… types mirror the CDA elements the reader uses. Element names match in any namespace (the
// root was checked to be urn:hl7-org:v3), so that extensions in other namespaces are ignored.

type xII struct {
	Root       string `xml:"root,attr"`
	Extension  string `xml:"extension,attr"`
	NullFlavor string `xml:"nullFlavor,attr"`
}

type xCode struct {
	Code           string `xml:"code,attr"`
	DisplayName    string `xml:"displayName,attr"`
	CodeSystem     string `xml:"codeSystem,attr"`
	CodeSystemName string `xml:"codeSystemName,attr"`
}

type xValue struct {
	Value string `xml:"value,attr"`
}

type xTS struct {
	Value string  `xml:"value,attr"`
	Low   *xValue `xml:"low"`
	High  *xValue `xml:"high"`
}

// xParts is an element made of typed parts in order (a name, an address) or plain text.
type xParts struct {
	Text  string  `xml:",chardata"`
	Parts []xPart `xml:",any"`
}

type xPart struct {
	XMLName   xml.Name
	Qualifier string `xml:"qualifier,attr"`
	Text      string `xml:",chardata"`
}

type xDocument struct {
	TemplateIDs     []xII           `xml:"templateId"`
	ID              xII             `xml:"id"`
	Code            *xCode          `xml:"code"`
	Title           *xText          `xml:"title"`
	EffectiveTime   xValue          `xml:"effectiveTime"`
	Confidentiality xCode           `xml:"confidentialityCode"`
	Language        xCode           `xml:"languageCode"`
	SetID           xII             `xml:"setId"`
	Version         xValue          `xml:"versionNumber"`
	RecordTargets   []xRecordTarget `xml:"recordTarget"`
	Authors         []xAuthor       `xml:"author"`
	Custodian       *xOrg           `xml:"custodian>assignedCustodian>representedCustodianOrganization"`
	LegalAuth       *xLegalAuth     `xml:"legalAuthenticator"`
	ServiceEvents   []xServiceEvent `xml:"documentationOf>serviceEvent"`
	Related         []xRelated      `xml:"relatedDocument"`
	FacilityCode    *xCode          `xml:"componentOf>encompassingEncounter>location>healthCareFacility>code"`
	Structured      *xStructured    `xml:"component>structuredBody"`
	NonXML          *xNonXML        `xml:"component>nonXMLBody"`
}

type xRelated struct {
	TypeCode string `xml:"typeCode,attr"`
	ID       xII    `xml:"parentDocument>id"`
	SetID    xII    `xml:"parentDocument>setId"`
	Version  xValue `xml:"parentDocument>versionNumber"`
}

type xRecordTarget struct {
	Role *xPatientRole `xml:"patientRole"`
}

type xPatientRole struct {
	IDs     []xII     `xml:"id"`
	Patient *xPatient `xml:"patient"`
}

type xPatient struct {
	Names     []xParts `xml:"name"`
	Gender    xCode    `xml:"administrativeGenderCode"`
	BirthTime xValue   `xml:"birthTime"`
	County    string   `xml:"birthplace>place>addr>county"`
}

type xAssigned struct {
	IDs     []xII    `xml:"id"`
	Code    *xCode   `xml:"code"`
	Telecom []xValue `xml:"telecom"`
	Person  *struct {
		Names []xParts `xml:"name"`
	} `xml:"assignedPerson"`
	Device *struct {
		Model    string `xml:"manufacturerModelName"`
		Software string `xml:"softwareName"`
	} `xml:"assignedAuthoringDevice"`
	Org *xOrg `xml:"representedOrganization"`
}

type xAuthor struct {
	Time     xValue     `xml:"time"`
	Assigned *xAssigned `xml:"assignedAuthor"`
}

type xLegalAuth struct {
	Time     xValue     `xml:"time"`
	Assigned *xAssigned `xml:"assignedEntity"`
}

type xOrg struct {
	IDs      []xII    `xml:"id"`
	Names    []xParts `xml:"name"`
	Telecom  []xValue `xml:"telecom"`
	Addr     []xParts `xml:"addr"`
	Industry *xCode   `xml:"standardIndustryClassCode"`
}

type xServiceEvent struct {
	Code       xCode `xml:"code"`
	Time       xTS   `xml:"effectiveTime"`
	Performers []struct {
		Assigned *xAssigned `xml:"assignedEntity"`
	} `xml:"performer"`
}

type xStructured struct {
	Sections []xSection `xml:"component>section"`
}

type xSection struct {
	ID       xII        `xml:"id"`
	Code     xCode      `xml:"code"`
	Title    xText      `xml:"title"`
	Text     *narrative `xml:"text"`
	Sections []xSection `xml:"component>section"`
}

type xNonXML struct {
	Text *struct {
		MediaType      string `xml:"mediaType,attr"`
		Representation string `xml:"representation,attr"`
		Data           string `xml:",chardata"`
	} `xml:"text"`
}

// xText is the whole character content of an element, nested elements included (a title written
// with markup keeps all its words).
type xText string

func (t *xText) UnmarshalXML(d *xml.Decoder, _ xml.StartElement) error {
	var b []byte
	for depth := 1; depth > 0; {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			b = append(b, v...)
		}
	}
	*t = xText(b)
	return nil
}
