package message

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode ISO-8859-x, Windows-125x… parts (received mail)
	"github.com/emersion/go-message/mail"
	"golang.org/x/text/encoding/charmap"

	"github.com/mssante/mssante/ins"
)

// SenderKind tells mails from professionals from mails from patients (ECO.3.1.1).
type SenderKind int

const (
	// Professional: any sender outside the patient domain.
	Professional SenderKind = iota
	// Patient: a Mon espace santé mailbox (<matricule>@patient.mssante.fr).
	Patient
)

// String returns "professional" or "patient".
func (k SenderKind) String() string {
	if k == Patient {
		return "patient"
	}
	return "professional"
}

// MarshalText makes the kind a JSON string.
func (k SenderKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads "professional" or "patient" (JSON written by MarshalText).
func (k *SenderKind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "professional":
		*k = Professional
	case "patient":
		*k = Patient
	default:
		return fmt.Errorf("message: unknown sender kind %q", b)
	}
	return nil
}

// PatientSender is the identity of a patient who wrote from Mon espace santé (ECO.3.1.2): birth
// name and first name from the From label, INS matricule from the address.
type PatientSender struct {
	BirthName string `json:"birth_name"`
	FirstName string `json:"first_name"`
	INS       string `json:"ins"`
	// KeyValid reports whether the matricule's key is right.
	KeyValid bool `json:"key_valid"`
}

// ReceivedDocument is one CDA document of a received IHE XDM archive.
type ReceivedDocument struct {
	// PatientID is the XDS patientId of the document as written in METADATA.XML: the patient the
	// mail concerns (ECO.2.1.2).
	PatientID string `json:"patient_id"`
	// INS is the matricule of PatientID when it is an INS.
	INS         string `json:"ins,omitempty"`
	Code        string `json:"code"`
	DisplayName string `json:"display_name"`
	Level       string `json:"level"`
	Title       string `json:"title"`
	// PatientOID is the assigning authority of PatientID when it is an INS.
	PatientOID string `json:"patient_oid,omitempty"`
	// PatientName is the patient's name and first name in the CDA header.
	PatientName string `json:"patient_name,omitempty"`
	// UniqueID is the XDS uniqueId of the document in METADATA.XML.
	UniqueID string `json:"unique_id,omitempty"`
	// Qualified reports whether the CDA header carries a qualified INS (ECO.2.4.2).
	Qualified bool   `json:"qualified_ins"`
	Path      string `json:"path"`
}

// Attachment is a leaf part a user would see as a file.
type Attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	Data        []byte `json:"-"`
}

// Report is a delivery report, a bounce or a read receipt received (ECO.2.3.1, ECO.2.3.2).
type Report struct {
	// Kind is "dsn" (RFC 3464 delivery status), "mdn" (RFC 8098) or "bounce" (a non-standard
	// non-delivery notice, such as Mon espace santé's "Message non distribué").
	Kind      string `json:"kind"`
	Recipient string `json:"recipient,omitempty"`
	// Action is the DSN action: "failed", "delayed", "delivered", "relayed", "expanded".
	Action string `json:"action,omitempty"`
	// Status is the DSN status code ("5.1.1").
	Status string `json:"status,omitempty"`
	// Disposition is the MDN disposition type: "displayed", "deleted"…
	Disposition string `json:"disposition,omitempty"`
	// Reason is the diagnostic as the server wrote it.
	Reason            string `json:"reason,omitempty"`
	OriginalMessageID string `json:"original_message_id,omitempty"`
	// OriginalEnvelopeID is the ENVID the sender gave at MAIL FROM, as the DSN returns it in
	// Original-Envelope-Id (RFC 3464 §2.2.1; the outbox sets it to the Message-ID). Empty for MDNs
	// and bounces.
	OriginalEnvelopeID string `json:"original_envelope_id,omitempty"`
}

// Failed reports whether the report says the mail did not reach its recipient.
func (r Report) Failed() bool { return r.Kind == "bounce" || r.Action == "failed" }

// Message is a received mail as a MSSanté client shows it.
type Message struct {
	MessageID  string    `json:"message_id"`
	InReplyTo  []string  `json:"in_reply_to,omitempty"`
	References []string  `json:"references,omitempty"`
	Date       time.Time `json:"date,omitzero"`
	From       Address   `json:"from"`
	To         []Address `json:"to,omitempty"`
	Cc         []Address `json:"cc,omitempty"`
	ReplyTo    []Address `json:"reply_to,omitempty"`
	// Subject is as sent; DisplaySubject without the XDM prefix (ECO.3.1.3).
	Subject        string `json:"subject"`
	DisplaySubject string `json:"display_subject"`
	// SenderKind and Patient: ECO.3.1.1, ECO.3.1.2. Patient is nil for a professional.
	SenderKind SenderKind     `json:"sender_kind"`
	Patient    *PatientSender `json:"patient,omitempty"`
	Text       string         `json:"text,omitempty"`
	HTML       string         `json:"html,omitempty"`
	// Documents are the CDA documents of IHE_XDM.zip.
	Documents   []ReceivedDocument `json:"documents"`
	PDFs        []string           `json:"pdfs"`
	Attachments []Attachment       `json:"attachments,omitempty"`
	// MDNRequested: Disposition-Notification-To is present (answer with BuildMDN, ECO.3.1.6).
	MDNRequested bool      `json:"mdn_requested"`
	MDNTo        []Address `json:"mdn_to,omitempty"`
	// DSNRequested: Return-Receipt-To is present.
	DSNRequested bool `json:"dsn_requested"`
	// Headers are the X-MSS-* fields, names upper-cased ("X-MSS-CODECDA").
	Headers map[string]string `json:"headers"`
	// Reports are the delivery reports, bounces and read receipts the mail carries.
	Reports []Report `json:"reports"`
	// XDM is IHE_XDM.zip as received, nil when absent.
	XDM []byte `json:"-"`
	// Warnings are what was odd but did not stop reading (French, for the professional).
	Warnings []string `json:"warnings"`

	raw mail.Header
	// originalID is the Message-ID of the mail a report returns.
	originalID string
	// skipData: ReadOptions.SkipAttachmentData.
	skipData bool
}

// ReadOptions configure Parse; nil means defaults.
type ReadOptions struct {
	// PatientDomain is the patients' mail domain; ins.DefaultPatientDomain when empty.
	PatientDomain string
	// SkipAttachmentData: attachments other than the XDM archive are listed (Name, ContentType,
	// and PDFs) without being decoded or read into memory: their Data is nil and their Size -1.
	// For an index, which needs the text, the reports and the documents only: a mail of a few
	// megabytes of PDF then costs the parse of its header and of its MIME structure.
	SkipAttachmentData bool
}

func (o *ReadOptions) patientDomain() string {
	if o == nil || o.PatientDomain == "" {
		return ins.DefaultPatientDomain
	}
	return o.PatientDomain
}

// ErrNotMail: the data is not an RFC 5322 message (no header could be read).
var ErrNotMail = errors.New("message: not a mail")

// Parse reads a received mail. It is lenient: odd charsets, unreadable parts or a broken XDM
// archive become Warnings, and what could be read is returned. Non-UTF-8 text parts are decoded.
func Parse(data []byte, opts *ReadOptions) (*Message, error) {
	e, err := gomessage.Read(bytes.NewReader(data))
	if e == nil {
		return nil, fmt.Errorf("%w: %w", ErrNotMail, err)
	}
	m := &Message{raw: mail.Header{Header: e.Header}, Headers: map[string]string{},
		Documents: []ReceivedDocument{}, PDFs: []string{}, Reports: []Report{}, Warnings: []string{},
		skipData: opts != nil && opts.SkipAttachmentData}
	if err != nil {
		m.warn("en-tête ou encodage non reconnu : %v", err)
	}
	m.readHeader(opts.patientDomain())
	if err := m.walk(e); err != nil {
		m.warn("structure MIME illisible : %v", err)
	}
	m.detectBounce()
	for i := range m.Reports {
		if r := &m.Reports[i]; r.OriginalMessageID == "" {
			r.OriginalMessageID = firstNonEmpty(m.originalID, firstOf(m.InReplyTo))
		}
	}
	return m, nil
}

func (m *Message) warn(format string, args ...any) {
	m.Warnings = append(m.Warnings, fmt.Sprintf(format, args...))
}

func (m *Message) readHeader(patientDomain string) {
	h := m.raw
	var err error
	if m.MessageID, err = h.MessageID(); err != nil {
		m.warn("Message-ID illisible : %v", err)
	}
	m.InReplyTo, _ = h.MsgIDList("In-Reply-To")
	m.References, _ = h.MsgIDList("References")
	m.Date, _ = h.Date()
	if m.Subject, err = h.Subject(); err != nil {
		m.warn("objet mal encodé : %v", err)
	}
	m.DisplaySubject = DisplaySubject(m.Subject)
	from := m.addresses("From")
	if len(from) > 0 {
		m.From = from[0]
	}
	m.To, m.Cc, m.ReplyTo = m.addresses("To"), m.addresses("Cc"), m.addresses("Reply-To")
	if h.Has("Disposition-Notification-To") {
		m.MDNRequested, m.MDNTo = true, m.addresses("Disposition-Notification-To")
	}
	m.DSNRequested = h.Has("Return-Receipt-To")
	fields := h.Fields()
	for fields.Next() {
		if k := strings.ToUpper(fields.Key()); strings.HasPrefix(k, "X-MSS-") {
			m.Headers[k] = strings.TrimSpace(fields.Value())
		}
	}
	var warnings []string
	m.SenderKind, m.Patient, warnings = classifySender(m.From, patientDomain)
	m.Warnings = append(m.Warnings, warnings...)
}

// Sender applies ECO.3.1.1 and ECO.3.1.2 to a sender address alone (a mailbox list reads only
// the envelope): Patient with the identity read from the address and its label when a patient
// wrote from Mon espace santé (patientDomain, ins.DefaultPatientDomain when empty), else
// Professional and nil. It is the rule Parse applies to From.
func Sender(from Address, patientDomain string) (SenderKind, *PatientSender) {
	if patientDomain == "" {
		patientDomain = ins.DefaultPatientDomain
	}
	k, p, _ := classifySender(from, patientDomain)
	return k, p
}

func classifySender(from Address, patientDomain string) (SenderKind, *PatientSender, []string) {
	if !from.IsPatient(patientDomain) || !hasMatriculeShape(from) {
		return Professional, nil, nil
	}
	p, warnings := patientSender(from)
	return Patient, p, warnings
}

func (m *Message) addresses(key string) []Address {
	list, err := m.raw.AddressList(key)
	if err != nil {
		m.warn("adresses %s illisibles : %v", key, err)
	}
	out := make([]Address, 0, len(list))
	for _, a := range list {
		out = append(out, Address{Name: a.Name, Addr: a.Address})
	}
	return out
}

// hasMatriculeShape reports whether the local part of a patient-domain address has the shape of an
// INS matricule (15 characters, key right or wrong). Mon espace santé's own notices come from the
// patient domain too ("ne-pas-repondre@…": "Message non distribué"), and are not a patient writing.
func hasMatriculeShape(a Address) bool {
	local, _, _ := strings.Cut(a.Addr, "@")
	m, _ := ins.Parse(local)
	return !m.IsZero()
}

// patientSender reads the identity of a Mon espace santé sender (ECO.3.1.2).
func patientSender(from Address) (*PatientSender, []string) {
	var warnings []string
	local, _, _ := strings.Cut(from.Addr, "@")
	p := &PatientSender{INS: strings.ToUpper(local)}
	if mat, err := ins.Parse(local); err == nil {
		p.INS, p.KeyValid = mat.String(), true
	} else {
		warnings = append(warnings, fmt.Sprintf("matricule INS de l'expéditeur invalide (%s) : %v", local, err))
	}
	var ambiguous bool
	p.BirthName, p.FirstName, ambiguous = splitPatientLabel(from.Name)
	if ambiguous {
		warnings = append(warnings, fmt.Sprintf("nom et prénom de l'usager déduits de l'ordre du libellé « %s » (prénom puis nom)", from.Name))
	}
	return p, warnings
}

// splitPatientLabel reads "Prénom NOM", "NOM Prénom" or "Prénom Nom" from the From label of a
// patient. Words all in capitals are the birth name; when case does not tell, the order of the
// referential's example (« Léo Dupond ») is taken: first word the first name, the rest the name.
func splitPatientLabel(label string) (birth, first string, ambiguous bool) {
	words := strings.Fields(label)
	switch len(words) {
	case 0:
		return "", "", false
	case 1:
		return RNIVName(words[0]), "", true
	}
	var upper, other []string
	for _, w := range words {
		if isCapitals(w) {
			upper = append(upper, w)
		} else {
			other = append(other, w)
		}
	}
	if len(upper) > 0 && len(other) > 0 {
		return RNIVName(strings.Join(upper, " ")), other[0], false
	}
	return RNIVName(strings.Join(words[1:], " ")), words[0], true
}

func isCapitals(w string) bool {
	letters := 0
	for _, r := range w {
		if r != '-' && r != '\'' && strings.ToUpper(string(r)) != string(r) {
			return false
		}
		if strings.ToLower(string(r)) != string(r) {
			letters++
		}
	}
	return letters > 1
}

// walk visits every leaf part.
func (m *Message) walk(e *gomessage.Entity) error {
	return e.Walk(func(path []int, part *gomessage.Entity, err error) error {
		if err != nil {
			m.warn("partie %v : %v", path, err)
			if part == nil {
				return nil
			}
			// unknown charset or encoding: the part is kept as received
		}
		if part.MultipartReader() != nil {
			return nil
		}
		m.leaf(part)
		return nil
	})
}

// maxPartSize bounds what is read of one part (a mail to MES is at most 25 MB).
const maxPartSize = 64 << 20

func (m *Message) leaf(part *gomessage.Entity) {
	ct, _, _ := part.Header.ContentType()
	ct = strings.ToLower(ct)
	name := partName(part.Header)
	disp, _, _ := part.Header.ContentDisposition()
	isText := name == "" && disp != "attachment" &&
		((ct == "text/plain" || ct == "") && m.Text == "" || ct == "text/html" && m.HTML == "")
	isReport := ct == "message/delivery-status" || ct == "message/disposition-notification" ||
		ct == "text/rfc822-headers" || (ct == "message/rfc822" && len(m.Reports) > 0)
	if m.skipData && !isText && !isReport && !m.isXDM(name) {
		// Not read: the multipart reader skips the part's bytes without decoding them.
		m.list(Attachment{Name: name, ContentType: ct, Size: -1})
		return
	}
	data, err := io.ReadAll(io.LimitReader(part.Body, maxPartSize))
	if err != nil {
		m.warn("partie %s illisible : %v", firstNonEmpty(name, ct), err)
	}
	switch {
	case ct == "message/delivery-status":
		m.Reports = append(m.Reports, parseDSN(data)...)
	case ct == "message/disposition-notification":
		m.Reports = append(m.Reports, parseMDN(data))
	case isText && ct == "text/html":
		m.HTML = normalizeText(string(data))
	case isText:
		m.Text = normalizeText(string(data))
	case isReport:
		// the original mail (or its header) returned in a report: part of the report, not a file
		m.originalID = originalMessageID(data)
	default:
		m.attachment(name, ct, data)
	}
}

// isXDM tells whether an attachment of that name is the XDM archive: IHE_XDM.zip, or else the
// first .zip whose name says XDM.
func (m *Message) isXDM(name string) bool {
	return strings.EqualFold(name, XDMFileName) ||
		(m.XDM == nil && strings.HasSuffix(strings.ToLower(name), ".zip") && strings.Contains(strings.ToUpper(name), "XDM"))
}

func (m *Message) attachment(name, ct string, data []byte) {
	if m.isXDM(name) {
		m.XDM = data
		docs, warnings, err := readXDM(data)
		if err != nil {
			m.warn("archive %s illisible : %v", name, err)
		}
		m.Documents = append(m.Documents, docs...)
		m.Warnings = append(m.Warnings, warnings...)
		m.Attachments = append(m.Attachments, Attachment{Name: name, ContentType: ct, Size: len(data), Data: data})
		return
	}
	m.list(Attachment{Name: name, ContentType: ct, Size: len(data), Data: data})
}

// list adds an attachment other than the XDM archive, and its name to PDFs when it is one.
func (m *Message) list(a Attachment) {
	m.Attachments = append(m.Attachments, a)
	if strings.HasSuffix(strings.ToLower(a.Name), ".pdf") || a.ContentType == "application/pdf" {
		m.PDFs = append(m.PDFs, a.Name)
	}
}

// partName returns the file name of a part: Content-Disposition filename, else Content-Type
// name (RFC 2231 and RFC 2047 forms decoded).
func partName(h gomessage.Header) string {
	if _, params, err := h.ContentDisposition(); err == nil && params["filename"] != "" {
		return decodeWords(params["filename"])
	}
	if _, params, err := h.ContentType(); err == nil && params["name"] != "" {
		return decodeWords(params["name"])
	}
	return ""
}

func decodeWords(s string) string {
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// detectBounce recognises non-standard non-delivery notices: Mon espace santé's
// "Message non distribué" (closed mailbox, unknown patient, invalid address).
func (m *Message) detectBounce() {
	s := strings.ToLower(StripDiacritics(m.Subject))
	if !strings.Contains(s, "message non distribue") && !strings.Contains(s, "undelivered mail") {
		return
	}
	for _, r := range m.Reports {
		if r.Kind == "dsn" {
			return // the standard report says it already
		}
	}
	m.Reports = append(m.Reports, Report{Kind: "bounce", Recipient: bounceRecipient(m.Text),
		Reason: firstLines(m.Text, 3), OriginalMessageID: firstOf(m.InReplyTo)})
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// bounceRecipient returns the first mail address found in a bounce text.
func bounceRecipient(text string) string {
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return r == ' ' || r == '\n' || r == '\r' || r == '\t' || r == '<' || r == '>' || r == '"' || r == ',' || r == ';' || r == '(' || r == ')'
	}) {
		w = strings.TrimRight(w, ".:")
		if _, err := ParseAddress(w); err == nil && strings.Contains(w, "@") {
			return w
		}
	}
	return ""
}

func firstLines(text string, n int) string {
	var out []string
	for _, l := range strings.Split(normalizeText(text), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
			if len(out) == n {
				break
			}
		}
	}
	return strings.Join(out, " ")
}

// originalMessageID returns the Message-ID of a returned mail or header block.
func originalMessageID(data []byte) string {
	blocks := readFieldBlocks(data)
	if len(blocks) == 0 {
		return ""
	}
	h := mail.Header{Header: blocks[0]}
	id, _ := h.MessageID()
	return id
}

// readFieldBlocks reads the blank-line-separated header blocks of a delivery-status or
// disposition-notification body.
func readFieldBlocks(data []byte) []gomessage.Header {
	var blocks []gomessage.Header
	br := bufio.NewReader(bytes.NewReader(normalizeCRLF(data)))
	for {
		for { // skip blank lines between blocks
			b, err := br.Peek(2)
			if err != nil || string(b) != "\r\n" {
				break
			}
			br.Discard(2)
		}
		if _, err := br.Peek(1); err != nil {
			return blocks
		}
		h, err := readHeader(br)
		if err != nil || h.Len() == 0 {
			return blocks
		}
		blocks = append(blocks, h)
	}
}

func normalizeCRLF(b []byte) []byte {
	s := normalizeText(string(b))
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return []byte(strings.ReplaceAll(s, "\n", "\r\n") + "\r\n")
}

// addressOf strips the address type of a DSN/MDN field ("rfc822; a@b" → "a@b").
func addressOf(v string) string {
	if _, a, ok := strings.Cut(v, ";"); ok {
		v = a
	}
	return strings.Trim(strings.TrimSpace(v), "<>")
}

func parseDSN(data []byte) []Report {
	blocks := readFieldBlocks(data)
	var out []Report
	envID := ""
	for i, h := range blocks {
		if i == 0 && !h.Has("Final-Recipient") {
			// Per-message fields (RFC 3464 §2.2). Original-Envelope-Id is kept as written:
			// Postfix writes the ENVID as it decoded it from MAIL FROM's xtext.
			envID = strings.TrimSpace(h.Get("Original-Envelope-Id"))
			continue
		}
		out = append(out, Report{Kind: "dsn", Recipient: addressOf(firstNonEmpty(h.Get("Final-Recipient"), h.Get("Original-Recipient"))),
			Action: strings.ToLower(strings.TrimSpace(h.Get("Action"))), Status: strings.TrimSpace(h.Get("Status")),
			Reason:             eightBitText(strings.TrimSpace(addressOfDiag(h.Get("Diagnostic-Code")))),
			OriginalEnvelopeID: envID})
	}
	return out
}

// eightBitText returns a report field that is not valid UTF-8 decoded as Windows-1252 (a superset of
// ISO-8859-1): French servers write "Message non distribué" in 8-bit; a valid UTF-8 field is kept.
func eightBitText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	if d, err := charmap.Windows1252.NewDecoder().String(s); err == nil {
		return d
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// addressOfDiag strips the diagnostic type ("smtp; 550 …" → "550 …").
func addressOfDiag(v string) string {
	if t, rest, ok := strings.Cut(v, ";"); ok && !strings.Contains(t, " ") {
		return strings.TrimSpace(rest)
	}
	return v
}

func parseMDN(data []byte) Report {
	r := Report{Kind: "mdn"}
	blocks := readFieldBlocks(data)
	if len(blocks) == 0 {
		return r
	}
	h := blocks[0]
	r.Recipient = addressOf(firstNonEmpty(h.Get("Final-Recipient"), h.Get("Original-Recipient")))
	r.OriginalMessageID = strings.Trim(strings.TrimSpace(h.Get("Original-Message-ID")), "<>")
	disp := h.Get("Disposition")
	if _, t, ok := strings.Cut(disp, ";"); ok {
		disp = t
	}
	r.Disposition = strings.ToLower(strings.TrimSpace(disp))
	r.Reason = eightBitText(strings.TrimSpace(h.Get("Error")))
	return r
}
