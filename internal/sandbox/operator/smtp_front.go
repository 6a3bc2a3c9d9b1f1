package operator

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The SMTP front answers what go-smtp answers differently from Postfix and cannot be told
// otherwise through its Backend: an unknown or mangled command ("FOO": go-smtp 501, Postfix
// 500 5.5.2), a command out of sequence (go-smtp 502, Postfix 503 5.5.1), a command before
// STARTTLS on a submission port that requires it (Postfix 530 5.7.0). It owns the TCP connection
// and STARTTLS, and hands the plaintext dialogue to go-smtp through a pipe, one command at a time
// (replies come back in order, so pipelining clients are served the same); message data (DATA,
// BDAT chunks) passes through untouched. go-smtp runs without TLS of its own: the session asks the
// front for the TLS state (smtpFrontConn.tlsState), and AUTH is refused here before STARTTLS.

// smtpLineLimit bounds a command line kept in memory; longer lines are cut there and the rest
// skipped, as Postfix's smtpd skips the rest of an over-long line (it reads line_length_limit
// pieces). AUTH lines carrying a token stay far below.
const smtpLineLimit = 64 << 10

// smtpFrontConn is go-smtp's side of the pipe: the client's address and the TLS state the front
// negotiated.
type smtpFrontConn struct {
	net.Conn
	remote net.Addr

	mu  sync.Mutex
	tls *tls.ConnectionState
}

func (c *smtpFrontConn) RemoteAddr() net.Addr { return c.remote }

func (c *smtpFrontConn) tlsState() (tls.ConnectionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tls == nil {
		return tls.ConnectionState{}, false
	}
	return *c.tls, true
}

// smtpPipeListener hands the front's pipes to go-smtp's Serve.
type smtpPipeListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newSMTPPipeListener(addr net.Addr) *smtpPipeListener {
	return &smtpPipeListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *smtpPipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *smtpPipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *smtpPipeListener) Addr() net.Addr { return l.addr }

// startSMTP serves submission on ln: the front accepts the connections, go-smtp serves the pipes.
func (op *Operator) startSMTP(ln net.Listener) {
	op.smtpSrv = op.newSMTPServer()
	op.smtpPipe = newSMTPPipeListener(ln.Addr())
	op.wg.Add(2)
	go func() { defer op.wg.Done(); _ = op.smtpSrv.Serve(op.smtpPipe) }()
	go func() { defer op.wg.Done(); op.serveSMTPFront(ln, op.smtpPipe) }()
}

// serveSMTPFront accepts submission connections on ln and runs a front for each until ln closes.
func (op *Operator) serveSMTPFront(ln net.Listener, pl *smtpPipeListener) {
	var conns sync.Map
	var wg sync.WaitGroup
	defer wg.Wait() // runs last: the fronts end once their clients are closed below
	defer func() {
		conns.Range(func(k, _ any) bool { _ = k.(net.Conn).Close(); return true })
	}()
	for {
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		up, down := net.Pipe()
		fc := &smtpFrontConn{Conn: down, remote: raw.RemoteAddr()}
		select {
		case pl.conns <- fc:
		case <-pl.closed:
			_ = raw.Close()
			_ = up.Close()
			return
		}
		conns.Store(raw, true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conns.Delete(raw)
			op.smtpFront(raw, up, fc)
		}()
	}
}

// smtpVerbs are the commands go-smtp implements (and Postfix knows); others get 500 here.
var smtpVerbs = map[string]bool{"HELO": true, "EHLO": true, "MAIL": true, "RCPT": true, "DATA": true,
	"BDAT": true, "RSET": true, "NOOP": true, "QUIT": true, "AUTH": true, "STARTTLS": true, "VRFY": true}

// smtpBeforeTLS are the commands Postfix accepts before STARTTLS when TLS is required.
var smtpBeforeTLS = map[string]bool{"HELO": true, "EHLO": true, "NOOP": true, "RSET": true, "QUIT": true, "STARTTLS": true}

// smtpFront runs one client connection: raw is the client, up go-smtp's pipe.
func (op *Operator) smtpFront(raw, up net.Conn, fc *smtpFrontConn) {
	defer raw.Close()
	defer up.Close()
	f := &smtpFrontSession{op: op, raw: raw, cr: bufio.NewReader(raw), cw: raw, up: up, ur: bufio.NewReader(up)}
	greeting, err := f.reply()
	if err != nil {
		return
	}
	if !f.send(greeting) {
		return
	}
	for {
		line, err := f.line()
		if err != nil {
			if errors.Is(err, errSMTPClientTimeout) {
				f.send("421 4.4.2 " + op.opts.Hostname + " Error: timeout exceeded\r\n")
			}
			return
		}
		verb := strings.ToUpper(strings.TrimRight(strings.SplitN(strings.TrimSpace(string(line)), " ", 2)[0], "\r\n"))
		switch {
		case verb == "":
			if !f.send("500 5.5.2 Error: bad syntax\r\n") {
				return
			}
			continue
		case !smtpVerbs[verb]:
			if !f.send("500 5.5.2 Error: command not recognized\r\n") {
				return
			}
			continue
		case verb == "STARTTLS":
			if !f.startTLS(fc) {
				return
			}
			continue
		case !f.secure && !smtpBeforeTLS[verb]:
			if !f.send("530 5.7.0 Must issue a STARTTLS command first\r\n") {
				return
			}
			continue
		case verb == "MAIL" && f.mail:
			// go-smtp would restart the transaction; Postfix refuses a second MAIL.
			if !f.send("503 5.5.1 Error: nested MAIL command\r\n") {
				return
			}
			continue
		}
		if !f.forward(verb, line) {
			return
		}
		if verb == "QUIT" {
			return
		}
	}
}

var errSMTPClientTimeout = errors.New("client timeout")

type smtpFrontSession struct {
	op     *Operator
	raw    net.Conn
	cr     *bufio.Reader
	cw     io.Writer
	up     net.Conn
	ur     *bufio.Reader
	secure bool
	// helo: a HELO/EHLO was answered; mail: a MAIL was accepted (a transaction is open).
	helo, mail bool
}

func (f *smtpFrontSession) send(s string) bool {
	_, err := io.WriteString(f.cw, s)
	return err == nil
}

// line reads one command line from the client (CRLF kept), cut at smtpLineLimit.
func (f *smtpFrontSession) line() ([]byte, error) {
	_ = f.raw.SetReadDeadline(time.Now().Add(5 * time.Minute))
	var line []byte
	for {
		chunk, err := f.cr.ReadSlice('\n')
		if len(line) < smtpLineLimit {
			line = append(line, chunk[:min(len(chunk), smtpLineLimit-len(line))]...)
		}
		if err == nil {
			if !bytes.HasSuffix(line, []byte("\n")) {
				line = append(line, "\r\n"...) // cut: end it
			}
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, errSMTPClientTimeout
			}
			return nil, err
		}
	}
}

// reply reads one complete reply of go-smtp (its lines up to "NNN ").
func (f *smtpFrontSession) reply() (string, error) {
	var b strings.Builder
	for {
		l, err := f.ur.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			return b.String(), err
		}
		if len(l) < 4 || l[3] != '-' {
			return b.String(), nil
		}
	}
}

// forward passes one command to go-smtp, with its data for DATA and BDAT and its SASL exchange
// for AUTH, and the replies back, rewritten where Postfix answers otherwise.
func (f *smtpFrontSession) forward(verb string, line []byte) bool {
	if _, err := f.up.Write(line); err != nil {
		return false
	}
	if verb == "BDAT" {
		n, _ := strconv.ParseInt(strings.Fields(string(line) + " x x")[1], 10, 64)
		if n > 0 {
			if _, err := io.CopyN(f.up, f.cr, n); err != nil {
				return false
			}
		}
	}
	rep, err := f.reply()
	if err != nil && rep == "" {
		return false
	}
	rep = f.rewrite(verb, rep)
	if !f.send(rep) {
		return false
	}
	switch {
	case verb == "AUTH":
		for strings.HasPrefix(rep, "334") {
			l, err := f.line()
			if err != nil {
				return false
			}
			if _, err := f.up.Write(l); err != nil {
				return false
			}
			if rep, err = f.reply(); err != nil && rep == "" {
				return false
			}
			if !f.send(rep) {
				return false
			}
		}
	case verb == "DATA" && strings.HasPrefix(rep, "354"):
		if !f.data() {
			return false
		}
		rep, err := f.reply()
		if err != nil && rep == "" {
			return false
		}
		f.mail = false
		return f.send(rep)
	}
	return err == nil
}

// data copies the message from the client to go-smtp up to and including the "." line.
func (f *smtpFrontSession) data() bool {
	atStart := true
	for {
		_ = f.raw.SetReadDeadline(time.Now().Add(5 * time.Minute))
		chunk, err := f.cr.ReadSlice('\n')
		if len(chunk) > 0 {
			if _, werr := f.up.Write(chunk); werr != nil {
				return false
			}
		}
		if err == nil {
			if atStart && bytes.Equal(chunk, []byte(".\r\n")) {
				return true
			}
			atStart = true
			continue
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return false
		}
		atStart = false
	}
}

// rewrite turns go-smtp's replies into Postfix's where they differ, and keeps the EHLO
// advertisement right: STARTTLS before TLS (the front does it), AUTH only after.
func (f *smtpFrontSession) rewrite(verb, rep string) string {
	code := rep[:min(3, len(rep))]
	switch verb {
	case "HELO", "EHLO":
		if code == "250" {
			f.helo = true
			f.mail = false
			if !f.secure {
				return ehloBeforeTLS(rep)
			}
		}
	case "RSET":
		f.mail = false
	case "MAIL":
		switch {
		case strings.Contains(rep, "Please introduce yourself first"):
			return "503 5.5.1 Error: send HELO/EHLO first\r\n"
		case code == "250":
			f.mail = true
		}
	case "RCPT":
		if strings.Contains(rep, "Missing MAIL FROM command") {
			return "503 5.5.1 Error: need MAIL command\r\n"
		}
		if strings.Contains(rep, "Please introduce yourself first") {
			return "503 5.5.1 Error: send HELO/EHLO first\r\n"
		}
	case "DATA", "BDAT":
		if strings.Contains(rep, "Missing RCPT TO command") {
			// Postfix: outside a transaction "need RCPT command", inside one without an
			// accepted recipient "no valid recipients".
			if !f.mail {
				return "503 5.5.1 Error: need RCPT command\r\n"
			}
			return "554 5.5.1 Error: no valid recipients\r\n"
		}
		if verb == "BDAT" && code == "250" && strings.Contains(rep, "queued") {
			f.mail = false
		}
	case "AUTH":
		if strings.Contains(rep, "Please introduce yourself first") {
			return "503 5.5.1 Error: send HELO/EHLO first\r\n"
		}
	}
	return rep
}

// ehloBeforeTLS removes AUTH from an EHLO reply and advertises STARTTLS.
func ehloBeforeTLS(rep string) string {
	lines := strings.SplitAfter(strings.TrimSuffix(rep, "\r\n"), "\r\n")
	var kept []string
	for _, l := range lines {
		l = strings.TrimSuffix(l, "\r\n")
		if len(l) >= 4 && strings.HasPrefix(strings.ToUpper(l[4:]), "AUTH") {
			continue
		}
		kept = append(kept, l[min(4, len(l)):])
	}
	kept = append(kept, "STARTTLS")
	var b strings.Builder
	for i, l := range kept {
		sep := "-"
		if i == len(kept)-1 {
			sep = " "
		}
		b.WriteString("250" + sep + l + "\r\n")
	}
	return b.String()
}

// startTLS answers STARTTLS and runs the handshake on the client connection; go-smtp then sees the
// plaintext of the encrypted dialogue, and the client must say EHLO again (RFC 3207 §4.2).
func (f *smtpFrontSession) startTLS(fc *smtpFrontConn) bool {
	if f.secure {
		return f.send("554 5.5.1 Error: TLS already active\r\n")
	}
	if !f.send("220 2.0.0 Ready to start TLS\r\n") {
		return false
	}
	tc := tls.Server(f.raw, f.op.tls)
	_ = f.raw.SetDeadline(time.Now().Add(time.Minute))
	if err := tc.Handshake(); err != nil {
		return false
	}
	_ = f.raw.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	fc.mu.Lock()
	fc.tls = &st
	fc.mu.Unlock()
	// Bytes the client sent after STARTTLS in the clear are dropped (command injection).
	f.cr, f.cw, f.secure = bufio.NewReader(tc), tc, true
	f.helo, f.mail = false, false
	// go-smtp forgets the transaction as the server must after TLS starts.
	if _, err := f.up.Write([]byte("RSET\r\n")); err != nil {
		return false
	}
	_, err := f.reply()
	return err == nil
}
