package operator

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP submission as a Postfix operator answers it: STARTTLS, AUTH only under TLS, sender bound
// to the login, local recipients checked at RCPT (550 5.1.1), DSN (RFC 3461), SIZE, PIPELINING.

func (op *Operator) newSMTPServer() *smtp.Server {
	s := smtp.NewServer(smtp.BackendFunc(op.newSMTPSession))
	s.Domain = op.opts.Hostname
	s.TLSConfig = op.tls
	s.AllowInsecureAuth = false // ECO.1.0.1: no AUTH before STARTTLS
	s.EnableDSN = true
	s.MaxMessageBytes = op.opts.MaxMessageSize
	s.MaxRecipients = 100
	s.ReadTimeout = 5 * time.Minute
	s.WriteTimeout = time.Minute
	s.ErrorLog = log.New(slogWriter{op.log, "smtp"}, "", 0)
	return s
}

var (
	smtpAuthFailed   = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Error: authentication failed"}
	smtpAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
)

type smtpRcpt struct {
	addr   string
	notify []smtp.DSNNotify
	orcpt  string
	acct   Account
}

type smtpSession struct {
	op   *Operator
	conn *smtp.Conn
	acct *Account

	from     string
	mailOpts smtp.MailOptions
	rcpts    []smtpRcpt
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (op *Operator) newSMTPSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{op: op, conn: c}, nil
}

func (s *smtpSession) AuthMechanisms() []string { return []string{"XOAUTH2", "PLAIN"} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	ctx := context.Background()
	switch mech {
	case "XOAUTH2":
		return &xoauth2Server{fail: smtpAuthFailed, check: func(user, token string) error {
			a, err := s.op.authXOAUTH2(ctx, user, token)
			return s.bind(a, user, mech, err)
		}}, nil
	case "PLAIN":
		return &plainServer{fail: smtpAuthFailed, check: func(user string) error {
			var cs *tls.ConnectionState
			if st, ok := s.conn.TLSConnectionState(); ok {
				cs = &st
			}
			a, err := s.op.authCertPlain(ctx, cs, user)
			return s.bind(a, user, mech, err)
		}}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *smtpSession) bind(a Account, user, mech string, err error) error {
	if err != nil {
		s.op.log.Info("smtp login refused", "bal", user, "mech", mech, "err", err)
		return err
	}
	s.acct = &a
	s.op.log.Info("smtp login", "bal", a.Address, "mech", mech)
	return nil
}

func (s *smtpSession) Reset() {
	s.from, s.mailOpts, s.rcpts = "", smtp.MailOptions{}, nil
}

func (s *smtpSession) Logout() error { return nil }

// Mail accepts the authenticated mailbox as sender, or the null sender (reports).
func (s *smtpSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.acct == nil {
		return smtpAuthRequired
	}
	if from != "" && !strings.EqualFold(from, s.acct.Address) {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: fmt.Sprintf("<%s>: Sender address rejected: not owned by user %s", from, s.acct.Address)}
	}
	s.Reset()
	s.from = from
	if opts != nil {
		s.mailOpts = *opts
	}
	return nil
}

// Rcpt accepts local mailboxes only (there is nowhere else in the sandbox); a declared SIZE over
// the patient limit is refused for a patient recipient.
func (s *smtpSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.acct == nil {
		return smtpAuthRequired
	}
	if !s.op.isLocalDomain(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 2},
			Message: fmt.Sprintf("<%s>: Recipient address rejected: domain outside the sandbox", to)}
	}
	a, ok := s.op.account(to)
	if !ok && s.op.isPatient(to) {
		// Mail to patient.mssante.fr leaves the operator: Mon espace santé answers an unknown
		// patient or an invalid address with its "Message non distribué" form, after acceptance.
		a, ok = Account{Address: strings.ToLower(to), Kind: KindPatient}, true
	}
	if !ok {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: fmt.Sprintf("<%s>: Recipient address rejected: User unknown in virtual mailbox table", to)}
	}
	if s.op.isPatient(a.Address) && s.mailOpts.Size > s.op.opts.PatientMaxSize {
		return sizeError(s.op.opts.PatientMaxSize)
	}
	for _, prev := range s.rcpts {
		if prev.addr == a.Address {
			return nil // one copy per mailbox, as Postfix delivers duplicates once
		}
	}
	r := smtpRcpt{addr: a.Address, acct: a}
	if opts != nil {
		r.notify, r.orcpt = opts.Notify, opts.OriginalRecipient
	}
	s.rcpts = append(s.rcpts, r)
	return nil
}

func sizeError(limit int64) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: fmt.Sprintf("Message size exceeds fixed limit of %d bytes for a patient mailbox", limit)}
}

// Data reads the message (go-smtp enforces MaxMessageSize), applies the patient limit and
// delivers.
func (s *smtpSession) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	for _, rc := range s.rcpts {
		if s.op.isPatient(rc.addr) && int64(buf.Len()) > s.op.opts.PatientMaxSize {
			return sizeError(s.op.opts.PatientMaxSize)
		}
	}
	env := &envelope{from: s.from, ret: s.mailOpts.Return, envID: s.mailOpts.EnvelopeID,
		rcpts: s.rcpts, helo: s.conn.Hostname(), login: s.acct.Address, remote: s.conn.Conn().RemoteAddr().String()}
	id, err := s.op.deliver(env, buf.Bytes())
	if err != nil {
		s.op.log.Error("delivery failed", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Error: local delivery failed, try again"}
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id}
}
