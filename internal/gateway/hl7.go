package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mssante/mssante/hl7"
	"github.com/mssante/mssante/hl7/mllp"
	"github.com/mssante/mssante/internal/mailbox"
)

// HL7Delivery hands each received document to the record system as one MDM^T02 (MDM^T10 for a
// replacing document) of the CI-SIS volet "Transmission LPS de documents CDA reçus par courriel
// MSSanté": written to Dir as <control id>.hl7 (--hl7-dir), or sent to Addr over MLLP, waiting
// for the ACK (--mllp). With Addr, an ACK AA marks the document integrated; AE/AR marks it
// rejected with the ERR reason, or is retried when the code says so (902, patient unknown yet).
//
// The control id (MSH-10) and the message time are derived from the document, so a delivery
// repeated after a crash writes the same bytes and the record system sees the same MSH-10.
type HL7Delivery struct {
	Dir  string // one .hl7 file per document, CR segment ends, no MLLP framing
	Addr string // HOST:PORT of an MLLP listener
	// Envelope gives MSH-3 to MSH-6 (sending and receiving application and facility).
	Envelope hl7.Envelope
	// Client sends over MLLP; nil means mllp.Client's defaults.
	Client *mllp.Client
}

// Name implements Delivery.
func (h *HL7Delivery) Name() string {
	if h.Addr != "" {
		return "mllp"
	}
	return "hl7"
}

// ControlID is the MSH-10 of d: stable for one document of one mailbox.
func ControlID(d *Document) string {
	sum := sha256.Sum256([]byte(d.Mailbox + "\x00" + d.MessageID + "\x00" + d.DocumentID))
	return "MSS" + hex.EncodeToString(sum[:10])
}

// Deliver implements Delivery.
func (h *HL7Delivery) Deliver(ctx context.Context, d *Document) (Outcome, error) {
	msg, err := h.build(d)
	if err != nil {
		return Outcome{}, err
	}
	if h.Addr == "" {
		if err := os.MkdirAll(h.Dir, 0o700); err != nil {
			return Outcome{}, err
		}
		return Outcome{}, writeAtomic(filepath.Join(h.Dir, ControlID(d)+".hl7"), msg)
	}
	c := h.Client
	if c == nil {
		c = &mllp.Client{}
	}
	ack, err := c.Send(ctx, h.Addr, msg)
	if err != nil {
		return Outcome{}, fmt.Errorf("mllp %s: %w", h.Addr, err) // outcome unknown: retried
	}
	switch {
	case ack.Accepted():
		return Outcome{Ack: AckIntegrated}, nil
	case ack.Retry():
		return Outcome{}, fmt.Errorf("mllp %s: %w", h.Addr, ack.Err())
	default:
		reason := ack.Text
		var re *hl7.RejectError
		if errors.As(ack.Err(), &re) {
			reason = re.Reason()
		}
		return Outcome{Ack: AckRejected, Reason: reason}, nil
	}
}

// build writes the MDM of d; a document the profile cannot carry is a permanent error.
func (h *HL7Delivery) build(d *Document) ([]byte, error) {
	m := hl7.Mail{MessageID: d.MessageID, Subject: d.Subject, From: hl7.Participant{Address: d.From},
		Received: d.ReceivedAt}
	if parsed, err := mailbox.ParseStored(context.Background(), d.Mail, mailbox.ParseOptions{}); err == nil {
		m.Body = parsed.Text
		for _, a := range append(append([]mailbox.Address(nil), parsed.To...), parsed.Cc...) {
			m.To = append(m.To, hl7.Participant{Address: a.Addr})
		}
		for _, a := range parsed.ReplyTo {
			m.ReplyTo = append(m.ReplyTo, a.Addr)
		}
	}
	e := h.Envelope
	e.ControlID, e.Time = ControlID(d), d.ReceivedAt
	msg, err := hl7.BuildMDM(&hl7.Document{CDA: d.CDA, Mail: m}, e)
	if err != nil {
		return nil, &PermanentError{Err: fmt.Errorf("HL7 MDM of document %s: %w", d.DocumentID, err)}
	}
	return msg, nil
}
