package operator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP submission as a Postfix operator answers it: STARTTLS, AUTH only under TLS, sender bound
// to the login (envelope at RCPT, as reject_sender_login_mismatch with smtpd_delay_reject; header
// From at the end of DATA, as an operator's milter), local recipients checked at RCPT (550 5.1.1),
// DSN (RFC 3461), SIZE, PIPELINING, SMTPUTF8 (RFC 6531, on by default in Postfix 3).

// deliveryLineLimit is the longest line Postfix's delivery agents write (lmtp_line_length_limit
// and smtp_line_length_limit, 998 by default): a longer line is broken there by inserting CRLF
// and a space, so a mailbox never holds a line over 998 characters.
const deliveryLineLimit = 998

func (op *Operator) newSMTPServer() *smtp.Server {
	s := smtp.NewServer(smtp.BackendFunc(op.newSMTPSession))
	s.Domain = op.opts.Hostname
	// STARTTLS is the front's (front.go), which refuses AUTH before it (ECO.1.0.1): go-smtp sees
	// the plaintext dialogue only.
	s.TLSConfig = nil
	s.AllowInsecureAuth = true
	s.EnableDSN = true
	s.MaxMessageBytes = op.opts.MaxMessageSize
	s.MaxRecipients = 100
	s.EnableSMTPUTF8 = true
	// Postfix accepts any line length in DATA (it reads line_length_limit pieces and joins them)
	// and breaks long lines at delivery (foldLongLines). go-smtp applies one limit to commands and
	// data lines and closes the session beyond it (2,000 by default): make it the message size,
	// which Data buffers anyway, so that only an oversized message meets it.
	s.MaxLineLength = int(op.opts.MaxMessageSize)
	// The front times idle clients out after 5 minutes (Postfix's smtpd_timeout is 300 s); go-smtp
	// waits longer so that the front, which owns the client, decides.
	s.ReadTimeout = 6 * time.Minute
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

// AuthMechanisms are those of the operators' Postfix with Dovecot SASL: OAUTHBEARER (RFC 7628,
// preferred by msmtp and curl) and XOAUTH2 for PSC tokens, PLAIN for certificate logins.
func (s *smtpSession) AuthMechanisms() []string { return []string{"OAUTHBEARER", "XOAUTH2", "PLAIN"} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	ctx := context.Background()
	switch mech {
	case "XOAUTH2":
		return &xoauth2Server{fail: smtpAuthFailed, check: func(user, token string) error {
			a, err := s.op.authXOAUTH2(ctx, user, token)
			return s.bind(a, user, mech, err)
		}}, nil
	case "OAUTHBEARER":
		return &xoauth2Server{parse: parseOAuthBearer, fail: smtpAuthFailed, check: func(user, token string) error {
			a, err := s.op.authXOAUTH2(ctx, user, token)
			return s.bind(a, user, mech, err)
		}}, nil
	case "PLAIN":
		return &plainServer{fail: smtpAuthFailed, check: func(user string) error {
			var cs *tls.ConnectionState
			if fc, ok := s.conn.Conn().(*smtpFrontConn); ok {
				if st, ok := fc.tlsState(); ok {
					cs = &st
				}
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

// Mail records the sender; whether the login owns it is checked at RCPT, as Postfix does.
func (s *smtpSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.acct == nil {
		return smtpAuthRequired
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
	if s.from != "" && !s.owns(s.from) {
		// Postfix's reject_sender_login_mismatch, evaluated at RCPT (smtpd_delay_reject = yes).
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: fmt.Sprintf("<%s>: Sender address rejected: not owned by user %s", s.from, s.acct.Address)}
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

// owns reports whether the logged-in mailbox may send as address: its own address only (an
// organisational mailbox is logged in as itself by its members).
func (s *smtpSession) owns(address string) bool {
	return strings.EqualFold(address, s.acct.Address)
}

// checkFromHeader refuses a message whose From field names a mailbox the login does not own,
// with the 550 5.7.1 Postfix answers when a content check (header_checks, a milter) rejects a
// message at the end of DATA: the header is only known there.
func (s *smtpSession) checkFromHeader(data []byte) error {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(headerOf(data))))
	if err != nil || !h.Has("From") {
		return nil // no From field: nothing claims another identity
	}
	list, err := mail.ParseAddressList(h.Get("From"))
	if err != nil {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: "From header rejected: unreadable address list"}
	}
	for _, a := range list {
		if !s.owns(a.Address) {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
				Message: fmt.Sprintf("<%s>: From header rejected: not owned by user %s", a.Address, s.acct.Address)}
		}
	}
	return nil
}

// foldLongLines breaks every line longer than limit (CRLF excluded) as Postfix's delivery agents
// do: after limit bytes, CRLF and a space, then limit-1 bytes per continuation line.
func foldLongLines(data []byte, limit int) []byte {
	if !hasLongLine(data, limit) {
		return data
	}
	out := make([]byte, 0, len(data)+len(data)/limit*3)
	for len(data) > 0 {
		line := data
		next := []byte(nil)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, next = data[:i+1], data[i+1:]
		}
		body := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		end := line[len(body):]
		n := limit
		for len(body) > n {
			out = append(out, body[:n]...)
			out = append(out, "\r\n "...)
			body = body[n:]
			n = limit - 1
		}
		out = append(out, body...)
		out = append(out, end...)
		data = next
	}
	return out
}

func hasLongLine(data []byte, limit int) bool {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return len(data) > limit
		}
		if len(bytes.TrimSuffix(data[:i], []byte("\r"))) > limit {
			return true
		}
		data = data[i+1:]
	}
	return false
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
	if err := s.checkFromHeader(buf.Bytes()); err != nil {
		s.op.log.Info("message refused", "bal", s.acct.Address, "err", err)
		return err
	}
	data := foldLongLines(buf.Bytes(), deliveryLineLimit)
	env := &envelope{from: s.from, ret: s.mailOpts.Return, envID: s.mailOpts.EnvelopeID,
		rcpts: s.rcpts, helo: s.conn.Hostname(), login: s.acct.Address, remote: s.conn.Conn().RemoteAddr().String()}
	id, err := s.op.deliver(env, data)
	if err != nil {
		s.op.log.Error("delivery failed", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Error: local delivery failed, try again"}
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id}
}
