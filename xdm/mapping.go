package xdm

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/ins"
)

// Coding schemes of the French XDS value sets (ANS NOS).
const (
	SchemeClassCode       = "1.2.250.1.213.1.1.4.1"     // TRE_A03-ClasseDocument (JDV_J06/J07-XdsClassCode)
	SchemeFormatCISIS     = "1.2.250.1.213.1.1.4.2.282" // TRE_A06-FormatCodeComplementaire (urn:asip:ci-sis:…)
	SchemeFormatIHE       = "1.3.6.1.4.1.19376.1.2.3"   // TRE_A11-IheFormatCode (urn:ihe:…)
	SchemeConfidentiality = "2.16.840.1.113883.5.25"
	oidLOINC              = "2.16.840.1.113883.6.1"
	oidTypeCodeANS        = "1.2.250.1.213.1.1.4.12" // TRE_A05-TypeDocComplementaire
)

// classNames are the display names of TRE_A03-ClasseDocument (JDV_J06-XdsClassCode-CISIS).
var classNames = map[string]string{
	"10": "Compte rendu",
	"11": "Synthèse",
	"31": "Imagerie médicale",
	"42": "Prescription",
	"43": "Dispensation",
	"44": "Plan de soins, protocole de soins",
	"45": "Traitement administré",
	"52": "Certificat, déclaration",
	"60": "Données de remboursement",
	"90": "Autres documents déposés par le patient",
	"95": "Document de gestion",
}

// classByType derives classCode from typeCode, after ANS ASS_X04-CorrespondanceType-Classe-CISIS,
// for the document types of the CI-SIS volets this client meets. The keys are "codeSystem|code".
// A type not listed falls back to "10" (Compte rendu), the class of most CI-SIS documents, with a
// warning: todo spec: load the whole ASS_X04 table.
var classByType = map[string]string{
	oidLOINC + "|11488-4":         "10", // consultation note
	oidLOINC + "|11490-0":         "10", // LDL-SES, lettre de liaison à la sortie
	oidLOINC + "|18761-7":         "10", // LDL-EES, lettre de liaison à l'entrée
	oidLOINC + "|11502-2":         "10", // CR-BIO, CR d'examens biologiques
	oidLOINC + "|11526-1":         "10", // CR d'anatomie et de cytologie pathologiques
	oidLOINC + "|15508-5":         "10", // CR d'accouchement
	oidLOINC + "|18748-4":         "10", // CR d'imagerie médicale
	oidLOINC + "|29274-8":         "10", // CSE-MDE, mesures de signes vitaux
	oidLOINC + "|34112-3":         "10", // CR d'hospitalisation
	oidLOINC + "|34749-2":         "10", // ANEST-CR-CPA
	oidLOINC + "|75496-0":         "10", // TLM-DA, demande d'acte de télémédecine
	oidLOINC + "|96173-0":         "10", // BIO-TROD
	oidLOINC + "|34133-9":         "11", // synthèse d'épisode de soins
	oidLOINC + "|78489-2":         "11", // OBP-SEM, synthèse enfant en maternité
	oidLOINC + "|57833-6":         "42", // eP-MED, prescription de produits de santé
	oidLOINC + "|60593-1":         "43", // eDISP-MED, dispensation médicamenteuse
	oidLOINC + "|87273-9":         "45", // VAC-NOTE, note de vaccination
	oidTypeCodeANS + "|SYNTH":     "11", // VSM
	oidTypeCodeANS + "|CERT_DECL": "52", // CSE-CS8/CS9/CS24
	oidTypeCodeANS + "|REMB":      "60", // CNAM-HR
}

// ClassCode returns the XDS classCode of a document type and whether the type was in the table.
func ClassCode(typ cda.Code) (Code, bool) {
	c, ok := classByType[typ.CodeSystem+"|"+typ.Code]
	if !ok {
		c = "10"
	}
	return Code{Code: c, Scheme: SchemeClassCode, Display: classNames[c]}, ok
}

type formatEntry struct{ code, scheme, display string }

// formatByTemplate is ANS ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS for the templates of the
// CI-SIS volets (structured body, N3).
var formatByTemplate = map[string]formatEntry{
	"1.2.250.1.213.1.1.1.5.1":  {"urn:asip:ci-sis:cse-cs8:2017", SchemeFormatCISIS, "Certificat de santé de l'enfant au 8e jour"},
	"1.2.250.1.213.1.1.1.5.2":  {"urn:asip:ci-sis:cse-cs9:2017", SchemeFormatCISIS, "Certificat de santé de l'enfant au 9e mois"},
	"1.2.250.1.213.1.1.1.5.3":  {"urn:asip:ci-sis:cse-cs24:2017", SchemeFormatCISIS, "Certificat de santé de l'enfant au 24e mois"},
	"1.2.250.1.213.1.1.1.5.4":  {"urn:ans:ci-sis:cse-mde:2023", SchemeFormatCISIS, "Mesures de l'enfant"},
	"1.2.250.1.213.1.1.1.12.5": {"urn:asip:ci-sis:obp-sem:2023", SchemeFormatCISIS, "Synthèse Enfant en Maternité"},
	"1.2.250.1.213.1.1.1.13":   {"urn:asip:ci-sis:vsm:2012", SchemeFormatCISIS, "Synthèse médicale"},
	"1.2.250.1.213.1.1.1.21":   {"urn:asip:ci-sis:ldl-ees:2017", SchemeFormatCISIS, "Lettre de liaison à l'entrée d'un établissement de soins"},
	"1.2.250.1.213.1.1.1.29":   {"urn:asip:ci-sis:ldl-ses:2017", SchemeFormatCISIS, "Lettre de liaison à la sortie d'un établissement de soins"},
	"1.2.250.1.213.1.1.1.36":   {"urn:asip:ci-sis:hr:2019", SchemeFormatCISIS, "Historique des remboursements"},
	"1.2.250.1.213.1.1.1.37":   {"urn:asip:ci-sis:vac:2019", SchemeFormatCISIS, "Historique des vaccinations"},
	"1.2.250.1.213.1.1.1.38":   {"urn:asip:ci-sis:tlm-da:2020", SchemeFormatCISIS, "Demande d'acte de télémédecine"},
	"1.2.250.1.213.1.1.1.40":   {"urn:asip:ci-sis:cr-anest:2020", SchemeFormatCISIS, "Compte rendu d'anesthésie"},
	"1.2.250.1.213.1.1.1.41":   {"urn:asip:ci-sis:cr-cpa:2020", SchemeFormatCISIS, "Compte rendu de consultation pré-anesthésique"},
	"1.2.250.1.213.1.1.1.46":   {"urn:asip:ci-sis:vac-note:2021", SchemeFormatCISIS, "Note de vaccination"},
	"1.2.250.1.213.1.1.1.39":   {"urn:ihe:pharm:pre:2010", SchemeFormatIHE, "Prescription"},
	"1.2.250.1.213.1.1.1.54":   {"urn:ihe:pharm:dis:2010", SchemeFormatIHE, "Dispensation"},
	"1.2.250.1.213.1.1.1.45":   {"urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013", SchemeFormatIHE, "Compte rendu d'imagerie médicale"},
	"1.2.250.1.213.1.1.1.55":   {"urn:ihe:lab:xd-lab:2008", SchemeFormatIHE, "CR d'examens biologiques"},
	"1.3.6.1.4.1.19376.1.3.3":  {"urn:ihe:lab:xd-lab:2008", SchemeFormatIHE, "CR d'examens biologiques"},
	"1.2.250.1.213.1.1.1.57":   {"urn:ihe:palm:apsr:2016", SchemeFormatIHE, "Compte rendu d'anatomie et de cytologie pathologiques"},
}

// formatByMedia is ANS ASS_A12-CorresMediaTypeCDANonStructure-XdsFormatCode-CISIS (N1 bodies).
var formatByMedia = map[string]formatEntry{
	"application/pdf": {"urn:ihe:iti:xds-sd:pdf:2008", SchemeFormatIHE, "Document à corps non structuré en Pdf/A-1"},
	"text/plain":      {"urn:ihe:iti:xds-sd:text:2008", SchemeFormatIHE, "Document à corps non structuré en texte brut"},
	"text/rtf":        {"urn:ihe:iti-fr:xds-sd:rtf:2010", SchemeFormatIHE, "Document à corps non structuré en RTF"},
	"image/jpeg":      {"urn:ihe:iti-fr:xds-sd:jpeg:2010", SchemeFormatIHE, "Document à corps non structuré en JPEG"},
	"image/tiff":      {"urn:ihe:iti-fr:xds-sd:tiff:2010", SchemeFormatIHE, "Document à corps non structuré en TIFF"},
}

// formatStructuredFallback is the formatCode of a structured CDA whose template is not in
// formatByTemplate: "Document à corps structuré CI-SIS" (structuration minimale).
var formatStructuredFallback = formatEntry{"urn:asip:ci-sis:2010", SchemeFormatCISIS, "Document à corps structuré CI-SIS"}

// FormatCode returns the XDS formatCode of a CDA: from the N1 media type, else from the first
// templateId of the table, else the structured fallback. ok is false for a fallback.
func FormatCode(doc *cda.Document) (Code, bool) {
	if doc.Level == cda.N1 && doc.Body != nil {
		f, ok := formatByMedia[strings.ToLower(doc.Body.MediaType)]
		if !ok {
			f = formatByMedia["application/pdf"]
		}
		return Code{Code: f.code, Scheme: f.scheme, Display: f.display}, ok
	}
	for _, t := range doc.TemplateIDs {
		if f, ok := formatByTemplate[t.Root]; ok {
			return Code{Code: f.code, Scheme: f.scheme, Display: f.display}, true
		}
	}
	f := formatStructuredFallback
	return Code{Code: f.code, Scheme: f.scheme, Display: f.display}, false
}

// PatientID returns the XDS patientId of a CDA: its INS as "matricule^^^&OID&ISO^NH", else its
// first patient id as "ext^^^&root&ISO^PI", else "".
func PatientID(doc *cda.Document) string {
	if i := doc.Patient.Identity.INS; !i.Matricule.IsZero() {
		return i.CX()
	}
	for _, id := range doc.Patient.IDs {
		if cx := CX(id, "PI"); cx != "" {
			return cx
		}
	}
	return ""
}

// sourcePatientID is the local patient id (IPP) when the CDA has one besides the INS, else the
// patientId.
func sourcePatientID(doc *cda.Document) string {
	for _, id := range doc.Patient.IDs {
		if !ins.OID(id.Root).Known() {
			if cx := CX(id, "PI"); cx != "" {
				return cx
			}
		}
	}
	return PatientID(doc)
}

// sourcePatientInfo returns PID-5 (birth name and first given name, type L), PID-7 (birth date)
// and PID-8 (sex), as CI-SIS writes them.
func sourcePatientInfo(p *cda.Patient) []string {
	family, given := p.Identity.BirthName, p.Identity.FirstName
	if family == "" {
		family = p.Name.Family
	}
	if given == "" && len(p.Name.Given) > 0 {
		given, _, _ = strings.Cut(p.Name.Given[0], " ")
	}
	var out []string
	if family != "" || given != "" {
		out = append(out, "PID-5|"+joinHL7(hl7Escape(family), hl7Escape(given), "", "", "", "", "L"))
	}
	if raw := p.BirthTime.Raw; len(raw) >= 8 {
		out = append(out, "PID-7|"+raw[:8])
	}
	switch strings.ToUpper(p.Gender.Code) {
	case "F", "M":
		out = append(out, "PID-8|"+strings.ToUpper(p.Gender.Code))
	case "":
	default:
		out = append(out, "PID-8|U")
	}
	return out
}

// authorOf maps a CDA author to an XDS author.
func authorOf(a cda.Author) Author {
	var x Author
	org := a.Organization
	if a.Person != nil {
		x.Person = XCN(a.Person)
		if s := codeCE(a.Person.Specialty); s != "" {
			x.Specialties = append(x.Specialties, s)
		}
		if org == nil {
			org = a.Person.Organization
		}
	} else if a.Device != "" {
		x.Person = "^" + hl7Escape(a.Device)
	}
	if xon := XON(org); xon != "" {
		x.Institutions = append(x.Institutions, xon)
	}
	return x
}

func cdaCode(c cda.Code) Code {
	return Code{Code: c.Code, Scheme: c.CodeSystem, Display: c.DisplayName}
}

// entryFromCDA maps the CDA header to an XDS DocumentEntry (ANS "Lien entre l'en-tête CDA et
// les métadonnées XDS"). The warnings name the metadata the header could not give.
func entryFromCDA(doc *cda.Document, data []byte, id, uri string) (DocumentEntry, []error) {
	sum := sha1.Sum(data)
	e := DocumentEntry{
		ID: id, MimeType: "text/xml", URI: uri,
		Hash: hex.EncodeToString(sum[:]), Size: int64(len(data)),
		PatientID: PatientID(doc), INS: doc.Patient.Identity.INS,
		SourcePatientID:            sourcePatientID(doc),
		SourcePatientInfo:          sourcePatientInfo(&doc.Patient),
		UniqueID:                   doc.ID.String(),
		Title:                      strings.TrimSpace(doc.Title),
		CreationTime:               dtm(doc.EffectiveTime),
		LanguageCode:               doc.Language,
		LegalAuthenticator:         XCN(doc.LegalAuthenticator),
		TypeCode:                   cdaCode(doc.Code),
		HealthcareFacilityTypeCode: cdaCode(doc.HealthcareFacilityType),
	}
	var warns []error
	warn := func(format string, args ...any) {
		warns = append(warns, fmt.Errorf("xdm: %s: "+format, append([]any{uri}, args...)...))
	}
	if e.LanguageCode == "" {
		e.LanguageCode = "fr-FR"
	}
	if len(doc.ServiceEvents) > 0 {
		ev := doc.ServiceEvents[0]
		e.ServiceStartTime, e.ServiceStopTime = dtm(ev.Low), dtm(ev.High)
		e.PracticeSettingCode = cdaCode(ev.PracticeSetting)
	}
	for _, ev := range doc.ServiceEvents {
		if ev.Code.Code != "" {
			e.EventCodes = append(e.EventCodes, cdaCode(ev.Code))
		}
	}
	for _, a := range doc.Authors {
		if x := authorOf(a); !x.IsZero() {
			e.Authors = append(e.Authors, x)
		}
	}
	conf := cdaCode(doc.Confidentiality)
	if conf.IsZero() {
		conf = Code{Code: "N", Scheme: SchemeConfidentiality, Display: "Normal"}
	}
	e.ConfidentialityCodes = []Code{conf}
	var ok bool
	if e.ClassCode, ok = ClassCode(doc.Code); !ok {
		warn("classCode of type %s|%s unknown, %s used", doc.Code.CodeSystem, doc.Code.Code, e.ClassCode.Code)
	}
	if e.FormatCode, ok = FormatCode(doc); !ok {
		warn("formatCode fallback %s used", e.FormatCode.Code)
	}
	switch {
	case e.PatientID == "":
		warns = append(warns, fmt.Errorf("%w: %s", ErrNoPatient, uri))
	case e.INS.Matricule.IsZero():
		warns = append(warns, fmt.Errorf("%w: %s identifies its patient by %s", ErrNoINS, uri, e.PatientID))
	case !e.INS.Matricule.KeyValid():
		warn("the INS matricule %s has a wrong key", e.INS.Matricule)
	}
	if e.TypeCode.IsZero() {
		warn("no document type (ClinicalDocument/code)")
	}
	if e.HealthcareFacilityTypeCode.IsZero() {
		warn("no healthcareFacilityTypeCode (encompassingEncounter/location/healthCareFacility/code)")
	}
	if e.PracticeSettingCode.IsZero() {
		warn("no practiceSettingCode (serviceEvent performer standardIndustryClassCode)")
	}
	if e.CreationTime == "" {
		warn("no creationTime (effectiveTime)")
	}
	return e, warns
}

// samePatient reports whether two documents concern the same patient: same INS matricule when
// both have one, else the same patientId (ECO.2.1.1).
func samePatient(a, b *cda.Document) bool {
	ia, ib := a.Patient.Identity.INS.Matricule, b.Patient.Identity.INS.Matricule
	if !ia.IsZero() && !ib.IsZero() {
		return ia.String() == ib.String()
	}
	return PatientID(a) == PatientID(b) && PatientID(a) != ""
}
