package operator

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// The IMAP front is a line layer between the client and go-imap's server (imapserver), one per
// connection, so that the operator answers malformed input as Dovecot does where go-imap v2
// beta.8 hangs, answers NO [SERVERBUG] or drops the connection, and so that it can offer
// commands go-imap has no hook for. It terminates STARTTLS itself and speaks to go-imap through
// an in-memory pipe, one command at a time (it waits for the tagged answer before it reads the
// next command: a pipelining client is served in order):
//   - it reads each command line (and the segments after its literals) before go-imap does, and
//     answers BAD itself, the connection going on, for an empty line or an invalid tag
//     ("* BAD Error in IMAP tag"), an unknown command (go-imap would end the connection before
//     login), a quoted string broken by the line end (go-imap waits for the next line), 8-bit
//     bytes where Dovecot refuses them (NO for a mailbox name, not valid mUTF-7; BAD in atoms
//     and in a SEARCH without charset) and a command over maxIMAPLine ("Too long argument";
//     before login "* BYE Input buffer full" and the end, as Dovecot's imap-login);
//   - it answers ID (RFC 2971) and QUOTA (RFC 9208, imap_quota.go) itself, and takes the
//     CONDSTORE parts (RFC 7162, imap_condstore.go) off the commands before go-imap parses them;
//   - it runs STARTTLS (dropping what the client sent after it in clear text), refuses LOGIN and
//     AUTHENTICATE before it (NO [PRIVACYREQUIRED]) and rewrites go-imap's capability lists:
//     before TLS no AUTH= but STARTTLS and LOGINDISABLED; the front's own capabilities added.
//
// go-imap is configured without TLS and with InsecureAuth: the front is what enforces TLS before
// authentication, and the session reads the client certificate from the front (frontConn).
//
// Known differences with Dovecot: Dovecot accepts commands up to 64 KiB after login, the front
// 48 KiB (go-imap gives up at 50 KiB); before login Dovecot's imap-login already refuses a
// 2 KB LOGIN line, the front only beyond 48 KiB.

// maxIMAPLine is the longest command the front passes on (the sum of a command's line segments,
// literals excluded); go-imap itself gives up at 50 KiB with NO [SERVERBUG].
const maxIMAPLine = 48 * 1024

// frontCaps are the capabilities the front implements on top of go-imap's, before and after
// login (as Dovecot lists them).
var (
	frontCaps     = []string{"ID"}
	frontAuthCaps = []string{"CONDSTORE", "QUOTA"}
)

// commands go-imap handles (imapserver/conn.go), plus those of the front.
var imapCommands = map[string]bool{"NOOP": true, "CHECK": true, "LOGOUT": true, "CAPABILITY": true,
	"STARTTLS": true, "AUTHENTICATE": true, "UNAUTHENTICATE": true, "LOGIN": true, "ENABLE": true,
	"CREATE": true, "DELETE": true, "RENAME": true, "SUBSCRIBE": true, "UNSUBSCRIBE": true, "STATUS": true,
	"LIST": true, "LSUB": true, "NAMESPACE": true, "IDLE": true, "SELECT": true, "EXAMINE": true,
	"CLOSE": true, "UNSELECT": true, "APPEND": true, "FETCH": true, "EXPUNGE": true, "STORE": true,
	"COPY": true, "MOVE": true, "SEARCH": true, "ID": true,
	"GETQUOTAROOT": true, "GETQUOTA": true, "SETQUOTA": true}

var uidCommands = map[string]bool{"FETCH": true, "STORE": true, "COPY": true, "MOVE": true, "SEARCH": true, "EXPUNGE": true}

// mailboxCommands take a mailbox name as first argument.
var mailboxCommands = map[string]bool{"SELECT": true, "EXAMINE": true, "CREATE": true, "DELETE": true,
	"RENAME": true, "SUBSCRIBE": true, "UNSUBSCRIBE": true, "STATUS": true, "APPEND": true,
	"COPY": true, "UID COPY": true, "MOVE": true, "UID MOVE": true}

// atomCommands have only atoms, numbers and lists of them as arguments: 8-bit bytes there are a
// syntax error.
var atomCommands = map[string]bool{"FETCH": true, "UID FETCH": true, "STORE": true, "UID STORE": true,
	"UID EXPUNGE": true, "ENABLE": true, "NOOP": true, "CHECK": true, "CLOSE": true, "UNSELECT": true,
	"EXPUNGE": true, "IDLE": true, "LOGOUT": true, "CAPABILITY": true, "NAMESPACE": true}

// frontConn is go-imap's end of the pipe; the session finds its front through it.
type frontConn struct {
	net.Conn
	f *imapFront
}

// frontListener hands the pipes of the fronts to imapserver.Server.Serve.
type frontListener struct {
	addr      net.Addr
	conns     chan net.Conn
	closed    chan struct{}
	once      sync.Once
	accepting chan struct{} // closed at the first Accept: Serve is registered
	first     sync.Once
}

func (l *frontListener) Accept() (net.Conn, error) {
	l.first.Do(func() { close(l.accepting) })
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *frontListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *frontListener) Addr() net.Addr { return l.addr }

// outEvent is what the output pump reports to the input side: a continuation request or the
// tagged answer of the command in flight.
type outEvent struct {
	cont   bool
	status string // OK, NO, BAD
}

type imapFront struct {
	op  *Operator
	tcp net.Conn

	cli net.Conn // tcp, then its TLS
	cr  *bufio.Reader

	wmu sync.Mutex
	cw  *bufio.Writer

	inner    net.Conn // the front's end of the pipe
	tlsState *tls.ConnectionState

	sess *imapSession // set by NewSession, before the greeting

	pmu     sync.Mutex
	pending string // tag of the command in flight

	cond condState // CONDSTORE (imap_condstore.go)

	events   chan outEvent
	greeted  chan struct{} // closed once go-imap's greeting is out
	pumpDone chan struct{}
}

// serveIMAP accepts TCP connections and runs a front for each, go-imap behind.
func (op *Operator) serveIMAP(ln net.Listener, fl *frontListener) {
	var fronts sync.WaitGroup
	defer fronts.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			_ = fl.Close()
			return
		}
		a, b := net.Pipe()
		f := &imapFront{op: op, tcp: c, cli: c, cr: bufio.NewReaderSize(c, 64*1024), cw: bufio.NewWriter(c),
			inner: a, events: make(chan outEvent, 4), greeted: make(chan struct{}), pumpDone: make(chan struct{})}
		select {
		case fl.conns <- frontConn{Conn: b, f: f}:
		case <-fl.closed:
			_ = c.Close()
			return
		}
		fronts.Add(1)
		go func() { defer fronts.Done(); f.run() }()
	}
}

func (f *imapFront) run() {
	go f.pump()
	f.input()
	_ = f.inner.Close()
	<-f.pumpDone
	_ = f.cli.Close()
}

// write sends lines of the front's own to the client.
func (f *imapFront) write(s string) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	_, _ = f.cw.WriteString(s)
	_ = f.cw.Flush()
}

func (f *imapFront) setPending(tag string) {
	f.pmu.Lock()
	f.pending = tag
	f.pmu.Unlock()
}

func (f *imapFront) pendingTag() string {
	f.pmu.Lock()
	defer f.pmu.Unlock()
	return f.pending
}

// pump copies go-imap's output to the client, rewriting capability lists and reporting
// continuation requests and tagged answers.
func (f *imapFront) pump() {
	defer close(f.pumpDone)
	defer func() {
		f.wmu.Lock() // startTLS replaces f.cli under wmu, from the input goroutine
		c := f.cli
		f.wmu.Unlock()
		_ = c.Close()
	}()
	r := bufio.NewReaderSize(f.inner, 64*1024)
	lineStart, first := true, true
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			var ev *outEvent
			if lineStart {
				if strings.HasPrefix(line, "+") {
					ev = &outEvent{cont: true}
				} else if tag := f.pendingTag(); tag != "" && strings.HasPrefix(line, tag+" ") {
					f.setPending("")
					ev = &outEvent{status: firstWord(line[len(tag)+1:])}
				}
			}
			f.wmu.Lock()
			if lineStart {
				line = f.rewriteCaps(line)
				line = f.rewriteCondStore(line, ev)
			}
			_, _ = f.cw.WriteString(line)
			n, lit := literalSuffix(line)
			if lit {
				_, err = io.CopyN(f.cw, r, n)
			}
			if r.Buffered() == 0 || err != nil {
				_ = f.cw.Flush()
			}
			f.wmu.Unlock()
			if ev != nil && !lit {
				select {
				case f.events <- *ev:
				default: // nobody waits for it (input go-imap read as commands): not worth a stall
				}
			}
			lineStart = !lit
			if first {
				close(f.greeted)
				first = false
			}
		}
		if err != nil {
			return
		}
	}
}

// rewriteCaps adjusts a CAPABILITY response or response code: before TLS no AUTH= mechanism but
// STARTTLS and LOGINDISABLED (go-imap runs without TLS behind the front); the front's own
// capabilities added.
func (f *imapFront) rewriteCaps(line string) string {
	i := strings.Index(line, "CAPABILITY ")
	if i < 0 || !(strings.HasPrefix(line, "* CAPABILITY ") || (i > 0 && line[i-1] == '[')) {
		return line
	}
	start := i + len("CAPABILITY ")
	end := len(line) - len("\r\n")
	if line[i-1] == '[' {
		end = start + strings.IndexByte(line[start:], ']')
	}
	if end < start {
		return line
	}
	var caps []string
	for _, c := range strings.Fields(line[start:end]) {
		if f.tlsState == nil && strings.HasPrefix(strings.ToUpper(c), "AUTH=") {
			continue
		}
		caps = append(caps, c)
	}
	caps = append(caps, frontCaps...)
	if f.authenticated() {
		for _, c := range frontAuthCaps {
			if c != "CONDSTORE" || !f.op.opts.DisableCondStore {
				caps = append(caps, c)
			}
		}
	}
	if f.tlsState == nil && (f.sess == nil || f.sess.user == nil) {
		caps = append(caps, "STARTTLS", "LOGINDISABLED")
	}
	return line[:start] + strings.Join(caps, " ") + line[end:]
}

// literalSuffix reports whether a line ends with a literal announcement {n} or {n+}.
func literalSuffix(line string) (int64, bool) {
	l := strings.TrimRight(line, "\r\n")
	if !strings.HasSuffix(l, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	num := strings.TrimSuffix(l[i+1:len(l)-1], "+")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return strings.ToUpper(strings.TrimSpace(w))
}

func (f *imapFront) authenticated() bool { return f.sess != nil && f.sess.user != nil }

var errLineTooLong = errors.New("imap: line too long")

// readLine reads a line without its CRLF; a line over max is read to its end and reported
// with errLineTooLong (its beginning returned).
func (f *imapFront) readLine(max int) ([]byte, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := f.cr.ReadSlice('\n')
		if !tooLong {
			buf = append(buf, chunk...)
			if len(buf) > max+2 {
				tooLong = true
				buf = buf[:min(len(buf), 256)]
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, err
		}
		if tooLong {
			return buf, errLineTooLong
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		return bytes.TrimSuffix(buf, []byte("\r")), nil
	}
}

// input reads the client's commands one at a time and passes them on, or answers them.
func (f *imapFront) input() {
	// The greeting comes first (and the session exists then).
	select {
	case <-f.greeted:
	case <-f.pumpDone:
		return
	}
	for {
		line, err := f.readLine(maxIMAPLine)
		if errors.Is(err, errLineTooLong) {
			if !f.authenticated() {
				f.write("* BYE Input buffer full, aborting\r\n")
				return
			}
			tag, name, _ := splitCommand(line)
			f.write(fmt.Sprintf("%s BAD Error in IMAP command %s: Too long argument\r\n", orStar(tag), name))
			continue
		}
		if err != nil {
			return
		}
		if !f.command(line) {
			return
		}
	}
}

func orStar(tag string) string {
	if tag == "" {
		return "*"
	}
	return tag
}

// splitCommand returns the tag, the command name in upper case (UID FETCH as "UID FETCH") and
// the arguments.
func splitCommand(line []byte) (tag, name, args string) {
	s := string(line)
	tag, rest, _ := strings.Cut(s, " ")
	name, args, _ = strings.Cut(rest, " ")
	name = strings.ToUpper(name)
	if name == "UID" {
		sub, a, _ := strings.Cut(args, " ")
		name, args = "UID "+strings.ToUpper(sub), a
	}
	return tag, name, args
}

func validTag(tag string) bool {
	if tag == "" || !utf8.ValidString(tag) {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]+`, c) >= 0 {
			return false
		}
	}
	return true
}

// unterminatedQuote reports whether s ends inside a quoted string.
func unterminatedQuote(s string) bool {
	in := false
	for i := 0; i < len(s); i++ {
		switch {
		case in && s[i] == '\\':
			i++
		case s[i] == '"':
			in = !in
		}
	}
	return in
}

func has8bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// command handles one command line; false ends the connection.
func (f *imapFront) command(line []byte) bool {
	tag, name, args := splitCommand(line)
	if !validTag(tag) {
		f.write("* BAD Error in IMAP tag: Invalid tag\r\n")
		return true
	}
	base := strings.TrimPrefix(name, "UID ")
	if !imapCommands[base] || (name != base && !uidCommands[base]) {
		if !f.authenticated() {
			f.write(tag + " BAD Error in IMAP command received by server.\r\n")
		} else {
			f.write(fmt.Sprintf("%s BAD Error in IMAP command %s: Unknown command\r\n", tag, name))
		}
		return true
	}
	if unterminatedQuote(args) {
		f.write(fmt.Sprintf("%s BAD Error in IMAP command %s: Missing '\"'\r\n", tag, name))
		return true
	}
	if has8bit(args) {
		// Dovecot's answers; go-imap would answer NO [SERVERBUG] (mUTF-7 decoding) or accept
		// the bytes (a keyword, a search string in no charset).
		switch {
		case mailboxCommands[name]:
			f.write(tag + " NO Mailbox name is not valid mUTF-7\r\n")
			return true
		case name == "LIST" || name == "LSUB":
			f.write(fmt.Sprintf("%s OK %s completed\r\n", tag, name)) // no mUTF-7 name matches
			return true
		case atomCommands[name]:
			f.write(fmt.Sprintf("%s BAD Error in IMAP command %s: 8bit data in atom\r\n", tag, name))
			return true
		case (name == "SEARCH" || name == "UID SEARCH") && !utf8.ValidString(args):
			f.write(fmt.Sprintf("%s BAD Error in IMAP command %s: Invalid search key\r\n", tag, name))
			return true
		}
	}
	f.cond.reset()
	switch name {
	case "SELECT", "EXAMINE", "FETCH", "UID FETCH", "STORE", "UID STORE", "ENABLE", "STATUS", "SEARCH", "UID SEARCH":
		if f.op.opts.DisableCondStore {
			break
		}
		var done bool
		if line, done = f.condStoreCommand(tag, name, args, line); done {
			return true
		}
	case "GETQUOTAROOT", "GETQUOTA", "SETQUOTA":
		f.quotaCommand(tag, name, args)
		return true
	case "ID":
		f.write("* ID (\"name\" \"mssante sandbox\")\r\n" + tag + " OK ID completed.\r\n")
		return true
	case "STARTTLS":
		return f.startTLS(tag, args)
	case "LOGIN", "AUTHENTICATE":
		if f.tlsState == nil {
			f.write(tag + " NO [PRIVACYREQUIRED] TLS is required to authenticate\r\n")
			return true
		}
	}
	return f.forward(tag, line)
}

func (f *imapFront) startTLS(tag, args string) bool {
	if args != "" {
		f.write(tag + " BAD Error in IMAP command STARTTLS: Unexpected arguments\r\n")
		return true
	}
	if f.tlsState != nil || f.authenticated() {
		f.write(tag + " BAD TLS is already active\r\n")
		return true
	}
	// Whatever the client sent after STARTTLS in clear text is dropped (no command injection).
	if n := f.cr.Buffered(); n > 0 {
		_, _ = f.cr.Discard(n)
	}
	f.write(tag + " OK Begin TLS negotiation now.\r\n")
	tc := tls.Server(f.tcp, f.op.tls)
	if err := tc.Handshake(); err != nil {
		f.op.log.Info("imap starttls failed", "err", err)
		return false
	}
	cs := tc.ConnectionState()
	f.wmu.Lock()
	f.cli, f.tlsState = tc, &cs
	f.cr.Reset(tc)
	f.cw.Reset(tc)
	f.wmu.Unlock()
	return true
}

// forward passes a command to go-imap, with its literals and the continuation lines it asks for
// (SASL responses, IDLE's DONE), and waits for its tagged answer.
func (f *imapFront) forward(tag string, line []byte) bool {
	f.setPending(tag)
	size := len(line)
	for {
		if _, err := f.inner.Write(append(line, '\r', '\n')); err != nil {
			return false
		}
		n, lit := literalSuffix(string(line))
		if !lit {
			break
		}
		if !bytes.HasSuffix(line, []byte("+}")) {
			ev, ok := f.wait()
			if !ok {
				return false
			}
			if !ev.cont {
				return true // refused before the literal (too big, bad state)
			}
		}
		if _, err := io.CopyN(f.inner, f.cr, n); err != nil {
			return false
		}
		next, err := f.readLine(maxIMAPLine - size)
		if errors.Is(err, errLineTooLong) {
			next = nil // go-imap answers the truncated command
		} else if err != nil {
			return false
		}
		size += len(next)
		line = next
	}
	for {
		ev, ok := f.wait()
		if !ok {
			return false
		}
		if !ev.cont {
			return true
		}
		// A continuation: a SASL response or IDLE's DONE, passed as is.
		cont, err := f.readLine(maxIMAPLine)
		if err != nil && !errors.Is(err, errLineTooLong) {
			return false
		}
		if _, err := f.inner.Write(append(cont, '\r', '\n')); err != nil {
			return false
		}
	}
}

func (f *imapFront) wait() (outEvent, bool) {
	select {
	case ev := <-f.events:
		return ev, true
	case <-f.pumpDone:
		return outEvent{}, false
	}
}

// startIMAP runs go-imap's server behind the fronts of the connections accepted on ln.
func (op *Operator) startIMAP(ln net.Listener) {
	fl := &frontListener{addr: ln.Addr(), conns: make(chan net.Conn), closed: make(chan struct{}),
		accepting: make(chan struct{})}
	op.imapSrv = imapserver.New(&imapserver.Options{
		NewSession: op.newIMAPSession,
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {},
			imap.CapNamespace: {}, imap.CapSpecialUse: {}, imap.CapChildren: {}},
		Logger: log.New(slogWriter{op.log, "imap"}, "", 0),
		// ECO.1.0.2: no authentication before STARTTLS, which the front runs and enforces.
		InsecureAuth: true,
	})
	op.wg.Add(2)
	go func() { defer op.wg.Done(); _ = op.imapSrv.Serve(fl) }()
	go func() { defer op.wg.Done(); op.serveIMAP(ln, fl) }()
	// imapserver.Server.Close races with a Serve that has not registered its listener yet
	// (its WaitGroup): Start returns once Serve accepts.
	<-fl.accepting
}
