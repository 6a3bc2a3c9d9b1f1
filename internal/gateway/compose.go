package gateway

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/xdm"
)

// ComposeOptions are the settings of composed mail.
type ComposeOptions struct {
	NIL           string // X-MSS-NIL; message.DefaultNIL when empty
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

// compose builds the MSSanté mail of r sent by from (message.Compose: XDM, PDF/A, subject and
// headers). seed makes the Message-ID and MIME boundaries a function of the request's identity
// (idempotency key, drop id): composing it again after a crash gives the same Message-ID, which
// the outbox stores once.
func (g *Gateway) compose(from string, r *Request, seed string) (*composed, error) {
	sender, err := message.ParseAddress(from)
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
	if len(r.Attachments) > 0 {
		// message.Draft has no plain attachments yet: refuse rather than drop them.
		return nil, invalidf("les pièces jointes hors documents CDA ne sont pas encore prises en charge")
	}
	d := &message.Draft{From: sender, Subject: r.Subject, Text: r.Body, DSN: r.DSN, MDN: r.MDN, MESFin: r.PatientReplyBlocked}
	if d.Subject == "" && len(r.Documents) == 0 {
		d.Subject = "Message"
	}
	var rcpts []string
	for _, list := range []struct {
		in  []string
		out *[]message.Address
	}{{r.To, &d.To}, {r.Cc, &d.Cc}} {
		for _, s := range list.in {
			a, err := message.ParseAddress(s)
			if err != nil {
				return nil, invalidf("destinataire %q illisible : %v", s, err)
			}
			*list.out = append(*list.out, a)
			rcpts = append(rcpts, a.Addr)
		}
	}
	for i, doc := range r.Documents {
		switch {
		case len(doc.CDA) > 0 && len(doc.XDM) > 0:
			return nil, invalidf("document %d : cda et xdm sont exclusifs", i+1)
		case len(doc.CDA) > 0:
			d.CDAs = append(d.CDAs, doc.CDA)
		case len(doc.XDM) > 0:
			p, err := xdm.Read(doc.XDM, nil)
			if err != nil {
				return nil, invalidf("document %d : archive XDM illisible : %v", i+1, err)
			}
			n := 0
			for _, x := range p.Documents {
				if x.CDA != nil {
					d.CDAs = append(d.CDAs, x.Data)
					n++
				}
			}
			if n == 0 {
				return nil, invalidf("document %d : l'archive XDM ne contient aucun document CDA", i+1)
			}
		default:
			return nil, invalidf("document %d : ni cda ni xdm", i+1)
		}
	}
	if g.o.Compose.AppContact != "" {
		a, err := message.ParseAddress(g.o.Compose.AppContact)
		if err != nil {
			return nil, fmt.Errorf("gateway: application contact: %w", err)
		}
		d.AppContact = &a
	}
	c, err := message.Compose(d, &message.Options{NIL: g.o.Compose.NIL, PatientDomain: g.o.Compose.PatientDomain,
		Now: g.o.Now, Rand: seededReader(seed)})
	if err != nil {
		return nil, invalidf("%v", err)
	}
	return &composed{raw: c.Data, messageID: c.MessageID, rcpts: rcpts}, nil
}

// seededReader is an endless deterministic byte stream (SHA-256 in counter mode) of seed.
func seededReader(seed string) *hashStream { return &hashStream{seed: []byte(seed)} }

type hashStream struct {
	seed []byte
	n    uint64
	buf  []byte
}

func (h *hashStream) Read(p []byte) (int, error) {
	for len(h.buf) < len(p) {
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], h.n)
		h.n++
		s := sha256.Sum256(append(append([]byte{}, h.seed...), c[:]...))
		h.buf = append(h.buf, s[:]...)
	}
	n := copy(p, h.buf)
	h.buf = h.buf[n:]
	return n, nil
}

// mailboxOf returns the domain-less check that addr is one of the gateway's mailboxes.
func (g *Gateway) hasMailbox(addr string) bool {
	_, ok := g.boxes[canon(strings.TrimSpace(addr))]
	return ok
}
