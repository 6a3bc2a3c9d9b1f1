package message

import (
	"fmt"
	"strings"
)

// XDMSubjectPrefix starts the subject of every mail carrying an IHE XDM archive (ECO.2.1.3). Readers
// hide it from the professional (ECO.3.1.3).
const XDMSubjectPrefix = "XDM/1.0/DDM+"

// MaxTypeLength is the length, in characters, to which the document type is cut in the subject and
// in the PDF file names (ECO.2.1.3, ECO.2.1.6).
const MaxTypeLength = 40

// DocumentInfo is what the subject, the PDF names and the MSSanté headers need from one CDA
// document. InfoFromCDA fills it from a parsed document.
type DocumentInfo struct {
	// Code is ClinicalDocument/code/@code (X-MSS-CODECDA).
	Code string
	// TypeName is code/@displayName (the XDS typeCodeDisplayName).
	TypeName string
	// Title is ClinicalDocument/title.
	Title string
	// ActDate is documentationOf/serviceEvent/effectiveTime/low as written ("20220531…"), else the
	// document effectiveTime; only its first 8 digits are used.
	ActDate string
	Patient PatientNames
}

// PatientNames are the traits of the patient the subject and the file names show.
type PatientNames struct {
	// INS is the 15-character matricule, empty when the document has none. It identifies the
	// patient when checking that a mail concerns one patient only.
	INS string
	// BirthName is the birth name (nom de naissance); UsedName is used when it is empty.
	BirthName string
	UsedName  string
	// FirstName is the first given name.
	FirstName string
	// BirthDate is birthTime as written ("19781126"); empty or shorter than 8 digits: not shown.
	BirthDate string
	// Qualified reports whether the document carries a qualified INS: matricule with a valid key
	// under an INS OID, and the birth name, first given name, birth date and sex (ECO.2.4.2).
	Qualified bool
}

// Name returns the birth name, else the used name (ECO.2.1.3: "nom de naissance si disponible sinon
// le nom usuel").
func (p PatientNames) Name() string {
	if strings.TrimSpace(p.BirthName) != "" {
		return p.BirthName
	}
	return p.UsedName
}

// sameAs reports whether p and q name the same patient: same INS when both have one, else same
// name, first name and birth date in their RNIV forms.
func (p PatientNames) sameAs(q PatientNames) bool {
	if p.INS != "" && q.INS != "" {
		return p.INS == q.INS
	}
	return RNIVName(p.Name()) == RNIVName(q.Name()) && RNIVName(p.FirstName) == RNIVName(q.FirstName) &&
		dateDigits(p.BirthDate) == dateDigits(q.BirthDate)
}

// String names the patient for an error message: "NOM Prénom (INS 2790…)".
func (p PatientNames) String() string {
	s := strings.TrimSpace(RNIVName(p.Name()) + " " + p.FirstName)
	if p.INS != "" {
		s += " (INS " + p.INS + ")"
	}
	return s
}

// dateDigits returns the first 8 characters of an HL7 time when they are digits (AAAAMMJJ). A
// lunar date (day or month 00, as civil records of people born abroad may have) is kept: the
// referential accepts it in the subject.
func dateDigits(ts string) string {
	if len(ts) < 8 {
		return ""
	}
	for i := 0; i < 8; i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return ""
		}
	}
	return ts[:8]
}

// Subject returns the subject of a mail carrying docs (ECO.2.1.3):
// "XDM/1.0/DDM+<label> <NOM> <PRENOM> <JJ/MM/AAAA>", label being the document type cut to 40
// characters for one document and "N documents" for several, names in upper case without
// diacritics, the birth date left out when unknown. It refuses documents of several patients.
func Subject(docs []DocumentInfo) (string, error) {
	if len(docs) == 0 {
		return "", fmt.Errorf("subject: %w", ErrNoDocument)
	}
	p, err := singlePatient(docs)
	if err != nil {
		return "", err
	}
	label := fmt.Sprintf("%d documents", len(docs))
	if len(docs) == 1 {
		label = typeLabel(docs[0])
	}
	parts := []string{label}
	// A name missing from the document leaves no empty field (two spaces in a row).
	for _, s := range []string{RNIVName(p.Name()), RNIVName(p.FirstName)} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if d := dateDigits(p.BirthDate); d != "" {
		parts = append(parts, d[6:8]+"/"+d[4:6]+"/"+d[0:4])
	}
	return XDMSubjectPrefix + strings.Join(parts, " "), nil
}

// typeLabel is the document type cut to 40 characters (ECO.2.1.3, ECO.2.1.6), without the space
// the cut may leave at its end: the separator that follows stays a single space or underscore.
func typeLabel(d DocumentInfo) string {
	return strings.TrimRight(Truncate(typeName(d), MaxTypeLength), " ")
}

// typeName is the document type shown to people: code/@displayName, else the title, else the code.
func typeName(d DocumentInfo) string {
	for _, s := range []string{d.TypeName, d.Title, d.Code} {
		if s = strings.Join(strings.Fields(s), " "); s != "" {
			return s
		}
	}
	return "Document"
}

// singlePatient returns the patient of docs, or ErrSeveralPatients (ECO.2.1.1).
func singlePatient(docs []DocumentInfo) (PatientNames, error) {
	p := docs[0].Patient
	for _, d := range docs[1:] {
		if !d.Patient.sameAs(p) {
			return p, fmt.Errorf("%w: %s and %s", ErrSeveralPatients, p, d.Patient)
		}
		if p.INS == "" {
			p.INS = d.Patient.INS
		}
	}
	return p, nil
}

// DisplaySubject returns the subject a professional sees: without the "XDM/1.0/DDM+" prefix
// (ECO.3.1.3), also when reply or forward markers precede it ("RE: XDM/1.0/DDM+CR …" shows as
// "RE: CR …"). Surrounding spaces are trimmed; the prefix is matched without regard to case.
func DisplaySubject(subject string) string {
	s := strings.TrimSpace(subject)
	markers := replyMarkers(s)
	rest := s[len(markers):]
	if len(rest) >= len(XDMSubjectPrefix) && strings.EqualFold(rest[:len(XDMSubjectPrefix)], XDMSubjectPrefix) {
		return strings.TrimSpace(markers + strings.TrimSpace(rest[len(XDMSubjectPrefix):]))
	}
	return s
}

// replyMarkers returns the reply and forward markers that start s ("Re: ", "TR : ", "Fwd: ",
// "RE[2]: "…), with the spaces that follow them.
func replyMarkers(s string) string {
	end := 0
	for {
		rest := s[end:]
		word := 0
		for word < len(rest) && word < 4 && isASCIILetter(rest[word]) {
			word++
		}
		switch strings.ToLower(rest[:word]) {
		case "re", "fw", "fwd", "tr", "aw", "wg", "sv", "rif", "ref":
		default:
			return s[:end]
		}
		i := word
		if i < len(rest) && rest[i] == '[' { // "RE[2]:"
			j := strings.IndexByte(rest[i:], ']')
			if j < 0 {
				return s[:end]
			}
			i += j + 1
		}
		for i < len(rest) && rest[i] == ' ' {
			i++
		}
		if i >= len(rest) || rest[i] != ':' {
			return s[:end]
		}
		i++
		for i < len(rest) && rest[i] == ' ' {
			i++
		}
		end += i
	}
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// HasXDMPrefix reports whether subject starts with the XDM prefix.
func HasXDMPrefix(subject string) bool {
	return DisplaySubject(subject) != strings.TrimSpace(subject)
}

// PDFName returns the file name of the PDF/A rendering of doc (ECO.2.1.6):
// "<AAAAMMJJ>_<type ≤ 40>_<NOM>_<prénom>[_<dossier>].pdf". The type keeps its accents as the
// referential's examples do; the name is in upper case without diacritics, the first name without
// diacritics and in its case as written; characters that file systems forbid become "_".
// When the act date is unknown, fallback (AAAAMMJJ) is used.
func PDFName(doc DocumentInfo, recordNumber, fallback string) string {
	date := dateDigits(doc.ActDate)
	if date == "" {
		date = fallback
	}
	parts := []string{date, typeLabel(doc), RNIVName(doc.Patient.Name()),
		strings.Join(strings.Fields(StripDiacritics(doc.Patient.FirstName)), " ")}
	if r := strings.TrimSpace(recordNumber); r != "" {
		parts = append(parts, r)
	}
	return SanitizeFileName(strings.Join(parts, "_")) + ".pdf"
}
