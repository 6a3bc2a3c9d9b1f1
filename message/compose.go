package message

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/pdfa"
)

// DefaultNIL is the X-MSS-NIL value used when Options.NIL is empty (ECO.2.4.3). The referential
// wants the "référence produit" given when the product is declared on
// convergence.esante.gouv.fr; this open-source build has none, so deployments set theirs
// (mssante compose --nil, MSSANTE_NIL).
const DefaultNIL = "MSSANTE-OSS"

// MaxPatientMailSize is the largest mail Mon espace santé accepts (25 Mo), counted in bytes of the
// encoded mail, decimal megabytes: the stricter reading, so that a mail this package accepts is not
// bounced by MES.
const MaxPatientMailSize = 25 * 1000 * 1000

// XDMFileName is the name of the IHE XDM attachment (ECO.2.1.1).
const XDMFileName = "IHE_XDM.zip"

// Header names of the MSSanté headers (section 3.8 of the referential), written with this case.
const (
	HeaderCodeCDA = "X-MSS-CODECDA" // ECO.2.4.1
	HeaderINS     = "X-MSS-INS"     // ECO.2.4.2
	HeaderNIL     = "X-MSS-NIL"     // ECO.2.4.3
	HeaderMES     = "X-MSS-MES"     // ECO.2.2.8
)

// Draft is a mail to compose.
type Draft struct {
	// From is the sender's mailbox; its Name is the display label (see SenderLabel, ECO.2.2.7).
	From   Address
	To, Cc []Address
	// Subject is used for mails without documents. With documents, the referential subject is
	// generated (ECO.2.1.3) and a different Subject is replaced, with a warning: receivers parse
	// the generated one.
	Subject string
	// Text is the plain-text body; HTML, when set, its HTML twin with the same content (ECO.2.2.4).
	Text, HTML string
	// CDAs are the CDA R2 documents (N1 or N3) to attach, packaged as IHE_XDM.zip with one PDF/A
	// rendering each (ECO.2.1.1). They must concern one patient.
	CDAs [][]byte
	// Files are plain attachments (a scanned letter, an image, a spreadsheet), written after
	// IHE_XDM.zip and the PDF/A renderings. A health document meant to be integrated belongs in
	// CDAs: a CDA given as a file travels, with a warning, but no receiver will file it.
	Files []File
	// RecordNumber is the optional record number (numéro de dossier) of the PDF names (ECO.2.1.6).
	RecordNumber string
	// DSN asks for a delivery status notification: Return-Receipt-To (ECO.2.3.1).
	DSN bool
	// MDN asks for a read receipt: Disposition-Notification-To (ECO.2.3.2).
	MDN bool
	// MESFin sets X-MSS-MES: FIN: the patient may not answer (ECO.2.2.8). Refused without a
	// patient recipient.
	MESFin bool
	// Parent is the mail this one answers (ECO.2.2.2); nil for a new mail.
	Parent *Parent
	// AppContact, when set, makes From an applicative mailbox: a closing notice names this
	// personal or organisational mailbox, and Reply-To is set to it (ECO.2.2.5).
	AppContact *Address
	// Derogation allows a patient recipient whose identity is not qualified, under the temporary
	// derogation of ECO.2.2.6: the address matricule must have a valid key, and Composed.Derogations
	// return the birth date and sex decoded from it, which the professional must have confirmed.
	Derogation bool
	// Patients are patient identities known to the software (patient picker, ECO.3.1.5). A patient
	// recipient whose matricule is one of these qualified identities is accepted without documents.
	Patients []ins.Identity
}

// File is a plain attachment of a Draft.
type File struct {
	// Name is the file name the receiver sees: no directory, no control character.
	Name string
	// ContentType is the MIME type; when empty it comes from the name's extension, and is
	// application/octet-stream for an unknown one.
	ContentType string
	Data        []byte
}

// Parent is what a reply needs of the mail it answers.
type Parent struct {
	MessageID  string   // without angle brackets
	References []string // the parent's References, without angle brackets
	Subject    string
}

// ParentOf returns what a reply to m needs (ECO.2.2.2). Its References are m's References, or,
// when m has none, m's single In-Reply-To (RFC 5322 §3.6.4).
func ParentOf(m *Message) *Parent {
	refs := m.References
	if len(refs) == 0 && len(m.InReplyTo) == 1 {
		refs = m.InReplyTo
	}
	return &Parent{MessageID: m.MessageID, References: append([]string(nil), refs...), Subject: m.Subject}
}

// Options configure Compose. The zero value (or nil) means the documented defaults.
type Options struct {
	// NIL is the X-MSS-NIL product reference; DefaultNIL when empty.
	NIL string
	// PatientDomain is the domain of the patients' mailboxes; ins.DefaultPatientDomain when empty.
	PatientDomain string
	// Now gives the Date header and the fallback act date; time.Now when nil.
	Now func() time.Time
	// Rand gives the Message-ID and the MIME boundaries; crypto/rand when nil. Tests inject a
	// fixed reader for byte-exact golden files.
	Rand io.Reader
	// MaxPatientSize overrides MaxPatientMailSize (tests).
	MaxPatientSize int
	// ConvertN1 converts the embedded PDF of an N1 document that does not declare PDF/A-1 into
	// the PDF/A-1b attached to the mail (pdfa.Options.ConvertN1, e.g. pdfa.Ghostscript.Func);
	// nil attaches the embedded PDF as it is, with a warning.
	ConvertN1 pdfa.ConvertFunc
}

func (o *Options) now() time.Time {
	if o == nil || o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func (o *Options) rand() io.Reader {
	if o == nil || o.Rand == nil {
		return rand.Reader
	}
	return o.Rand
}

func (o *Options) nil() string {
	if o == nil || strings.TrimSpace(o.NIL) == "" {
		return DefaultNIL
	}
	return strings.TrimSpace(o.NIL)
}

func (o *Options) patientDomain() string {
	if o == nil || o.PatientDomain == "" {
		return ins.DefaultPatientDomain
	}
	return o.PatientDomain
}

func (o *Options) maxPatientSize() int {
	if o == nil || o.MaxPatientSize <= 0 {
		return MaxPatientMailSize
	}
	return o.MaxPatientSize
}

// Composed is a composed mail and what was decided while building it.
type Composed struct {
	// Data is the mail, CRLF line endings, ready for SMTP DATA.
	Data      []byte
	MessageID string // without angle brackets
	Subject   string
	// Headers are the MSSanté headers set: X-MSS-NIL, and X-MSS-CODECDA, X-MSS-INS, X-MSS-MES
	// when they apply.
	Headers map[string]string
	// Documents describe the attached CDA documents, in order.
	Documents []DocumentInfo
	// PDFNames are the file names of the PDF/A attachments, in the order of Documents.
	PDFNames []string
	// Derogations are the patient recipients accepted under the derogation of ECO.2.2.6, with
	// what the professional must have confirmed.
	Derogations []ins.DerogationResult
	// Warnings are decisions the caller should show (French, for the professional).
	Warnings []string
}

// attachment is one leaf of multipart/mixed after the body.
type attachment struct {
	name, contentType string
	data              []byte
}

// Compose builds a MSSanté mail from d, applying every rule of section 2 of the referential.
// It does no I/O other than reading opts.Rand. Refusals wrap the Err… sentinels of this package.
func Compose(d *Draft, opts *Options) (*Composed, error) {
	if err := checkDraft(d); err != nil {
		return nil, err
	}
	c := &Composed{Headers: map[string]string{HeaderNIL: opts.nil()}}
	d = c.utf8Draft(d)
	docs, err := parseDocuments(d.CDAs)
	if err != nil {
		return nil, err
	}
	c.Documents = infos(docs)
	for i, doc := range docs {
		for _, w := range doc.Warnings {
			c.Warnings = append(c.Warnings, fmt.Sprintf("document %d : %v", i+1, w))
		}
	}
	if err := c.checkRecipients(d, opts); err != nil {
		return nil, err
	}
	atts, err := c.attach(d, docs, opts)
	if err != nil {
		return nil, err
	}
	atts = append(atts, c.files(d)...)
	c.setSubject(d)
	if d.MESFin {
		c.Headers[HeaderMES] = "FIN"
	}
	if err := c.write(d, atts, opts); err != nil {
		return nil, err
	}
	if hasPatient(d, opts.patientDomain()) && len(c.Data) > opts.maxPatientSize() {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLargeForPatient, len(c.Data), opts.maxPatientSize())
	}
	return c, nil
}

func checkDraft(d *Draft) error {
	if d == nil {
		return fmt.Errorf("%w: nil draft", ErrNoRecipient)
	}
	if len(d.To)+len(d.Cc) == 0 {
		return ErrNoRecipient
	}
	for _, a := range append(append([]Address{d.From}, d.To...), d.Cc...) {
		if _, err := ParseAddress(a.Addr); err != nil || strings.ContainsAny(a.Addr, "<> ") {
			return fmt.Errorf("%w: %q", ErrAddress, a.Addr)
		}
	}
	if strings.TrimSpace(d.From.Name) == "" {
		return fmt.Errorf("%w: the From address %s has no label", ErrSenderLabel, d.From.Addr)
	}
	if strings.TrimSpace(d.HTML) != "" && strings.TrimSpace(d.Text) == "" {
		return ErrHTMLWithoutText
	}
	if d.AppContact != nil {
		if _, err := ParseAddress(d.AppContact.Addr); err != nil {
			return fmt.Errorf("applicative contact: %w", err)
		}
	}
	return checkFiles(d.Files)
}

func hasPatient(d *Draft, domain string) bool {
	for _, a := range append(append([]Address(nil), d.To...), d.Cc...) {
		if a.IsPatient(domain) {
			return true
		}
	}
	return false
}

// parseDocuments reads every CDA and checks they concern one patient (ECO.2.1.1).
func parseDocuments(cdas [][]byte) ([]*cda.Document, error) {
	docs := make([]*cda.Document, 0, len(cdas))
	for i, raw := range cdas {
		doc, err := parseCDA(raw)
		if err != nil {
			return nil, fmt.Errorf("%w %d: %w", ErrCDA, i+1, err)
		}
		if strings.TrimSpace(doc.Code.Code) == "" {
			// X-MSS-CODECDA must carry every document's code (ECO.2.4.1): an empty value is no code.
			return nil, fmt.Errorf("%w %d: %w (ClinicalDocument/code/@code, needed for X-MSS-CODECDA, ECO.2.4.1)",
				ErrCDA, i+1, ErrNoTypeCode)
		}
		docs = append(docs, doc)
	}
	if len(docs) > 1 {
		if _, err := singlePatient(infos(docs)); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

func infos(docs []*cda.Document) []DocumentInfo {
	out := make([]DocumentInfo, len(docs))
	for i, d := range docs {
		out[i] = InfoFromCDA(d)
	}
	return out
}

// setSubject applies ECO.2.1.3 with documents; without, the caller's subject, never with the XDM
// prefix (a mail without XDM must not claim one), "Re: " on a reply without subject.
func (c *Composed) setSubject(d *Draft) {
	if len(c.Documents) > 0 {
		s, _ := Subject(c.Documents) // patients were checked by parseDocuments
		if user := strings.TrimSpace(d.Subject); user != "" && user != s {
			c.Warnings = append(c.Warnings, fmt.Sprintf("objet %q remplacé par l'objet normalisé MSSanté %q (ECO.2.1.3)", user, s))
		}
		c.Subject = s
		return
	}
	s := strings.TrimSpace(d.Subject)
	if HasXDMPrefix(s) {
		s = DisplaySubject(s)
		c.Warnings = append(c.Warnings, "préfixe XDM/1.0/DDM+ retiré de l'objet : le message ne porte pas d'archive IHE_XDM")
	}
	if s == "" && d.Parent != nil {
		s = DisplaySubject(d.Parent.Subject)
		if !strings.HasPrefix(strings.ToLower(s), "re:") {
			s = "Re: " + s
		}
	}
	c.Subject = s
}

// randomHex returns 2n hexadecimal characters read from r.
func randomHex(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("reading randomness: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// newMessageID returns "<hex>@<sender domain>" without brackets (ECO.2.2.1).
func newMessageID(r io.Reader, from Address) (string, error) {
	h, err := randomHex(r, 16)
	if err != nil {
		return "", err
	}
	domain := from.Domain()
	if domain == "" {
		domain = "mssante.invalid"
	}
	return h + "@" + domain, nil
}

// utf8Draft returns d, or a copy of it whose subject and bodies that are not valid UTF-8 are
// decoded as Windows-1252 (a superset of ISO-8859-1, what French software writes in 8 bits), so
// that the text parts are UTF-8 as ECO.2.2.3 requires; each conversion is a warning.
func (c *Composed) utf8Draft(d *Draft) *Draft {
	cp := *d
	changed := false
	for _, f := range []struct {
		s    *string
		what string
	}{{&cp.Subject, "l'objet"}, {&cp.Text, "le texte"}, {&cp.HTML, "le HTML"}} {
		if utf8.ValidString(*f.s) {
			continue
		}
		if dec, err := charmap.Windows1252.NewDecoder().String(*f.s); err == nil {
			*f.s = dec
		} else {
			*f.s = strings.ToValidUTF8(*f.s, "\uFFFD")
		}
		changed = true
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s n'était pas en UTF-8 : lu comme Windows-1252 (ISO-8859-1) et envoyé en UTF-8 (ECO.2.2.3)", f.what))
	}
	if !changed {
		return d
	}
	return &cp
}

// normalizeText turns every line ending into "\n" (the writer then emits CRLF).
func normalizeText(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

var _ = bytes.MinRead
