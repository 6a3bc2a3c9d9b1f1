package xdm

import (
	"bytes"
	"encoding/xml"
	"strconv"
)

// ebRIM 3.0 namespaces and the XDS identifiers of IHE ITI TF-3 §4.2 (classification schemes,
// identification schemes, object types).
const (
	nsLCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
	nsRIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"

	uuidSubmissionSet       = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
	uuidSSAuthor            = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
	uuidSSContentType       = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
	uuidSSPatientID         = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
	uuidSSSourceID          = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
	uuidSSUniqueID          = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
	uuidDocumentEntry       = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
	uuidDEAuthor            = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
	uuidDEClass             = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
	uuidDEType              = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
	uuidDEConfidentiality   = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
	uuidDEFormat            = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
	uuidDEFacilityType      = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
	uuidDEPracticeSetting   = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
	uuidDEEventCode         = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
	uuidDEPatientID         = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
	uuidDEUniqueID          = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
	associationHasMember    = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
	objectTypeRegistryPkg   = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
	objectTypeClassificaton = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
)

// xmlWriter writes indented XML with prefixed names; it never fails (bytes.Buffer).
type xmlWriter struct {
	b     bytes.Buffer
	depth int
	ids   int // counter for Classification and ExternalIdentifier ids
}

func (w *xmlWriter) indent() {
	w.b.WriteString("\n")
	for range w.depth {
		w.b.WriteString("  ")
	}
}

func (w *xmlWriter) escape(s string) {
	_ = xml.EscapeText(&w.b, []byte(s)) // writes to a bytes.Buffer: cannot fail
}

// open writes <name a="v"…>; attrs alternate names and values; empty values are left out.
func (w *xmlWriter) open(name string, selfClose bool, attrs ...string) {
	w.indent()
	w.b.WriteString("<" + name)
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] == "" && attrs[i] != "nodeRepresentation" { // required, empty for authors
			continue
		}
		w.b.WriteString(" " + attrs[i] + `="`)
		w.escape(attrs[i+1])
		w.b.WriteString(`"`)
	}
	if selfClose {
		w.b.WriteString("/>")
		return
	}
	w.b.WriteString(">")
	w.depth++
}

func (w *xmlWriter) close(name string) {
	w.depth--
	w.indent()
	w.b.WriteString("</" + name + ">")
}

func (w *xmlWriter) nextID(prefix string) string {
	w.ids++
	return prefix + strconv.Itoa(w.ids)
}

// slot writes a Slot with its values, nothing when there is no non-empty value.
func (w *xmlWriter) slot(name string, values ...string) {
	var vs []string
	for _, v := range values {
		if v != "" {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return
	}
	w.open("rim:Slot", false, "name", name)
	w.open("rim:ValueList", false)
	for _, v := range vs {
		w.indent()
		w.b.WriteString("<rim:Value>")
		w.escape(v)
		w.b.WriteString("</rim:Value>")
	}
	w.close("rim:ValueList")
	w.close("rim:Slot")
}

func (w *xmlWriter) localized(element, value string) {
	if value == "" {
		return
	}
	w.open(element, false)
	w.open("rim:LocalizedString", true, "xml:lang", "fr-FR", "charset", "UTF-8", "value", value)
	w.close(element)
}

// codeClassification writes a coded Classification (classCode, typeCode…).
func (w *xmlWriter) codeClassification(scheme, object string, c Code) {
	if c.IsZero() {
		return
	}
	w.open("rim:Classification", false, "classificationScheme", scheme, "classifiedObject", object,
		"nodeRepresentation", c.Code, "id", w.nextID("cl"), "objectType", objectTypeClassificaton)
	w.slot("codingScheme", c.Scheme)
	w.localized("rim:Name", c.Display)
	w.close("rim:Classification")
}

func (w *xmlWriter) authorClassification(scheme, object string, a Author) {
	if a.IsZero() {
		return
	}
	w.open("rim:Classification", false, "classificationScheme", scheme, "classifiedObject", object,
		"nodeRepresentation", "", "id", w.nextID("cl"), "objectType", objectTypeClassificaton)
	w.slot("authorPerson", a.Person)
	w.slot("authorInstitution", a.Institutions...)
	w.slot("authorRole", a.Roles...)
	w.slot("authorSpecialty", a.Specialties...)
	w.slot("authorTelecommunication", a.Telecoms...)
	w.close("rim:Classification")
}

func (w *xmlWriter) externalID(scheme, object, value, name string) {
	if value == "" {
		return
	}
	w.open("rim:ExternalIdentifier", false, "identificationScheme", scheme, "value", value,
		"id", w.nextID("ei"), "registryObject", object)
	w.localized("rim:Name", name)
	w.close("rim:ExternalIdentifier")
}

// marshalMetadata writes METADATA.XML: an ebRIM 3.0 SubmitObjectsRequest with the document entries,
// the submission set and one HasMember association per document (IHE ITI TF-3 §4.2.1).
func marshalMetadata(ss *SubmissionSet, entries []*DocumentEntry) []byte {
	w := &xmlWriter{}
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	w.open("lcm:SubmitObjectsRequest", false, "xmlns:lcm", nsLCM, "xmlns:rim", nsRIM)
	w.open("rim:RegistryObjectList", false)
	for _, e := range entries {
		w.documentEntry(e)
	}
	w.submissionSet(ss)
	for i, e := range entries {
		w.open("rim:Association", false, "associationType", associationHasMember,
			"sourceObject", ss.ID, "targetObject", e.ID, "id", "Association"+pad2(i+1))
		w.slot("SubmissionSetStatus", "Original")
		w.close("rim:Association")
	}
	w.close("rim:RegistryObjectList")
	w.close("lcm:SubmitObjectsRequest")
	w.b.WriteString("\n")
	return w.b.Bytes()
}

func pad2(n int) string {
	s := strconv.Itoa(n)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}

func (w *xmlWriter) documentEntry(e *DocumentEntry) {
	w.open("rim:ExtrinsicObject", false, "id", e.ID, "mimeType", e.MimeType, "objectType", uuidDocumentEntry)
	w.slot("creationTime", e.CreationTime)
	w.slot("languageCode", e.LanguageCode)
	w.slot("legalAuthenticator", e.LegalAuthenticator)
	w.slot("serviceStartTime", e.ServiceStartTime)
	w.slot("serviceStopTime", e.ServiceStopTime)
	w.slot("sourcePatientId", e.SourcePatientID)
	w.slot("sourcePatientInfo", e.SourcePatientInfo...)
	w.slot("hash", e.Hash)
	if e.Size >= 0 {
		w.slot("size", strconv.FormatInt(e.Size, 10))
	}
	w.slot("URI", e.URI)
	w.localized("rim:Name", e.Title)
	w.localized("rim:Description", e.Comments)
	for _, a := range e.Authors {
		w.authorClassification(uuidDEAuthor, e.ID, a)
	}
	w.codeClassification(uuidDEClass, e.ID, e.ClassCode)
	for _, c := range e.ConfidentialityCodes {
		w.codeClassification(uuidDEConfidentiality, e.ID, c)
	}
	for _, c := range e.EventCodes {
		w.codeClassification(uuidDEEventCode, e.ID, c)
	}
	w.codeClassification(uuidDEFormat, e.ID, e.FormatCode)
	w.codeClassification(uuidDEFacilityType, e.ID, e.HealthcareFacilityTypeCode)
	w.codeClassification(uuidDEPracticeSetting, e.ID, e.PracticeSettingCode)
	w.codeClassification(uuidDEType, e.ID, e.TypeCode)
	w.externalID(uuidDEPatientID, e.ID, e.PatientID, "XDSDocumentEntry.patientId")
	w.externalID(uuidDEUniqueID, e.ID, e.UniqueID, "XDSDocumentEntry.uniqueId")
	w.close("rim:ExtrinsicObject")
}

func (w *xmlWriter) submissionSet(ss *SubmissionSet) {
	w.open("rim:RegistryPackage", false, "id", ss.ID, "objectType", objectTypeRegistryPkg)
	w.slot("submissionTime", ss.SubmissionTime)
	w.slot("intendedRecipient", ss.IntendedRecipients...)
	w.localized("rim:Name", ss.Title)
	w.localized("rim:Description", ss.Comments)
	for _, a := range ss.Authors {
		w.authorClassification(uuidSSAuthor, ss.ID, a)
	}
	w.codeClassification(uuidSSContentType, ss.ID, ss.ContentType)
	w.open("rim:Classification", true, "classificationNode", uuidSubmissionSet, "classifiedObject", ss.ID,
		"id", w.nextID("cl"), "objectType", objectTypeClassificaton)
	w.externalID(uuidSSUniqueID, ss.ID, ss.UniqueID, "XDSSubmissionSet.uniqueId")
	w.externalID(uuidSSSourceID, ss.ID, ss.SourceID, "XDSSubmissionSet.sourceId")
	w.externalID(uuidSSPatientID, ss.ID, ss.PatientID, "XDSSubmissionSet.patientId")
	w.close("rim:RegistryPackage")
}
