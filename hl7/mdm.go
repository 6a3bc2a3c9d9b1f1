package hl7

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/ins"
)

// ErrMissing: a value the MDM profile requires is absent (the control id, the CDA, the patient
// ids, the document id, the sender's address). The error names it; the document cannot be sent
// until the input is fixed.
var ErrMissing = errors.New("hl7: missing required value")

// Profile is MSH-21 of the volet "Transmission LPS de documents CDA reçus par courriel MSSanté".
const Profile = "1.1^CISIS_CDA_HL7_LPS"

// Version is MSH-12.
const Version = "2.6"

// Event is the trigger event of an MDM message.
type Event string

// Events of the volet (evenements-declenchants.md). Deletion (T04) has no source in a received
// mail and is not written.
const (
	// EventOriginal: initial transmission, MDM^T02^MDM_T02 (ORC-1 NW, OBX-11 F).
	EventOriginal Event = "T02"
	// EventReplace: the CDA replaces a document (relatedDocument RPLC): MDM^T10^MDM_T02 (ORC-1 RO,
	// OBX-11 C, TXA-13 the replaced document).
	EventReplace Event = "T10"
)

// String returns the event code.
func (e Event) String() string { return string(e) }

// Document is one received CDA document and the mail that carried it: the input of BuildMDM.
type Document struct {
	// CDA is the document as received, written base64 in OBX 1.
	CDA []byte
	// Header is what cda read of CDA; nil means BuildMDM parses CDA itself.
	Header *cda.Document
	Mail   Mail
	// Restrictions are the MSSanté restriction metadata of the document (OBX 3 to 6).
	Restrictions Restrictions
}

// Mail is what the MDM says of the mail the document came in (OBX 2 and the PRT segments).
type Mail struct {
	// MessageID is the Message-ID of the mail (OBX-3.1 of OBX 2), written as given: without
	// angle brackets as message.Message.MessageID reads it.
	MessageID string
	Subject   string // OBX-3.2 of OBX 2
	Body      string // the text body, written base64 in OBX-5 of OBX 2
	// From is the sender (PRT SB, required).
	From Participant
	// To are the original MSSanté recipients (PRT RCT, "requis si connu").
	To []Participant
	// ReplyTo are the addresses the recipient may answer to (PRT REPLY, optional).
	ReplyTo []string
	// Received is when the mail was received; written in EVN-6 when not zero.
	Received time.Time
}

// Participant is a sender or recipient of the mail: its address and, when the gateway knows it
// (from the Annuaire Santé), the person or organisation behind it.
type Participant struct {
	Address      string            // PRT-15 "^^X.400^address"
	Person       *cda.Person       // PRT-5 (XCN) when known
	Organization *cda.Organization // PRT-8 (XON) when known
}

// Restrictions are the MSSanté restriction metadata of the volet (table MetaDMPMSS), written in
// that fixed order as OBX 3 to 6 with Y or N. The zero value is "N" for all four.
type Restrictions struct {
	HiddenFromProfessionals     bool // MASQUE_PS
	InvisibleToPatient          bool // INVISIBLE_PATIENT
	InvisibleToLegalGuardians   bool // INVISIBLE_REP_LEGAUX
	ConfidentialityCodeModified bool // MODIF_CONF_CODE
}

// RestrictionsOf reads the French masking codes among the XDS confidentiality codes of the
// received document (XDM METADATA.XML, coding scheme 1.2.250.1.213.1.1.4.13: MASQUE_PS,
// INVISIBLE_PATIENT, INVISIBLE_REP_LEGAL); other codes ("N"…) are ignored. A received document
// is not a metadata update: ConfidentialityCodeModified stays false.
func RestrictionsOf(codes []string) Restrictions {
	var r Restrictions
	for _, c := range codes {
		switch strings.ToUpper(strings.TrimSpace(c)) {
		case "MASQUE_PS":
			r.HiddenFromProfessionals = true
		case "INVISIBLE_PATIENT":
			r.InvisibleToPatient = true
		case "INVISIBLE_REP_LEGAL", "INVISIBLE_REP_LEGAUX":
			r.InvisibleToLegalGuardians = true
		}
	}
	return r
}

// Envelope carries what the MSH of a message needs beyond the document: who sends it to whom,
// and the injected control id and time (deterministic writing).
type Envelope struct {
	SendingApplication   string // MSH-3 (HD namespace id), e.g. "MSSANTE"
	SendingFacility      string // MSH-4
	ReceivingApplication string // MSH-5, e.g. "DPI"
	ReceivingFacility    string // MSH-6
	// ControlID is MSH-10, unique per message; the ACK repeats it in MSA-2. Required.
	ControlID string
	// Time is MSH-7 and EVN-2, written in Europe/Paris with its offset. Required.
	Time time.Time
	// ProcessingID is MSH-11: "P" (production, the default), "T" (test) or "D" (debug).
	ProcessingID string
}

// EventOf returns the event the document calls for: EventReplace when its header names a
// replaced document (relatedDocument typeCode RPLC), else EventOriginal.
func EventOf(h *cda.Document) Event {
	if _, ok := h.Replaces(); ok {
		return EventReplace
	}
	return EventOriginal
}

// BuildMDM writes the MDM message of one received document (profils-messages.md): MSH EVN PID
// PV1 ORC OBR TXA, OBX 1 (the CDA, ED base64) with PRT SB, RCT and REPLY, OBX 2 (the mail), OBX 3
// to 6 (restriction metadata). Segments end with CR. The same input gives the same bytes.
func BuildMDM(d *Document, e Envelope) ([]byte, error) {
	h, err := header(d)
	if err != nil {
		return nil, err
	}
	if err := check(d, h, e); err != nil {
		return nil, err
	}
	ev := EventOf(h)
	segs := []string{
		msh(e, ev),
		segment("EVN", "", esc(dtm(e.Time)), "", "", "", esc(dtm(d.Mail.Received))),
		pid(h),
		segment("PV1", "1", "N"),
		segment("ORC", orderControl(ev)),
		segment("OBR", "1", "", "", docType(h.Code)),
		txa(h),
		segment("OBX", "1", "ED", docType(h.Code), "",
			comps("", "text", "XML", "Base64", enc(base64.StdEncoding.EncodeToString(d.CDA))),
			"", "", "", "", "", resultStatus(ev)),
	}
	segs = append(segs, participants(d.Mail)...)
	segs = append(segs, segment("OBX", "2", "ED", comps(esc(d.Mail.MessageID), esc(d.Mail.Subject)), "",
		comps("", "text", "", "Base64", enc(base64.StdEncoding.EncodeToString([]byte(d.Mail.Body)))),
		"", "", "", "", "", "F"))
	segs = append(segs, restrictions(d.Restrictions)...)
	return []byte(strings.Join(segs, "\r") + "\r"), nil
}

func header(d *Document) (*cda.Document, error) {
	if d == nil || len(d.CDA) == 0 {
		return nil, fmt.Errorf("%w: the CDA document", ErrMissing)
	}
	if d.Header != nil {
		return d.Header, nil
	}
	h, err := cda.Parse(d.CDA)
	if err != nil {
		return nil, fmt.Errorf("reading the CDA header: %w", err)
	}
	return h, nil
}

func check(d *Document, h *cda.Document, e Envelope) error {
	var missing []string
	if e.ControlID == "" {
		missing = append(missing, "MSH-10 control id")
	}
	if e.Time.IsZero() {
		missing = append(missing, "MSH-7 time")
	}
	if len(patientIDs(h)) == 0 {
		missing = append(missing, "PID-3 patient id (recordTarget/patientRole/id)")
	}
	if h.ID.Root == "" {
		missing = append(missing, "TXA-12 document id (ClinicalDocument/id)")
	}
	if d.Mail.From.Address == "" {
		missing = append(missing, "PRT SB sender address")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissing, strings.Join(missing, ", "))
	}
	if len(e.ControlID) > 199 {
		return fmt.Errorf("hl7: MSH-10 control id longer than 199 characters")
	}
	return nil
}

func msh(e Envelope, ev Event) string {
	proc := e.ProcessingID
	if proc == "" {
		proc = "P"
	}
	return segment("MSH", encodingChars, esc(e.SendingApplication), esc(e.SendingFacility),
		esc(e.ReceivingApplication), esc(e.ReceivingFacility), esc(dtm(e.Time)), "",
		comps("MDM", esc(string(ev)), "MDM_T02"), esc(e.ControlID), esc(proc), Version,
		"", "", "", "", "FRA", "UNICODE UTF-8", "", "", Profile)
}

// dtm writes an HL7 DTM in Europe/Paris with its offset: "20261202154400+0100". Empty for zero.
func dtm(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cda.Paris()).Format("20060102150405-0700")
}

func orderControl(ev Event) enc {
	if ev == EventReplace {
		return "RO"
	}
	return "NW"
}

func resultStatus(ev Event) enc {
	if ev == EventReplace {
		return "C"
	}
	return "F"
}

// Coding systems of the document type (OBR-4.3, OBX-3.3): JDV_J07-XdsTypeCode-CISIS mixes LOINC
// and TRE_A05-TypeDocComplementaire.
var codingSystems = map[string]string{
	"2.16.840.1.113883.6.1":    "LN",
	"1.2.250.1.213.1.1.4.12":   "TRE_A05",
	"1.2.250.1.213.1.1.4.12.1": "TRE_A05",
}

// docType writes the document type as CWE "code^label^system" (OBR-4, OBX-3 of OBX 1). CWE
// must carry its coding system: an unknown one is written as its OID.
func docType(c cda.Code) enc {
	if c.Code == "" {
		return ""
	}
	sys, ok := codingSystems[c.CodeSystem]
	if !ok {
		sys = c.CodeSystem
	}
	return comps(esc(c.Code), esc(c.DisplayName), esc(sys))
}

// txa writes TXA: type (2), TEXT (3), activity time (4, the CDA effectiveTime), unique document
// number (12), parent document number (13, replacement only), completion status AU (17).
func txa(h *cda.Document) string {
	parent := enc("")
	if id, ok := h.Replaces(); ok {
		parent = ei(id)
	}
	return segment("TXA", "1", esc(h.Code.Code), "TEXT", esc(cdaTime(h.EffectiveTime)),
		"", "", "", "", "", "", "", ei(h.ID), parent, "", "", "", "AU")
}

// ei writes a document id as TXA-12/13 want it: "extension^^root^ISO", or the root alone when
// the id has no extension (profils-messages.md, note 1).
func ei(id cda.II) enc {
	if id.Extension == "" {
		return esc(id.Root)
	}
	return comps(esc(id.Extension), "", esc(id.Root), "ISO")
}

// cdaTime writes a CDA time as an HL7 DTM, at the precision and with the zone of the source.
func cdaTime(t cda.TS) string {
	n := 0
	for n < len(t.Raw) && (t.Raw[n] >= '0' && t.Raw[n] <= '9' || t.Raw[n] == '.' || t.Raw[n] == '+' || t.Raw[n] == '-') {
		n++
	}
	return t.Raw[:n]
}

// Assigning authority namespaces of INS in PID-3 (CI-SIS annex "Prise en charge de l'INS"), as
// every MDM and ORU example of ANS (ansforge/hl7V2-exemples) writes them: the NIR namespace under
// the production, test and demonstration OIDs alike ("…^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS"),
// the OID telling them apart.
var insNamespaces = map[ins.OID]string{
	ins.OIDNIR:  "ASIP-SANTE-INS-NIR",
	ins.OIDNIA:  "ASIP-SANTE-INS-NIA",
	ins.OIDTest: "ASIP-SANTE-INS-NIR",
	ins.OIDDemo: "ASIP-SANTE-INS-NIR",
}

// patientIDs writes recordTarget/patientRole/id, every one in document order, as PID-3
// repetitions: an INS as "matricule^^^NAMESPACE&OID&ISO^INS", any other id (IPP…) as
// "extension^^^&root&ISO^PI". An id without extension says nothing of the patient and is left out.
func patientIDs(h *cda.Document) []enc {
	var out []enc
	for _, id := range h.Patient.IDs {
		if id.Extension == "" {
			continue
		}
		ns, typ := enc(""), enc("PI")
		if n, ok := insNamespaces[ins.OID(id.Root)]; ok {
			ns, typ = esc(n), "INS"
		}
		out = append(out, comps(esc(id.Extension), "", "", subs(ns, esc(id.Root), "ISO"), typ))
	}
	return out
}

// pid writes PID per PAM-FR: ids (3), names (5: the birth name "L" with first given name and
// given names, then the used name "D"), birth date (7), sex (8), birthplace (11, "BDL" with the
// INSEE code in XAD-9), identity reliability (32, VALI for a qualified INS identity).
func pid(h *cda.Document) string {
	p := h.Patient
	id := p.Identity
	var names []enc
	if id.BirthName != "" {
		names = append(names, comps(esc(id.BirthName), esc(id.FirstName), esc(id.GivenNames), "", "", "", "L"))
		if id.UsedName != "" {
			names = append(names, comps(esc(id.UsedName), esc(usedGiven(p)), "", "", "", "", "D"))
		}
	} else if p.Name.Family != "" {
		names = append(names, comps(esc(p.Name.Family), esc(usedGiven(p)), "", "", "", "", "D"))
	}
	birth := ""
	if !id.BirthDate.IsZero() {
		birth = id.BirthDate.Format("20060102")
	} else {
		birth = cdaTime(p.BirthTime)
	}
	place := enc("")
	if id.BirthplaceCode != "" {
		place = comps("", "", "", "", "", "", "BDL", "", esc(id.BirthplaceCode))
	}
	fields := []enc{"", "", reps(patientIDs(h)...), "", reps(names...), "", esc(birth), sex(p), "", "", place}
	if id.Qualified() == nil {
		// PID-32 identity reliability: a CDA carries an INS only for a qualified identity
		// (CI-SIS INS annex), which PAM-FR writes VALI, as every ANS example with an INS does.
		fields = append(fields, make([]enc, 32-len(fields)-1)...)
		fields = append(fields, "VALI")
	}
	return segment("PID", fields...)
}

func usedGiven(p cda.Patient) string { return usedGivenOf(p.Name) }

// sex writes PID-8 (HL7 table 0001): F, M, else U.
func sex(p cda.Patient) enc {
	switch p.Identity.Sex {
	case ins.SexFemale:
		return "F"
	case ins.SexMale:
		return "M"
	}
	switch p.Gender.Code {
	case "F", "M":
		return enc(p.Gender.Code)
	}
	return "U"
}

// participants writes the PRT segments that follow OBX 1: SB (the sender), RCT (each original
// recipient), REPLY (each reply-to address).
func participants(m Mail) []string {
	out := []string{prt("SB", "Send by", m.From)}
	for _, to := range m.To {
		out = append(out, prt("RCT", "Result Copies To", to))
	}
	for _, r := range m.ReplyTo {
		out = append(out, prt("REPLY", "Reply To", Participant{Address: r}))
	}
	return out
}

// prt writes one PRT: action UC (2), participation (4, coding system "participation"), person
// (5, XCN), organisation (8, XON), address (15, "^^X.400^mail").
func prt(code, label string, p Participant) string {
	return segment("PRT", "", "UC", "", comps(enc(code), enc(label), "participation"),
		xcn(p.Person), "", "", xon(p.Organization), "", "", "", "", "", "",
		comps("", "", "X.400", esc(p.Address)))
}

// OIDs of the national identifiers of professionals and structures (ANS).
const (
	oidIDNPS = "1.2.250.1.71.4.2.1"
	oidIDNST = "1.2.250.1.71.4.2.2"
)

// xcn writes a person as CI-SIS does: "ID^FAMILY^Given^^^^^^&OID&ISO^D^^^IDNPS".
func xcn(p *cda.Person) enc {
	if p == nil {
		return ""
	}
	typ, auth := enc(""), enc("")
	if p.ID.Extension != "" {
		typ = "EI"
		if p.ID.Root == oidIDNPS {
			typ = "IDNPS"
		}
		auth = subs("", esc(p.ID.Root), "ISO")
	}
	nameType := enc("")
	if p.Name.Family != "" {
		nameType = "D"
	}
	return comps(esc(p.ID.Extension), esc(p.Name.Family), esc(usedGivenOf(p.Name)), "", "", "", "", "",
		auth, nameType, "", "", typ)
}

func usedGivenOf(n cda.Name) string {
	if len(n.Given) > 0 {
		return n.Given[0]
	}
	return ""
}

// xon writes an organisation: "NAME^^^^^&OID&ISO^IDNST^^^ID".
func xon(o *cda.Organization) enc {
	if o == nil {
		return ""
	}
	typ, auth := enc(""), enc("")
	if o.ID.Extension != "" {
		typ = "IDNST"
		if o.ID.Root != oidIDNST {
			typ = "XX"
		}
		auth = subs("", esc(o.ID.Root), "ISO")
	}
	return comps(esc(o.Name), "", "", "", "", auth, typ, "", "", esc(o.ID.Extension))
}

// The restriction metadata, in the order of the volet (table MetaDMPMSS).
var restrictionCodes = [4][2]string{
	{"MASQUE_PS", "Masqué aux professionnels de Santé"},
	{"INVISIBLE_PATIENT", "Document Non Visible par le patient"},
	{"INVISIBLE_REP_LEGAUX", "Non visible par les représentants Légaux du patient"},
	{"MODIF_CONF_CODE", "Modification Confidentiality Code"},
}

// restrictions writes OBX 3 to 6: CWE "CODE^label^MetaDMPMSS" = "Y|N^^expandedYes-NoIndicator".
func restrictions(r Restrictions) []string {
	vals := [4]bool{r.HiddenFromProfessionals, r.InvisibleToPatient, r.InvisibleToLegalGuardians, r.ConfidentialityCodeModified}
	out := make([]string, 0, 4)
	for i, c := range restrictionCodes {
		yn := enc("N")
		if vals[i] {
			yn = "Y"
		}
		out = append(out, segment("OBX", enc(fmt.Sprint(3+i)), "CWE", comps(esc(c[0]), esc(c[1]), "MetaDMPMSS"), "",
			comps(yn, "", "expandedYes-NoIndicator"), "", "", "", "", "", "F"))
	}
	return out
}
