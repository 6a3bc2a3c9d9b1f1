package lps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// SMTPClient is a submission session to the operator (ECO.1.0.1): STARTTLS on 587, then XOAUTH2
// or PLAIN with a client certificate. It is safe for concurrent use (calls are serialised). A
// session the server closed is reopened by the next Submit, with back-off, while the
// authentication stays valid (ECO.1.2.7).
type SMTPClient struct {
	mu     sync.Mutex
	ep     Endpoint
	auth   Auth
	opts   *Options
	s      *session
	c      *smtp.Client
	broken bool
	closed bool // Close was called: never reopened
}

// DialSMTP connects to ep, requires STARTTLS (ErrNoSTARTTLS otherwise, never a plaintext
// fallback) and authenticates. Errors are *SendError.
func DialSMTP(ctx context.Context, ep Endpoint, auth Auth, opts *Options) (*SMTPClient, error) {
	cl := &SMTPClient{ep: ep, auth: auth, opts: opts}
	if err := cl.connect(ctx); err != nil {
		return nil, err
	}
	return cl, nil
}

// DSN asks for delivery status notifications (RFC 3461), sent only when the server offers DSN.
type DSN struct {
	Return     string   // "HDRS" (default) or "FULL"
	Notify     []string // "SUCCESS", "FAILURE", "DELAY" or "NEVER"; default SUCCESS,FAILURE,DELAY
	EnvelopeID string   // ENVID, printable ASCII
}

// SubmitResult is the outcome of an accepted submission.
type SubmitResult struct {
	Response     string // the server's answer to the end of DATA ("2.0.0 Ok: queued as 4F2")
	DSNRequested bool   // DSN parameters were sent (the server offers DSN and dsn was not nil)
	Size         int64  // bytes sent
}

// Submit sends msg from from to rcpts. dsn nil means no DSN parameters. The message size is
// checked against the server's SIZE before sending when msg is an io.Seeker or reports Len/Size.
// A connection the server closed before MAIL is reopened and the transaction retried; after DATA
// started nothing is retried (no duplicates). Errors are *SendError.
func (cl *SMTPClient) Submit(ctx context.Context, from string, rcpts []string, msg io.Reader, dsn *DSN) (*SubmitResult, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	res, err := cl.submit(ctx, from, rcpts, msg, dsn)
	req := fmt.Sprintf("MAIL FROM:<%s> RCPT TO:<%s> DATA", from, strings.Join(rcpts, ">,<"))
	resp := ""
	if res != nil {
		resp = res.Response
	}
	cl.opts.record(ctx, cl.auth.Address, ActionSend, req, resp, err)
	return res, err
}

func (cl *SMTPClient) submit(ctx context.Context, from string, rcpts []string, msg io.Reader, dsn *DSN) (*SubmitResult, error) {
	if err := validateAddrs(from, rcpts); err != nil {
		return nil, err
	}
	size := messageSize(msg)
	for attempt := 0; ; attempt++ {
		if err := cl.ensure(ctx); err != nil {
			return nil, err
		}
		release := cl.s.raw.bind(ctx)
		res, retry, err := cl.transaction(from, rcpts, msg, size, dsn)
		release()
		if err == nil {
			return res, nil
		}
		if !retry || attempt >= 1 || ctx.Err() != nil {
			return nil, err
		}
		cl.opts.logger().Info("smtp session closed by the server, reopening", "endpoint", cl.ep.String(), "err", err)
	}
}

// transaction runs MAIL, RCPT, DATA. retry reports that the session was found closed before the
// server accepted anything, so the transaction can run again on a new session.
func (cl *SMTPClient) transaction(from string, rcpts []string, msg io.Reader, size int64, dsn *DSN) (*SubmitResult, bool, error) {
	c := cl.c
	if max, ok := c.MaxMessageSize(); ok && max > 0 && size > int64(max) {
		return nil, false, &SendError{Permanent: true, Code: 552, Enhanced: "5.3.4", Command: "SIZE",
			Line: fmt.Sprintf("message of %d bytes exceeds the server maximum of %d", size, max)}
	}
	hasDSN, _ := c.Extension("DSN")
	mo := &smtp.MailOptions{}
	if size > 0 {
		mo.Size = size
	}
	var ro *smtp.RcptOptions
	if dsn != nil && hasDSN {
		mo.Return, mo.EnvelopeID = smtp.DSNReturnHeaders, dsn.EnvelopeID
		if strings.EqualFold(dsn.Return, "FULL") {
			mo.Return = smtp.DSNReturnFull
		}
		ro = &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed}}
		if len(dsn.Notify) > 0 {
			ro.Notify = ro.Notify[:0]
			for _, n := range dsn.Notify {
				ro.Notify = append(ro.Notify, smtp.DSNNotify(strings.ToUpper(n)))
			}
		}
	}
	if ok, _ := c.Extension("PIPELINING"); ok {
		if retry, err := cl.pipelineEnvelope(from, rcpts, mo, ro); err != nil {
			return nil, retry, err
		}
	} else {
		if err := c.Mail(from, mo); err != nil {
			e := cl.fail("MAIL", err)
			return nil, cl.broken || e.Code == 421, e
		}
		for _, to := range rcpts {
			if err := c.Rcpt(to, ro); err != nil {
				e := cl.fail("RCPT", err)
				e.Line = strings.TrimSpace(e.Line + " <" + to + ">")
				cl.reset()
				return nil, false, e
			}
		}
	}
	w, err := c.Data()
	if err != nil {
		e := cl.fail("DATA", err)
		cl.reset()
		return nil, false, e
	}
	n, err := io.Copy(w, msg)
	if err != nil {
		cl.markBroken()
		return nil, false, &SendError{Command: "DATA", Err: fmt.Errorf("%w: %w", ErrConnBroken, err)}
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return nil, false, cl.fail("DATA", err)
	}
	return &SubmitResult{Response: resp.StatusText, DSNRequested: ro != nil, Size: n}, false, nil
}

// fail turns a go-smtp error into a *SendError; an error that is not a server reply breaks the
// session.
func (cl *SMTPClient) fail(cmd string, err error) *SendError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		e := &SendError{Permanent: se.Code >= 500, Code: se.Code, Enhanced: enhanced(se.EnhancedCode),
			Command: cmd, Line: se.Message}
		if se.Code == 421 {
			cl.markBroken()
			e.Err = ErrConnBroken
		}
		return e
	}
	cl.markBroken()
	return &SendError{Command: cmd, Err: fmt.Errorf("%w: %w", ErrConnBroken, err)}
}

func enhanced(c smtp.EnhancedCode) string {
	if c[0] <= 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
}

func (cl *SMTPClient) reset() {
	if cl.broken {
		return
	}
	if err := cl.c.Reset(); err != nil {
		cl.markBroken()
	}
}

func (cl *SMTPClient) markBroken() {
	if !cl.broken {
		cl.broken = true
		_ = cl.c.Close()
	}
}

// ensure reopens a broken or closed session, with back-off.
func (cl *SMTPClient) ensure(ctx context.Context) error {
	if cl.closed {
		return &SendError{Permanent: true, Command: "CONNECT", Err: ErrClosed}
	}
	if cl.c != nil && !cl.broken {
		return nil
	}
	n, delay := cl.opts.reconnect()
	var err error
	for i := 0; i < n; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return &SendError{Command: "CONNECT", Err: ctx.Err()}
			case <-time.After(delay):
			}
			delay *= 2
		}
		err = cl.connect(ctx)
		var se *SendError
		if err == nil || (errors.As(err, &se) && (se.Permanent || errors.Is(err, ErrAuth))) {
			return err
		}
	}
	return err
}

func validateAddrs(from string, rcpts []string) error {
	if len(rcpts) == 0 {
		return &SendError{Permanent: true, Command: "RCPT", Err: errors.New("no recipient")}
	}
	for i, a := range append([]string{from}, rcpts...) {
		if a == "" && i > 0 || strings.ContainsAny(a, "\r\n<> ") {
			cmd := "RCPT"
			if i == 0 {
				cmd = "MAIL"
			}
			return &SendError{Permanent: true, Command: cmd, Err: fmt.Errorf("invalid address %q", a)}
		}
	}
	return nil
}

// messageSize returns the size of msg when it can be known without reading it, else 0.
func messageSize(msg io.Reader) int64 {
	switch m := msg.(type) {
	case interface{ Len() int }:
		return int64(m.Len())
	case interface{ Size() int64 }:
		return m.Size()
	case io.Seeker:
		cur, err := m.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0
		}
		end, err := m.Seek(0, io.SeekEnd)
		if _, err2 := m.Seek(cur, io.SeekStart); err != nil || err2 != nil {
			return 0
		}
		return end - cur
	}
	return 0
}

// Close ends the session with QUIT. The client is not reopened afterwards: later calls return
// ErrClosed (ECO.1.2.6).
func (cl *SMTPClient) Close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.closed = true
	if cl.c == nil || cl.broken {
		return nil
	}
	cl.broken = true
	err := cl.c.Quit()
	if err != nil {
		_ = cl.c.Close()
	}
	return err
}

// TLS returns the state of the session's TLS connection.
func (cl *SMTPClient) TLS() (version, suite string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.s == nil {
		return "", ""
	}
	return tlsVersion(cl.s.tls.Version), tlsSuite(cl.s.tls.CipherSuite)
}

// connect dials, runs STARTTLS and authenticates.
func (cl *SMTPClient) connect(ctx context.Context) error {
	s, c, release, err := dialSecured(ctx, cl.ep, cl.auth, cl.opts, "smtp",
		func(err error) error { return &SendError{Command: "CONNECT", Err: err} }, cl.starttls)
	if err != nil {
		return err
	}
	defer release()
	if err := cl.authenticate(ctx, s, c); err != nil {
		_ = c.Close()
		return err
	}
	cl.s, cl.c, cl.broken = s, c, false
	cl.opts.logger().Info("smtp session open", "endpoint", cl.ep.String(), "auth", cl.auth.Method.String())
	return nil
}

func (cl *SMTPClient) starttls(ctx context.Context, s *session, p *plainSession) (*smtp.Client, error) {
	var code int
	var line string
	err := s.greeting(func() (err error) { code, line, _, err = readSMTPReply(p); return err })
	if err != nil {
		return nil, &SendError{Command: "CONNECT", Err: fmt.Errorf("%w: greeting: %w", ErrConnBroken, err)}
	}
	if code != 220 {
		return nil, &SendError{Permanent: code >= 500, Code: code, Command: "CONNECT", Line: line}
	}
	if err := p.writeLine("EHLO " + cl.opts.localName()); err != nil {
		return nil, &SendError{Command: "EHLO", Err: fmt.Errorf("%w: %w", ErrConnBroken, err)}
	}
	code, line, exts, err := readSMTPReply(p)
	if err != nil || code != 250 {
		return nil, &SendError{Permanent: code >= 500, Code: code, Command: "EHLO", Line: line, Err: err}
	}
	if !exts["STARTTLS"] {
		_ = p.writeLine("QUIT")
		return nil, &SendError{Permanent: true, Command: "STARTTLS", Err: ErrNoSTARTTLS}
	}
	if err := p.writeLine("STARTTLS"); err != nil {
		return nil, &SendError{Command: "STARTTLS", Err: fmt.Errorf("%w: %w", ErrConnBroken, err)}
	}
	code, line, _, err = readSMTPReply(p)
	if err != nil || code != 220 {
		return nil, &SendError{Permanent: code >= 500, Code: code, Command: "STARTTLS", Line: line, Err: err}
	}
	cfg, err := cl.auth.tlsConfig(cl.opts.TLS, cl.ep.Host)
	if err != nil {
		return nil, &SendError{Permanent: true, Command: "STARTTLS", Err: err}
	}
	conn, err := p.upgrade(ctx, cfg, s.tr, cl.opts.ClassifyTLSError)
	if err != nil {
		return nil, &SendError{Permanent: true, Command: "STARTTLS", Err: err}
	}
	s.tls = tlsState(conn)
	s.conn = newPrefixConn(conn, "220 TLS established\r\n")
	c := smtp.NewClient(s.conn)
	if err := c.Hello(cl.opts.localName()); err != nil {
		_ = c.Close()
		return nil, cl.failNew("EHLO", err)
	}
	return c, nil
}

func (cl *SMTPClient) failNew(cmd string, err error) *SendError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return &SendError{Permanent: se.Code >= 500, Code: se.Code, Enhanced: enhanced(se.EnhancedCode), Command: cmd, Line: se.Message}
	}
	return &SendError{Command: cmd, Err: fmt.Errorf("%w: %w", ErrConnBroken, err)}
}

func (cl *SMTPClient) authenticate(ctx context.Context, s *session, c *smtp.Client) error {
	mech := cl.auth.mechanism()
	req := "AUTH " + mech + " ***"
	sc, secret, err := cl.auth.newSASL(ctx)
	if err != nil {
		err = &SendError{Permanent: true, Command: "AUTH", Err: err}
		cl.opts.record(ctx, cl.auth.Address, ActionAuth, req, "", err)
		return err
	}
	s.tr.addSecret(secret)
	xo, _ := sc.(*xoauth2Client)
	if xo != nil {
		s.tr.addSecretBytes(xo.payload)
	}
	secret = ""
	err = c.Auth(sc)
	s.tr.clearSecrets()
	if err == nil {
		cl.opts.record(ctx, cl.auth.Address, ActionAuth, req, "235 authenticated", nil)
		return nil
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		e := &SendError{Command: "AUTH", Err: fmt.Errorf("%w: %w", ErrConnBroken, err)}
		cl.opts.record(ctx, cl.auth.Address, ActionAuth, req, "", e)
		return e
	}
	ae := &AuthError{Mechanism: mech, Response: strconv.Itoa(se.Code) + " " + se.Message}
	if xo != nil && xo.failure != nil {
		ae.Status, ae.Scope, ae.Schemes = xo.failure.Status, xo.failure.Scope, xo.failure.Schemes
	}
	e := &SendError{Permanent: se.Code >= 500, Code: se.Code, Enhanced: enhanced(se.EnhancedCode),
		Command: "AUTH", Line: se.Message, Err: ae}
	cl.opts.record(ctx, cl.auth.Address, ActionAuth, req, ae.Response, e)
	return e
}

// readSMTPReply reads a (multi-line) reply before TLS; exts holds the EHLO keywords.
func readSMTPReply(p *plainSession) (code int, first string, exts map[string]bool, err error) {
	exts = map[string]bool{}
	for i := 0; i < 100; i++ {
		line, err := p.readLine()
		if err != nil {
			return 0, "", nil, err
		}
		if len(line) < 3 {
			return 0, line, nil, fmt.Errorf("%w: malformed reply %q", ErrProtocol, line)
		}
		c, err := strconv.Atoi(line[:3])
		if err != nil {
			return 0, line, nil, fmt.Errorf("%w: malformed reply %q", ErrProtocol, line)
		}
		if i == 0 {
			code, first = c, strings.TrimSpace(line[min(4, len(line)):])
		} else if kw := strings.Fields(line[min(4, len(line)):]); len(kw) > 0 {
			exts[strings.ToUpper(kw[0])] = true
		}
		if len(line) == 3 || line[3] == ' ' {
			return code, first, exts, nil
		}
	}
	return 0, "", nil, fmt.Errorf("%w: reply too long", ErrProtocol)
}
