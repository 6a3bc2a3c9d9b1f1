package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
)

// Draft is a mail to send from the account: a message.Draft, whose From defaults to the account,
// plus known patients to write to.
type Draft struct {
	message.Draft
	// ToPatients are ids of known patients (Options.Patients) added to To; each address comes
	// from PatientAddress (qualified identity, no opposition; the derogation of ECO.2.2.6 when
	// Draft.Derogation is set).
	ToPatients []int64
	// Bcc are blind recipients: in the envelope only (Compose, the outbox), never in the mail. A
	// patient address among them must be a known qualified identity (no derogation for a
	// recipient nobody sees), and an opposed patient is refused.
	Bcc []message.Address
}

// SendOptions tune a submission; nil means defaults.
type SendOptions struct {
	// DSN asks for delivery status notifications (RFC 3461) even when the mail does not carry
	// Return-Receipt-To (which always asks for them).
	DSN bool
}

// SendResult is an accepted submission.
type SendResult struct {
	Account    string   `json:"account"`
	Server     string   `json:"server"`
	TLSVersion string   `json:"tls_version"`
	TLSSuite   string   `json:"tls_suite"`
	From       string   `json:"from"`
	Recipients []string `json:"recipients"`
	Size       int64    `json:"size"`
	// DSNAsked: the mail or the options asked for a DSN; DSNRequested: the DSN parameters were
	// sent (the server offers DSN).
	DSNAsked     bool   `json:"-"`
	DSNRequested bool   `json:"dsn_requested"`
	Response     string `json:"response"`
	// Composed is the mail Send built (nil for SendRaw).
	Composed *message.Composed `json:"-"`
}

// Send composes the mail with Compose (recipients resolved with the patient rule, package
// message) and submits its envelope: the one path from a Draft to the operator.
func (a *Account) Send(ctx context.Context, d *Draft, o *SendOptions) (*SendResult, error) {
	c, env, err := a.Compose(ctx, d)
	if err != nil {
		return nil, err
	}
	if env.DSN == nil && o != nil && o.DSN {
		env.DSN = &lps.DSN{}
	}
	res, err := a.SendEnvelope(ctx, env)
	if res != nil {
		res.Composed = c
	}
	return res, err
}

// SendRaw submits an already composed mail (an .eml file): recipients from To, Cc and Bcc, Bcc
// removed, DSN asked when the mail carries Return-Receipt-To or o.DSN (package message reads the
// envelope). A binary file is refused (message.ErrBinary). Several calls share one SMTP session;
// each patient recipient is checked against the known patients (an opposed patient is refused).
func (a *Account) SendRaw(ctx context.Context, raw []byte, o *SendOptions) (*SendResult, error) {
	env, err := message.EnvelopeOf(raw)
	if err != nil {
		return nil, err
	}
	if err := a.checkEnvelopePatients(ctx, env.Recipients); err != nil {
		return nil, err
	}
	asked := env.DSN || (o != nil && o.DSN)
	var dsn *lps.DSN
	if asked {
		dsn = &lps.DSN{}
	}
	return a.submit(ctx, env.Recipients, env.Data, dsn)
}

// Envelope is a submission whose recipients are already known: a message taken from the durable
// outbox, stored with its envelope (the Bcc recipients are in Recipients, no longer in Data).
type Envelope struct {
	Recipients []string
	Data       []byte
	DSN        *lps.DSN // nil: no DSN asked
}

// SendEnvelope submits e as it is, on the account's SMTP session. The patient rule applies to
// its recipients as to every other send: a recipient the rule refuses (an opposed patient) is a
// *RecipientError, and nothing is sent.
func (a *Account) SendEnvelope(ctx context.Context, e Envelope) (*SendResult, error) {
	if len(e.Recipients) == 0 {
		return nil, errors.New("mailbox: an envelope without recipients")
	}
	if err := a.checkEnvelopePatients(ctx, e.Recipients); err != nil {
		return nil, err
	}
	return a.submit(ctx, e.Recipients, e.Data, e.DSN)
}

// submit sends data to rcpts over the account's session (dialled on first use).
func (a *Account) submit(ctx context.Context, rcpts []string, data []byte, dsn *lps.DSN) (*SendResult, error) {
	a.smtpMu.Lock()
	defer a.smtpMu.Unlock()
	sc, ep, err := a.smtpSession(ctx)
	if err != nil {
		return nil, err
	}
	sub, err := sc.Submit(ctx, a.o.Address, rcpts, bytes.NewReader(data), dsn)
	if err != nil {
		return nil, err
	}
	version, suite := sc.TLS()
	return &SendResult{Account: a.o.Address, Server: ep.String(), TLSVersion: version, TLSSuite: suite,
		From: a.o.Address, Recipients: rcpts, Size: sub.Size, DSNAsked: dsn != nil,
		DSNRequested: sub.DSNRequested, Response: sub.Response}, nil
}

// smtpSession returns the account's submission session, dialling it when needed. The caller
// holds a.smtpMu.
func (a *Account) smtpSession(ctx context.Context) (*lps.SMTPClient, lps.Endpoint, error) {
	if a.smtp != nil {
		return a.smtp, a.smtpEP, nil
	}
	ep, auth, err := a.endpoint(ctx, "smtp")
	if err != nil {
		return nil, ep, err
	}
	opts, err := a.lpsOptions(ep, nil)
	if err != nil {
		return nil, ep, err
	}
	sc, err := lps.DialSMTP(ctx, ep, auth, opts)
	if err != nil {
		return nil, ep, a.connectError(ep, err)
	}
	a.smtp, a.smtpEP = sc, ep
	return sc, ep, nil
}

// ErrNoMDNRequested: the mail asks for no read receipt (no Disposition-Notification-To), or is
// itself a receipt, which is never answered.
var ErrNoMDNRequested = errors.New("mailbox: the message asks for no read receipt")

// MDN answers the read receipt message uid of mailbox asks for (ECO.3.1.6): built by package
// message, sent, and the message flagged $MDNSent (RFC 3503) so that it is answered once.
func (a *Account) MDN(ctx context.Context, mailbox string, uid uint32) (*SendResult, error) {
	m, err := a.Read(ctx, mailbox, uid)
	if err != nil {
		return nil, err
	}
	if !m.MDNRequested {
		return nil, ErrNoMDNRequested
	}
	c, err := message.BuildMDN(m.Message, message.Address{Addr: a.o.Address},
		&message.Options{NIL: a.o.NIL, PatientDomain: a.o.PatientDomain, Now: a.o.Now})
	if err != nil {
		return nil, fmt.Errorf("read receipt for message %d: %w", uid, err)
	}
	res, err := a.SendRaw(ctx, c.Data, nil)
	if err != nil {
		return nil, err
	}
	res.Composed = c
	return res, a.Flag(ctx, mailbox, []uint32{uid}, lps.FlagsAdd, lps.FlagMDNSent)
}
