package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mssante/mssante/internal/mailbox"
)

// ComposeOptions are the settings of composed mail.
type ComposeOptions struct {
	NIL           string // X-MSS-NIL; the default product reference when empty
	PatientDomain string
	// AppContact is the personal or organisational mailbox named by the closing notice of an
	// applicative mailbox (ECO.2.2.5); none when empty.
	AppContact string
}

// Request is a mail to send, as the API and the drop folder describe it.
type Request struct {
	From        string       `json:"from,omitempty"`
	To          []string     `json:"to"`
	Cc          []string     `json:"cc,omitempty"`
	Subject     string       `json:"subject,omitempty"`
	Body        string       `json:"body,omitempty"`
	Documents   []DocumentIn `json:"documents,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	DSN         bool         `json:"dsn,omitempty"`
	MDN         bool         `json:"mdn,omitempty"`
	// PatientReplyBlocked sets X-MSS-MES: FIN (ECO.2.2.8).
	PatientReplyBlocked bool `json:"patient_reply_blocked,omitempty"`
}

// DocumentIn is one document to send: a CDA R2 document, or an XDM archive whose CDA documents
// are sent (packaged again with their PDF/A renderings).
type DocumentIn struct {
	CDA []byte `json:"cda,omitempty"`
	XDM []byte `json:"xdm,omitempty"`
}

// Attachment is a plain file attached to the mail.
type Attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Data        []byte `json:"data"`
}

// ErrInvalid wraps a request the gateway refuses as it is (HTTP 422, drop to error/); its text is
// French, for the integrator.
var ErrInvalid = errors.New("requête invalide")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w : %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// composed is a mail ready for the outbox.
type composed struct {
	raw       []byte
	messageID string
	rcpts     []string
}

// compose builds the MSSanté mail of r sent by from (mailbox.ComposeDraft: the patient
// recipient rule, XDM, PDF/A, subject and headers). seed makes the Message-ID and MIME
// boundaries a function of the request's identity (idempotency key, drop id): composing it
// again after a crash gives the same Message-ID, which the outbox stores once.
func (g *Gateway) compose(ctx context.Context, from string, r *Request, seed string) (*composed, error) {
	sender, err := mailbox.ParseAddress(from)
	if err != nil {
		return nil, invalidf("expéditeur %q illisible : %v", from, err)
	}
	if sender.Name == "" {
		sender.Name = g.boxes[canon(sender.Addr)].Label
	}
	if sender.Name == "" {
		sender.Name = sender.Addr
	}
	if len(r.To)+len(r.Cc) == 0 {
		return nil, invalidf("aucun destinataire (to, cc)")
	}
	d := &mailbox.Draft{}
	d.From, d.Subject, d.Text, d.DSN, d.MDN, d.MESFin = sender, r.Subject, r.Body, r.DSN, r.MDN, r.PatientReplyBlocked
	if d.Subject == "" && len(r.Documents) == 0 {
		d.Subject = "Message"
	}
	for _, list := range []struct {
		in  []string
		out *[]mailbox.Address
	}{{r.To, &d.To}, {r.Cc, &d.Cc}} {
		for _, s := range list.in {
			a, err := mailbox.ParseAddress(s)
			if err != nil {
				return nil, invalidf("destinataire %q illisible : %v", s, err)
			}
			*list.out = append(*list.out, a)
		}
	}
	for i, doc := range r.Documents {
		switch {
		case len(doc.CDA) > 0 && len(doc.XDM) > 0:
			return nil, invalidf("document %d : cda et xdm sont exclusifs", i+1)
		case len(doc.CDA) > 0:
			d.CDAs = append(d.CDAs, doc.CDA)
		case len(doc.XDM) > 0:
			cdas, err := mailbox.XDMDocuments(doc.XDM)
			if errors.Is(err, mailbox.ErrNoCDA) {
				return nil, invalidf("document %d : l'archive XDM ne contient aucun document CDA", i+1)
			}
			if err != nil {
				return nil, invalidf("document %d : archive XDM illisible : %v", i+1, err)
			}
			d.CDAs = append(d.CDAs, cdas...)
		default:
			return nil, invalidf("document %d : ni cda ni xdm", i+1)
		}
	}
	for i, f := range r.Attachments {
		if f.Name == "" || len(f.Data) == 0 {
			return nil, invalidf("pièce jointe %d : name et data sont requis", i+1)
		}
		d.Files = append(d.Files, mailbox.File{Name: f.Name, ContentType: f.ContentType, Data: f.Data})
	}
	if g.o.Compose.AppContact != "" {
		a, err := mailbox.ParseAddress(g.o.Compose.AppContact)
		if err != nil {
			return nil, fmt.Errorf("gateway: application contact: %w", err)
		}
		d.AppContact = &a
	}
	o := &mailbox.ComposeOptions{NIL: g.o.Compose.NIL, PatientDomain: g.o.Compose.PatientDomain, Now: g.o.Now, Seed: seed}
	if g.o.Patients != nil {
		o.Patients = g.o.Patients
	}
	c, env, err := mailbox.ComposeDraft(ctx, d, o)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	return &composed{raw: c.Data, messageID: c.MessageID, rcpts: env.Recipients}, nil
}

// mailboxOf returns the domain-less check that addr is one of the gateway's mailboxes.
func (g *Gateway) hasMailbox(addr string) bool {
	_, ok := g.boxes[canon(strings.TrimSpace(addr))]
	return ok
}
