package lps

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAPClient is a mailbox access session to the operator (ECO.1.0.2): STARTTLS on 143, then
// XOAUTH2 or PLAIN with a client certificate. Calls are serialised. A session closed by the server
// is reopened by the next call, with back-off, while the authentication stays valid (ECO.1.2.7);
// read-only calls are retried once on the new session, changes (move, delete, append) are not, and
// return an error wrapping ErrConnBroken. A desynchronised session is never reused.
type IMAPClient struct {
	mu        sync.Mutex
	ep        Endpoint
	auth      Auth
	opts      *Options
	s         *session
	c         *imapclient.Client
	broken    bool
	selected  string // mailbox to select again after a reconnection
	closed    bool   // Close was called: never reopened
	condstore bool

	updMu    sync.Mutex
	onUpdate func(Update)
	stopIdle context.CancelFunc // ends a running Idle (Close)
}

// Update is unilateral data the server sent about the selected mailbox (during IDLE or after a
// command): a new message count, an expunged message, or a message whose flags changed.
type Update struct {
	Messages uint32 // new number of messages (EXISTS); 0 when not an EXISTS update
	Expunged uint32 // sequence number of an expunged message; 0 when none
	// Fetched is the sequence number of a message the server sent a FETCH about that no command
	// asked for (another session changed its flags, RFC 3501 §7.4.2); 0 when none.
	Fetched uint32
}

// DialIMAP connects to ep, requires STARTTLS (ErrNoSTARTTLS otherwise) and authenticates. Errors
// are *IMAPError, wrapping ErrNoSTARTTLS, ErrTLSPolicy, an *AuthError…
func DialIMAP(ctx context.Context, ep Endpoint, auth Auth, opts *Options) (*IMAPClient, error) {
	cl := &IMAPClient{ep: ep, auth: auth, opts: opts}
	if err := cl.connect(ctx); err != nil {
		return nil, err
	}
	return cl, nil
}

func (cl *IMAPClient) handler() *imapclient.UnilateralDataHandler {
	notify := func(u Update) {
		cl.updMu.Lock()
		f := cl.onUpdate
		cl.updMu.Unlock()
		if f != nil {
			f(u)
		}
	}
	return &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				notify(Update{Messages: *d.NumMessages})
			}
		},
		Expunge: func(seq uint32) { notify(Update{Expunged: seq}) },
		// Called on a goroutine of its own; the data must be read for the session to go on.
		Fetch: func(msg *imapclient.FetchMessageData) {
			seq := msg.SeqNum
			_, _ = msg.Collect()
			notify(Update{Fetched: seq})
		},
	}
}

func (cl *IMAPClient) connect(ctx context.Context) error {
	s, conn, release, err := dialSecured(ctx, cl.ep, cl.auth, cl.opts, "imap",
		func(err error) error { return &IMAPError{Command: "CONNECT", Err: err} }, cl.starttls)
	if err != nil {
		return err
	}
	defer release()
	c, err := cl.authenticate(ctx, s, conn)
	if err != nil {
		_ = conn.Close()
		return err
	}
	cl.s, cl.c, cl.broken = s, c, false
	cl.condstore = c.Caps().Has(imap.CapCondStore)
	if cl.selected != "" {
		if _, err := c.Select(cl.selected, &imap.SelectOptions{CondStore: cl.condstore}).Wait(); err != nil {
			cl.markBroken()
			return &IMAPError{Command: "SELECT", Err: err}
		}
	}
	cl.opts.logger().Info("imap session open", "endpoint", cl.ep.String(), "auth", cl.auth.Method.String())
	return nil
}

// starttls runs the cleartext part: greeting, CAPABILITY, STARTTLS, handshake.
func (cl *IMAPClient) starttls(ctx context.Context, s *session, p *plainSession) (net.Conn, error) {
	fail := func(err error) error { return &IMAPError{Command: "STARTTLS", Err: err} }
	var greeting string
	err := s.greeting(func() (err error) { greeting, err = p.readLine(); return err })
	if err != nil {
		return nil, &IMAPError{Command: "CONNECT", Err: fmt.Errorf("%w: greeting: %w", ErrConnBroken, err)}
	}
	switch {
	case hasPrefixFold(greeting, "* PREAUTH"):
		return nil, fail(fmt.Errorf("%w: PREAUTH on a cleartext connection", ErrProtocol))
	case !hasPrefixFold(greeting, "* OK"):
		return nil, &IMAPError{Command: "CONNECT", Line: greeting, Err: fmt.Errorf("%w: greeting %q", ErrProtocol, greeting)}
	}
	caps := capsFromLine(greeting)
	if caps == nil {
		if caps, err = imapPlainCommand(p, "L1 CAPABILITY"); err != nil {
			return nil, fail(err)
		}
	}
	if !caps["STARTTLS"] {
		_ = p.writeLine("L2 LOGOUT")
		return nil, fail(ErrNoSTARTTLS)
	}
	if _, err := imapPlainCommand(p, "L2 STARTTLS"); err != nil {
		return nil, fail(err)
	}
	cfg, err := cl.auth.tlsConfig(cl.opts.TLS, cl.ep.Host)
	if err != nil {
		return nil, fail(err)
	}
	conn, err := p.upgrade(ctx, cfg, s.tr, cl.opts.ClassifyTLSError)
	if err != nil {
		return nil, fail(err)
	}
	s.tls = tlsState(conn)
	return conn, nil
}

// imapPlainCommand sends a tagged command before TLS and reads to its completion; it returns the
// capabilities seen on the way.
func imapPlainCommand(p *plainSession, cmd string) (map[string]bool, error) {
	if err := p.writeLine(cmd); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConnBroken, err)
	}
	tag := cmd[:strings.IndexByte(cmd, ' ')+1]
	caps := map[string]bool{}
	for i := 0; i < 100; i++ {
		line, err := p.readLine()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConnBroken, err)
		}
		if hasPrefixFold(line, "* CAPABILITY ") {
			for _, c := range strings.Fields(line[len("* CAPABILITY "):]) {
				caps[strings.ToUpper(c)] = true
			}
		}
		if strings.HasPrefix(line, tag) {
			if !hasPrefixFold(line[len(tag):], "OK") {
				return nil, fmt.Errorf("server answered %q", line)
			}
			if c := capsFromLine(line); c != nil {
				caps = c
			}
			return caps, nil
		}
	}
	return nil, fmt.Errorf("%w: no completion for %q", ErrProtocol, cmd)
}

// indexASCIIFold is strings.Index ignoring ASCII case, with offsets into s itself (strings.ToUpper
// may change the length of non-ASCII or invalid UTF-8 input).
func indexASCIIFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if hasPrefixFold(s[i:], sub) {
			return i
		}
	}
	return -1
}

// capsFromLine reads "[CAPABILITY …]" in a status line, or returns nil.
func capsFromLine(line string) map[string]bool {
	i := indexASCIIFold(line, "[CAPABILITY ")
	if i < 0 {
		return nil
	}
	rest := line[i+len("[CAPABILITY "):]
	if j := strings.IndexByte(rest, ']'); j >= 0 {
		rest = rest[:j]
	}
	caps := map[string]bool{}
	for _, c := range strings.Fields(rest) {
		caps[strings.ToUpper(c)] = true
	}
	return caps
}

// authenticate runs the SASL exchange on the TLS connection itself (go-imap would answer an error
// challenge with "=", which Dovecot rejects as BAD, where RFC 7628 asks for an empty response), then
// hands the authenticated connection to go-imap.
func (cl *IMAPClient) authenticate(ctx context.Context, s *session, conn net.Conn) (*imapclient.Client, error) {
	mech := cl.auth.mechanism()
	req := "AUTHENTICATE " + mech + " ***"
	sc, secret, err := cl.auth.newSASL(ctx)
	if err != nil {
		err = &IMAPError{Command: "AUTHENTICATE", Err: err}
		cl.opts.record(ctx, cl.auth.Address, ActionAuth, req, "", err)
		return nil, err
	}
	s.tr.addSecret(secret)
	xo, _ := sc.(*xoauth2Client)
	if xo != nil {
		s.tr.addSecretBytes(xo.payload)
	}
	p := &plainSession{tc: conn, br: bufio.NewReaderSize(conn, 4096)}
	okLine, err := saslIMAP(p, sc)
	s.tr.clearSecrets()
	if err != nil {
		var ae *AuthError
		if errors.As(err, &ae) && xo != nil && xo.failure != nil {
			ae.Status, ae.Scope, ae.Schemes = xo.failure.Status, xo.failure.Scope, xo.failure.Schemes
		}
		e := &IMAPError{Command: "AUTHENTICATE", Err: err}
		if ae != nil {
			e.Line = ae.Response
		}
		cl.opts.record(ctx, cl.auth.Address, ActionAuth, req, e.Line, e)
		return nil, e
	}
	cl.opts.record(ctx, cl.auth.Address, ActionAuth, req, okLine, nil)
	// go-imap starts on an authenticated session: a PREAUTH greeting with the capabilities the
	// server gave, then whatever it already sent.
	greeting := "* PREAUTH authenticated\r\n"
	if caps := capsFromLine(okLine); caps != nil {
		names := make([]string, 0, len(caps))
		for c := range caps {
			names = append(names, c)
		}
		greeting = "* PREAUTH [CAPABILITY " + strings.Join(names, " ") + "] authenticated\r\n"
	}
	buffered, _ := p.br.Peek(p.br.Buffered())
	pc := &prefixConn{Conn: conn, r: io.MultiReader(strings.NewReader(greeting), bytes.NewReader(bytes.Clone(buffered)), conn)}
	c := imapclient.New(pc, &imapclient.Options{UnilateralDataHandler: cl.handler()})
	if err := c.WaitGreeting(); err != nil {
		_ = c.Close()
		return nil, &IMAPError{Command: "AUTHENTICATE", Err: fmt.Errorf("%w: %w", ErrConnBroken, err)}
	}
	return c, nil
}

// saslIMAP runs AUTHENTICATE (RFC 3501 §6.2.2, SASL-IR RFC 4959 when offered) and returns the
// server's tagged OK line. A refusal is an *AuthError.
func saslIMAP(p *plainSession, sc saslClient) (string, error) {
	caps, err := imapPlainCommand(p, "A1 CAPABILITY")
	if err != nil {
		return "", err
	}
	mech, ir, err := sc.Start()
	if err != nil {
		return "", err
	}
	if !caps["AUTH="+mech] {
		return "", &AuthError{Mechanism: mech, Response: "server does not offer AUTH=" + mech}
	}
	cmd := "A2 AUTHENTICATE " + mech
	pending := ir != nil
	if pending && caps["SASL-IR"] {
		cmd += " " + encodeSASL(ir, true)
		pending = false
	}
	if err := p.writeLine(cmd); err != nil {
		return "", fmt.Errorf("%w: %w", ErrConnBroken, err)
	}
	for i := 0; i < 20; i++ {
		line, err := p.readLine()
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrConnBroken, err)
		}
		switch {
		case strings.HasPrefix(line, "+"):
			resp := ir
			if pending {
				pending = false
			} else {
				challenge, err := base64.StdEncoding.DecodeString(strings.TrimSpace(line[1:]))
				if err != nil {
					_ = p.writeLine("*")
					return "", fmt.Errorf("%w: undecodable SASL challenge", ErrProtocol)
				}
				if resp, err = sc.Next(challenge); err != nil {
					_ = p.writeLine("*")
					return "", err
				}
			}
			if err := p.writeLine(encodeSASL(resp, false)); err != nil {
				return "", fmt.Errorf("%w: %w", ErrConnBroken, err)
			}
		case strings.HasPrefix(line, "A2 "):
			if hasPrefixFold(line[3:], "OK") {
				return line, nil
			}
			return "", &AuthError{Mechanism: mech, Response: strings.TrimSpace(line[3:])}
		case strings.HasPrefix(line, "* "):
			if hasPrefixFold(line, "* BYE") {
				return "", fmt.Errorf("%w: %s", ErrConnBroken, line)
			}
		default:
			return "", fmt.Errorf("%w: unexpected line during AUTHENTICATE", ErrProtocol)
		}
	}
	return "", fmt.Errorf("%w: AUTHENTICATE did not end", ErrProtocol)
}

// encodeSASL encodes a SASL response: base64, and an empty one as "=" in an initial response
// (RFC 4959) or as an empty line in a continuation (RFC 3501 §6.2.2).
func encodeSASL(b []byte, initial bool) string {
	if len(b) == 0 {
		if initial {
			return "="
		}
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

func statusLine(e *imap.Error) string {
	s := string(e.Type)
	if e.Code != "" {
		s += " [" + string(e.Code) + "]"
	}
	return s + " " + e.Text
}

func (cl *IMAPClient) markBroken() {
	if !cl.broken && cl.c != nil {
		cl.broken = true
		_ = cl.c.Close()
	}
}

// ensure reopens a closed or broken session with exponential back-off. It stops at once when the
// authentication is refused or the token source fails (ECO.1.2.7: only while auth is valid).
func (cl *IMAPClient) ensure(ctx context.Context) error {
	if cl.closed {
		return &IMAPError{Command: "CONNECT", Err: ErrClosed}
	}
	if cl.c != nil && !cl.broken {
		select {
		case <-cl.c.Closed():
			cl.broken = true
		default:
			return nil
		}
	}
	n, delay := cl.opts.reconnect()
	var err error
	for i := 0; i < n; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return &IMAPError{Command: "CONNECT", Err: ctx.Err()}
			case <-time.After(delay):
			}
			delay *= 2
		}
		cl.opts.logger().Info("imap session reopening", "endpoint", cl.ep.String(), "attempt", i+1)
		if err = cl.connect(ctx); err == nil || errors.Is(err, ErrAuth) || errors.Is(err, ErrTLSPolicy) ||
			errors.Is(err, ErrNoSTARTTLS) {
			return err
		}
	}
	return err
}

// do runs f on a live session. Read-only calls (retry) run again once on a reopened session when
// the first one broke.
func (cl *IMAPClient) do(ctx context.Context, action, req string, retry bool, f func(c *imapclient.Client) (string, error)) (err error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	resp := ""
	defer func() {
		if r := recover(); r != nil {
			cl.markBroken()
			err = &IMAPError{Command: req, Err: fmt.Errorf("%w: %v", ErrConnBroken, r)}
		}
		cl.opts.record(ctx, cl.auth.Address, action, req, resp, err)
	}()
	for attempt := 0; ; attempt++ {
		if err := cl.ensure(ctx); err != nil {
			return err
		}
		release := cl.s.raw.bind(ctx)
		resp, err = f(cl.c)
		release()
		if err == nil {
			return nil
		}
		var ie *imap.Error
		if errors.As(err, &ie) {
			resp = statusLine(ie)
			return &IMAPError{Command: req, Line: resp, Err: err}
		}
		var local *localError
		if errors.As(err, &local) {
			return &IMAPError{Command: req, Err: local.err}
		}
		cl.markBroken()
		if cerr := ctx.Err(); cerr != nil { // the cancellation broke the session: say so
			return &IMAPError{Command: req, Err: fmt.Errorf("%w: %w: %w", ErrConnBroken, cerr, err)}
		}
		if !retry || attempt >= 1 {
			return &IMAPError{Command: req, Err: fmt.Errorf("%w: %w", ErrConnBroken, err)}
		}
	}
}

// localError is a failure decided by this package that leaves the session usable.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }

// Close ends the session with LOGOUT, after stopping a running Idle. The client is not reopened
// afterwards: later calls return ErrClosed (ECO.1.2.6).
func (cl *IMAPClient) Close() error {
	cl.updMu.Lock()
	if cl.stopIdle != nil {
		cl.stopIdle()
	}
	cl.updMu.Unlock()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.closed = true
	if cl.c == nil || cl.broken {
		return nil
	}
	cl.broken = true
	err := cl.c.Logout().Wait()
	_ = cl.c.Close()
	var ie *imap.Error
	if errors.As(err, &ie) {
		return &IMAPError{Command: "LOGOUT", Line: statusLine(ie), Err: err}
	}
	return nil
}

// TLS returns the version and cipher suite of the session.
func (cl *IMAPClient) TLS() (version, suite string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.s == nil {
		return "", ""
	}
	return tlsVersion(cl.s.tls.Version), tlsSuite(cl.s.tls.CipherSuite)
}

// Capable reports whether the server announced cap (e.g. "CONDSTORE", "IDLE", "MOVE").
func (cl *IMAPClient) Capable(cap string) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.c != nil && cl.c.Caps().Has(imap.Cap(strings.ToUpper(cap)))
}
