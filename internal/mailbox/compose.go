package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

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
	return a.compose(ctx, d, nil)
}

// Address is a mail address with its display name, as a Draft holds them.
type Address = message.Address

// File is a plain file attached to a Draft (Draft.Files), after IHE_XDM.zip and the PDF/A.
type File = message.File

// ParseAddress reads one address ("Name <addr>" or "addr") as a Draft takes it.
func ParseAddress(s string) (Address, error) { return message.ParseAddress(s) }

// ComposeOptions are the settings of ComposeDraft, the composing of a delivery room that holds
// no Account (the gateway composes before an outbox worker opens the mailbox's session).
type ComposeOptions struct {
	// NIL is the X-MSS-NIL product reference (message.DefaultNIL when empty).
	NIL string
	// PatientDomain is the patients' mail domain; ins.DefaultPatientDomain when empty.
	PatientDomain string
	// Patients are the known patients the patient recipients are checked against (nil: none).
	Patients PatientDirectory
	// Now gives the Date of the mail; time.Now when nil.
	Now func() time.Time
	// Seed, when set, makes every random choice of the mail (Message-ID, MIME boundaries) a
	// function of it: composing the same draft again with the same seed (a request repeated
	// under one idempotency key, a drop read again after a crash) gives the same Message-ID,
	// which the outbox stores once. Empty: crypto/rand.
	Seed string
}

// ComposeDraft composes d from d.From (required) as Account.Compose does: the one patient
// recipient rule (ToPatients, typed patient addresses against o.Patients, blind recipients),
// then package message. Nothing is sent.
func ComposeDraft(ctx context.Context, d *Draft, o *ComposeOptions) (*message.Composed, Envelope, error) {
	if o == nil {
		o = &ComposeOptions{}
	}
	if d.From.Addr == "" {
		return nil, Envelope{}, errors.New("mailbox: composing needs the sender's address")
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	a := &Account{o: Options{Address: d.From.Addr, Patients: o.Patients, PatientDomain: o.PatientDomain, NIL: o.NIL, Now: now}}
	var rnd io.Reader
	if o.Seed != "" {
		rnd = newSeedStream([]byte(o.Seed))
	}
	return a.compose(ctx, d, rnd)
}

// compose is Compose with the randomness source of message.Options (nil: crypto/rand).
func (a *Account) compose(ctx context.Context, d *Draft, rnd io.Reader) (*message.Composed, Envelope, error) {
	md, err := a.resolveDraft(ctx, d)
	if err != nil {
		return nil, Envelope{}, err
	}
	c, err := message.Compose(md, &message.Options{NIL: a.o.NIL, PatientDomain: a.o.PatientDomain, Now: a.o.Now, Rand: rnd})
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
