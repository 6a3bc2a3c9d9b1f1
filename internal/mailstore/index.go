package mailstore

import (
	"slices"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/fold"
	"github.com/mssante/mssante/message"
)

// SenderKind is who wrote a message, as the inbox shows it.
type SenderKind string

const (
	// SenderProfessional is any sender outside the patient domain that is not a software.
	SenderProfessional SenderKind = "professional"
	// SenderPatient is a Mon espace santé mailbox <matricule>@patient.mssante.fr (ECO.3.1.1).
	SenderPatient SenderKind = "patient"
	// SenderApplicative is a software's mailbox (BAL applicative, ECO.2.2.5): its mail carries
	// the closing notice message.Compose writes (ECO.2.2.5).
	SenderApplicative SenderKind = "applicative"
	// SenderNotice is Mon espace santé writing itself from the patient domain
	// (ne-pas-repondre@…: "Message non distribué" and other notices), not a patient.
	SenderNotice SenderKind = "mes_notice"
)

// Patient is the identity of a patient sender (ECO.3.1.2).
type Patient struct {
	BirthName  string `json:"birth_name"`
	GivenNames string `json:"given_names"`
	INS        string `json:"ins"`
}

// Document is one CDA document of a message's IHE XDM archive.
type Document struct {
	TypeCode  string `json:"type_code"`
	TypeLabel string `json:"type_label"`
	// PatientID is the XDS patientId of METADATA.XML as written ("matricule^^^&OID&ISO^NH").
	PatientID string `json:"patient_id"`
	// INS and OID are the matricule and the assigning authority of PatientID when it is an INS.
	INS string `json:"ins,omitempty"`
	OID string `json:"oid,omitempty"`
	// KnownPatient is the id of the known patient (internal/patients) with this INS, 0 when none.
	KnownPatient int64  `json:"known_patient,omitempty"`
	UniqueID     string `json:"unique_id,omitempty"`
	Title        string `json:"title,omitempty"`
	Level        string `json:"level,omitempty"`

	patientName string // from the CDA header, for the patient sort key
}

// Report is a delivery status notification, a read receipt or a bounce found in a message.
type Report struct {
	// Kind is "dsn", "mdn" or "bounce" (message.Report.Kind).
	Kind        string `json:"kind"`
	Recipient   string `json:"recipient,omitempty"`
	Action      string `json:"action,omitempty"`
	Status      string `json:"status,omitempty"`
	Disposition string `json:"disposition,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// OriginalMessageID is the Message-ID of the mail the report is about.
	OriginalMessageID string `json:"original_message_id,omitempty"`
	// OriginalEnvelopeID is the DSN's Original-Envelope-Id (the ENVID given at submission).
	OriginalEnvelopeID string `json:"original_envelope_id,omitempty"`
	// Failed: the report says the mail did not reach its recipient.
	Failed bool `json:"failed"`
}

// entry is what the index keeps of one message, computed once at sync time so that the screens
// never parse the mail again.
type entry struct {
	MessageID  string
	InReplyTo  []string
	References []string
	Date       time.Time
	FromAddr   string
	FromName   string
	Kind       SenderKind
	Patient    *Patient
	Subject    string
	Display    string
	Documents  []Document
	Reports    []Report
	Text       string // the searchable text, folded: subject, sender, body text, document titles
	Warnings   []string
}

// threadID returns the conversation a message belongs to (ECO.3.2.1): the first Message-ID of
// References (RFC 5322 §3.6.4: the root of the thread), else the parent (In-Reply-To), else the
// message itself. It depends on no other message, so it is the same whatever order the mails
// arrive in.
func (e *entry) threadID() string {
	if len(e.References) > 0 {
		return e.References[0]
	}
	if len(e.InReplyTo) > 0 {
		return e.InReplyTo[0]
	}
	return e.MessageID
}

// senderKey, subjectKey and patientKey are the sort keys of ECO.3.2.2 (fold.Words: case and
// accents ignored).
func (e *entry) senderKey() string { return fold.Words(firstNonEmpty(e.FromName, e.FromAddr)) }

func (e *entry) subjectKey() string { return fold.Words(e.Display) }

// patientKey is the patient a message is about: the patient who wrote it, else the known patient
// of a document, else the patient named in the first CDA header, else the first document's INS. Messages about no patient get "~", which sorts after the
// folded names (letters, digits and spaces).
func (e *entry) patientKey(names map[int64]string) string {
	if p := e.Patient; p != nil {
		return fold.Words(p.BirthName + " " + p.GivenNames)
	}
	for _, d := range e.Documents {
		if n := names[d.KnownPatient]; n != "" {
			return fold.Words(n)
		}
	}
	for _, d := range e.Documents {
		if d.patientName != "" {
			return fold.Words(d.patientName)
		}
	}
	for _, d := range e.Documents {
		if d.INS != "" {
			return d.INS
		}
	}
	return "~"
}

// appNoticeWords are the words of the closing notice of an applicative mailbox
// (message.Compose, ECO.2.2.5), folded.
const appNoticeWords = "genere automatiquement par une messagerie applicative"

// index reads raw with the message package and returns what the index keeps. It never fails: an
// unreadable mail is indexed from what could be read, with warnings.
func index(raw []byte, opts *message.ReadOptions) *entry {
	m, err := message.Parse(raw, opts)
	if err != nil {
		return &entry{Kind: SenderProfessional, Warnings: []string{err.Error()}}
	}
	e := &entry{MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References, Date: m.Date,
		FromAddr: strings.ToLower(m.From.Addr), FromName: m.From.Name, Subject: m.Subject,
		Display: m.DisplaySubject, Warnings: m.Warnings, Kind: SenderProfessional}
	domain := ""
	if opts != nil {
		domain = opts.PatientDomain
	}
	// The body's text is folded once, for the applicative notice and for the search text.
	body := fold.Words(m.Text)
	switch {
	case m.SenderKind == message.Patient && m.Patient != nil:
		e.Kind = SenderPatient
		e.Patient = &Patient{BirthName: m.Patient.BirthName, GivenNames: m.Patient.FirstName, INS: m.Patient.INS}
	case m.From.IsPatient(domain):
		// message.Parse: a patient-domain address without a matricule is Mon espace santé itself.
		e.Kind = SenderNotice
	case strings.Contains(body, appNoticeWords):
		e.Kind = SenderApplicative
	}
	e.Documents = documents(m)
	for _, r := range m.Reports {
		e.Reports = append(e.Reports, Report{Kind: r.Kind, Recipient: r.Recipient, Action: r.Action,
			Status: r.Status, Disposition: r.Disposition, Reason: r.Reason,
			OriginalMessageID: r.OriginalMessageID, OriginalEnvelopeID: r.OriginalEnvelopeID, Failed: r.Failed()})
	}
	// fold.Words of parts joined by a newline is their folded forms joined by a space.
	head := e.Display + "\n" + e.FromName + "\n" + e.FromAddr
	var tail strings.Builder
	if m.Text == "" && m.HTML != "" {
		tail.WriteString(stripTags(m.HTML))
		tail.WriteByte('\n')
	}
	for _, d := range e.Documents {
		tail.WriteString(d.TypeLabel + " " + d.Title + "\n")
	}
	var parts []string
	for _, p := range []string{fold.Words(head), body, fold.Words(tail.String())} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	e.Text = strings.Join(parts, " ")
	return e
}

// documents returns the documents message.Parse found.
func documents(m *message.Message) []Document {
	if len(m.Documents) == 0 {
		return nil
	}
	out := make([]Document, 0, len(m.Documents))
	for _, d := range m.Documents {
		out = append(out, Document{TypeCode: d.Code, TypeLabel: d.DisplayName, PatientID: d.PatientID, INS: d.INS,
			OID: d.PatientOID, UniqueID: d.UniqueID, Title: d.Title, Level: d.Level, patientName: d.PatientName})
	}
	return out
}

// stripTags turns HTML into words for the search index (not for display).
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
			b.WriteByte(' ')
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

// normFlags returns flags sorted, without duplicates and without \Recent (a session property).
func normFlags(flags []string) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if f != "" && !strings.EqualFold(f, `\Recent`) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
