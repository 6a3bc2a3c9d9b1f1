package lps

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Endpoint is a server address of the operator: host and port, as autoconfig or the configuration
// gives them. Operators listen on 587 (SMTP) and 143 (IMAP), both with STARTTLS.
type Endpoint struct {
	Host string
	Port int
}

// ParseEndpoint parses "host:port".
func ParseEndpoint(s string) (Endpoint, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %q: %w", s, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 || host == "" {
		return Endpoint{}, fmt.Errorf("endpoint %q: invalid host or port", s)
	}
	return Endpoint{Host: host, Port: p}, nil
}

// String returns "host:port".
func (e Endpoint) String() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// Options configure sessions. A nil *Options is invalid: TLS is required.
type Options struct {
	// TLS is the client TLS policy, built by package trust (suites, curves, IGC Santé anchors,
	// revocation). Required. The server name is set from the endpoint when empty.
	TLS *tls.Config
	// Trace receives the protocol dialogue, redacted: AUTH payloads as "***", message bodies and
	// literals as "…". Nil means no trace. Health data: never on by default.
	Trace io.Writer
	// Recorder receives one Event per operation for the audit trail. Nil means none.
	Recorder Recorder
	// Logger receives state changes (connect, reconnect). Nil means discard.
	Logger *slog.Logger
	// DialContext dials the TCP connection. Nil means a net.Dialer with a 30 s timeout.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// LocalName is the EHLO name. Default "localhost".
	LocalName string
	// Reconnect is how many times a session closed by the server is reopened for one call, with
	// exponential back-off from ReconnectDelay (ECO.1.2.7). Default 3 attempts, 200 ms.
	Reconnect      int
	ReconnectDelay time.Duration
	// MaxBody bounds a fetched message (bytes). Default 64 MiB.
	MaxBody int64
	// Now gives the time of events. Default time.Now.
	Now func() time.Time
	// GreetingTimeout bounds the wait for the server's greeting (default 30 s). A server that says
	// nothing is usually an implicit-TLS port (993, 465) waiting for a TLS handshake: the error
	// then says so, instead of waiting for the caller's deadline.
	GreetingTimeout time.Duration
	// ClassifyTLSError, when set, turns a failed handshake into an error naming the policy rule
	// that refused the server (trust.ClassifyHandshakeError). The result is wrapped in
	// ErrTLSPolicy.
	ClassifyTLSError func(err error, serverName string) error
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func (o *Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func (o *Options) reconnect() (int, time.Duration) {
	n, d := o.Reconnect, o.ReconnectDelay
	if n == 0 {
		n = 3
	}
	if d == 0 {
		d = 200 * time.Millisecond
	}
	return n, d
}

func (o *Options) greetingTimeout() time.Duration {
	if o.GreetingTimeout <= 0 {
		return 30 * time.Second
	}
	return o.GreetingTimeout
}

// greeting runs read (the greeting's) under the greeting timeout, and names the likely cause when
// the server stays silent.
func (s *session) greeting(read func() error) error {
	d := s.opts.greetingTimeout()
	_ = s.raw.SetReadDeadline(time.Now().Add(d))
	err := read()
	_ = s.raw.SetReadDeadline(time.Time{})
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !s.raw.isCancelled() {
		return fmt.Errorf("no greeting within %s: is %s an implicit-TLS port (993, 465)? The API LPS uses STARTTLS on 143 and 587 (ECO.1.0.1/ECO.1.0.2): %w",
			d, s.ep, err)
	}
	return err
}

func (o *Options) maxBody() int64 {
	if o.MaxBody <= 0 {
		return 64 << 20
	}
	return o.MaxBody
}

func (o *Options) localName() string {
	if o.LocalName == "" {
		return "localhost"
	}
	return o.LocalName
}

func (o *Options) record(ctx context.Context, account, action, req, resp string, err error) {
	if o.Recorder == nil {
		return
	}
	o.Recorder.Record(ctx, Event{Time: o.now(), Account: account, Action: action,
		Request: req, Response: resp, Err: err})
}

func (o *Options) dial(ctx context.Context, ep Endpoint) (net.Conn, error) {
	if o.DialContext != nil {
		return o.DialContext(ctx, "tcp", ep.String())
	}
	d := &net.Dialer{Timeout: 30 * time.Second}
	return d.DialContext(ctx, "tcp", ep.String())
}

// ctxConn maps contexts onto deadlines (go-smtp has no context and sets its own deadlines): the
// effective deadline is the earlier of the one the protocol library asks for and the bound
// context's; a cancelled context forces an expired deadline, which breaks the session.
type ctxConn struct {
	net.Conn
	mu           sync.Mutex
	wantR, wantW time.Time
	ctxDeadline  time.Time
	cancelled    bool
}

var expired = time.Unix(1, 0)

func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// Write sends p, then asks the kernel to acknowledge the server's next segment at once (quickAck):
// every write of the session, the TLS handshake's included, goes through here.
func (c *ctxConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	quickAck(c.Conn)
	return n, err
}

func (c *ctxConn) applyLocked() {
	if c.cancelled {
		_ = c.Conn.SetDeadline(expired)
		return
	}
	_ = c.Conn.SetReadDeadline(earlier(c.wantR, c.ctxDeadline))
	_ = c.Conn.SetWriteDeadline(earlier(c.wantW, c.ctxDeadline))
}

func (c *ctxConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wantR, c.wantW = t, t
	c.applyLocked()
	return nil
}

func (c *ctxConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wantR = t
	c.applyLocked()
	return nil
}

func (c *ctxConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wantW = t
	c.applyLocked()
	return nil
}

// isCancelled reports whether the bound context was cancelled (its deadline, not the greeting's).
func (c *ctxConn) isCancelled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cancelled || (!c.ctxDeadline.IsZero() && !time.Now().Before(c.ctxDeadline))
}

// bind applies ctx to the connection until the returned function is called.
func (c *ctxConn) bind(ctx context.Context) (release func()) {
	c.mu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		c.ctxDeadline = dl
	}
	c.applyLocked()
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cancelled = true
		c.applyLocked()
		c.mu.Unlock()
	})
	return func() {
		stop()
		c.mu.Lock()
		c.ctxDeadline = time.Time{}
		c.applyLocked()
		c.mu.Unlock()
	}
}

// prefixConn replays bytes before the connection's own: the protocol libraries expect a greeting,
// which the server sent before STARTTLS and this package already consumed.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func newPrefixConn(c net.Conn, prefix string) *prefixConn {
	return &prefixConn{Conn: c, r: io.MultiReader(strings.NewReader(prefix), c)}
}

// plainSession is the cleartext part of a session, before STARTTLS: traced line I/O.
type plainSession struct {
	raw *ctxConn
	tc  net.Conn
	br  *bufio.Reader
}

func (p *plainSession) readLine() (string, error) {
	line, err := p.br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) > 4096 {
		return "", fmt.Errorf("%w: line too long", ErrProtocol)
	}
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	return line, nil
}

func (p *plainSession) writeLine(s string) error {
	_, err := io.WriteString(p.tc, s+"\r\n")
	return err
}

// upgrade runs the TLS handshake after the server accepted STARTTLS. Data the server sent after
// its STARTTLS answer and before the handshake is an injection attempt (CVE-2011-0411): refused.
func (p *plainSession) upgrade(ctx context.Context, cfg *tls.Config, tr *tracer, classify func(error, string) error) (net.Conn, error) {
	if p.br.Buffered() > 0 {
		return nil, fmt.Errorf("%w: data sent before the TLS handshake", ErrProtocol)
	}
	tc := tls.Client(p.raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if classify != nil {
			err = classify(err, cfg.ServerName)
		}
		return nil, fmt.Errorf("%w: %w", ErrTLSPolicy, err)
	}
	return tr.wrap(tc), nil
}

// session is the part shared by SMTP and IMAP sessions.
type session struct {
	ep   Endpoint
	auth Auth
	opts *Options
	raw  *ctxConn
	tr   *tracer
	tls  tls.ConnectionState
	conn net.Conn // the TLS connection as the protocol library sees it
}

// dialSecured is the common start of a session: dial ep, bind ctx to the connection, run the
// protocol's STARTTLS, and record the connection in the audit trail, failures included. wrap types a
// dial failure as the protocol's error. The caller defers release once its authentication is done.
func dialSecured[C any](ctx context.Context, ep Endpoint, auth Auth, opts *Options, proto string,
	wrap func(error) error, starttls func(context.Context, *session, *plainSession) (C, error),
) (s *session, c C, release func(), err error) {
	s, p, err := dialPlain(ctx, ep, auth, opts, proto)
	if err != nil {
		err = wrap(err)
		opts.record(ctx, auth.Address, ActionConnect, "CONNECT "+ep.String(), "", err)
		return nil, c, nil, err
	}
	release = s.raw.bind(ctx)
	c, err = starttls(ctx, s, p)
	opts.record(ctx, auth.Address, ActionConnect, "CONNECT "+ep.String()+" STARTTLS", tlsSummary(s), err)
	if err != nil {
		_ = s.raw.Close()
		release()
		return nil, c, nil, err
	}
	return s, c, release, nil
}

// dialPlain connects and returns the cleartext part of a session.
func dialPlain(ctx context.Context, ep Endpoint, auth Auth, opts *Options, proto string) (*session, *plainSession, error) {
	if opts == nil || opts.TLS == nil {
		return nil, nil, errors.New("lps: Options.TLS is required (built by package trust)")
	}
	if err := auth.validate(); err != nil {
		return nil, nil, err
	}
	c, err := opts.dial(ctx, ep)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", ep, err)
	}
	raw := &ctxConn{Conn: c}
	tr := newTracer(opts.Trace, proto)
	tc := tr.wrap(raw)
	s := &session{ep: ep, auth: auth, opts: opts, raw: raw, tr: tr}
	return s, &plainSession{raw: raw, tc: tc, br: bufio.NewReaderSize(tc, 4096)}, nil
}
