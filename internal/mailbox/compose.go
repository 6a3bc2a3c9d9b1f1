package mailbox

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"strings"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
)

// Compose resolves the recipients of d with the one patient rule (ToPatients through
// PatientAddress, typed patient addresses checked against the known patients) and composes the
// mail with package message (headers, XDM, PDF/A, patient rules), as Send does. It returns the
// mail and its envelope, ready for the durable outbox: the recipients of To, Cc and Bcc, the data
// without Bcc, a DSN when the mail asks for one (Draft.DSN, ECO.2.3.1). Nothing is sent.
func (a *Account) Compose(ctx context.Context, d *Draft) (*message.Composed, Envelope, error) {
	md, err := a.resolveDraft(ctx, d)
	if err != nil {
		return nil, Envelope{}, err
	}
	c, err := message.Compose(md, &message.Options{NIL: a.o.NIL, PatientDomain: a.o.PatientDomain, Now: a.o.Now})
	if err != nil {
		return nil, Envelope{}, err
	}
	env, err := message.EnvelopeOf(c.Data)
	if err != nil {
		return nil, Envelope{}, err
	}
	e := Envelope{Recipients: env.Recipients, Data: env.Data}
	seen := map[string]bool{}
	for _, r := range e.Recipients {
		seen[strings.ToLower(r)] = true
	}
	for _, b := range d.Bcc {
		if err := a.checkBcc(ctx, b.Addr); err != nil {
			return nil, Envelope{}, err
		}
		if k := strings.ToLower(b.Addr); !seen[k] {
			seen[k] = true
			e.Recipients = append(e.Recipients, b.Addr)
		}
	}
	if env.DSN {
		e.DSN = &lps.DSN{}
	}
	return c, e, nil
}

// CopyToSent appends data (a mail the account sent or queued) to its Sent folder, marked as
// read, as mail clients keep a copy.
func (a *Account) CopyToSent(ctx context.Context, data []byte) error {
	return a.withIMAP(ctx, "", func(ic *lps.IMAPClient) error {
		_, err := ic.Append(ctx, "Sent", []string{lps.FlagSeen}, bytes.NewReader(data), int64(len(data)))
		return err
	})
}

// checkBcc applies the patient rule to a blind recipient: message.Compose never sees it, so a
// patient address must be a known qualified identity here (an opposed one is refused).
func (a *Account) checkBcc(ctx context.Context, addr string) error {
	if _, err := mail.ParseAddress(addr); err != nil {
		return &RecipientError{Address: addr, Err: fmt.Errorf("%w: %w", message.ErrAddress, err)}
	}
	id, err := a.checkPatientAddress(ctx, addr, false)
	if err != nil {
		return err
	}
	if _, isPatient, _ := ins.PatientDomainMatricule(addr, a.o.PatientDomain); isPatient && id == nil {
		return &RecipientError{Address: addr, Err: fmt.Errorf("%w: patient inconnu ou identité non qualifiée, en copie cachée", message.ErrPatientAddress)}
	}
	return nil
}
