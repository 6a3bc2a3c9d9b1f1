package lps

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// tracer writes the protocol dialogue to a trace writer, redacted (STYLE 8.4): the SASL exchange
// is shown as "***" (no level reveals the XOAUTH2 payload), message bodies (SMTP DATA, IMAP
// literals) as "… (N bytes)", and any registered secret is replaced wherever it appears. Lines are
// prefixed "C: " (client) and "S: " (server).
type tracer struct {
	w        io.Writer // nil: tracing off
	proto    string    // "smtp" or "imap"
	mu       sync.Mutex
	secrets  [][]byte
	inAuth   bool
	inData   bool // SMTP: DATA accepted, client sends the body
	wantData bool
	c, s     dirState
}

type dirState struct {
	line    []byte
	literal int64 // bytes of an IMAP literal still to skip
	litSize int64
	skipped int64 // SMTP body bytes
}

const maxTraceLine = 8192

func newTracer(w io.Writer, proto string) *tracer { return &tracer{w: w, proto: proto} }

// addSecret redacts s (and its base64 forms) until clearSecrets.
func (t *tracer) addSecret(s string) {
	if s == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.secrets = append(t.secrets, []byte(s), []byte(base64.StdEncoding.EncodeToString([]byte(s))))
}

func (t *tracer) addSecretBytes(b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.secrets = append(t.secrets, []byte(base64.StdEncoding.EncodeToString(b)))
}

func (t *tracer) clearSecrets() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.secrets {
		clear(s)
	}
	t.secrets = nil
}

// wrap returns c with its traffic traced (the returned conn is c itself when tracing is off).
func (t *tracer) wrap(c net.Conn) net.Conn {
	if t == nil || t.w == nil {
		return c
	}
	return &traceConn{Conn: c, t: t}
}

type traceConn struct {
	net.Conn
	t *tracer
}

func (c *traceConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.t.feed(false, p[:n])
	}
	return n, err
}

func (c *traceConn) Write(p []byte) (int, error) {
	c.t.feed(true, p)
	return c.Conn.Write(p)
}

var literalRE = regexp.MustCompile(`\{([0-9]{1,12})\+?\}$`)

func (t *tracer) feed(client bool, p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := &t.s
	if client {
		d = &t.c
	}
	for len(p) > 0 {
		if d.literal > 0 {
			n := min(int64(len(p)), d.literal)
			d.literal -= n
			p = p[n:]
			if d.literal == 0 {
				t.emit(client, fmt.Sprintf("… (%d bytes)", d.litSize))
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.line = append(d.line, p...)
			if len(d.line) > maxTraceLine {
				t.line(client, d)
			}
			return
		}
		d.line = append(d.line, p[:i+1]...)
		p = p[i+1:]
		t.line(client, d)
	}
}

// line handles one complete line of direction d.
func (t *tracer) line(client bool, d *dirState) {
	s := strings.TrimRight(string(d.line), "\r\n")
	clear(d.line)
	d.line = d.line[:0]
	if t.proto == "smtp" {
		t.smtpLine(client, d, s)
		return
	}
	t.imapLine(client, d, s)
}

func (t *tracer) smtpLine(client bool, d *dirState, s string) {
	switch {
	case client && t.inData:
		if s == "." {
			t.inData = false
			t.emit(true, fmt.Sprintf("… (%d bytes)", d.skipped))
			t.emit(true, ".")
			d.skipped = 0
		} else {
			d.skipped += int64(len(s)) + 2
		}
		return
	case client && t.inAuth:
		t.emit(true, "***")
		return
	case client && hasPrefixFold(s, "AUTH "):
		t.inAuth = true
		t.emit(true, authLine(s, 2))
		return
	case client && strings.EqualFold(s, "DATA"):
		t.wantData = true
	case !client && t.wantData:
		t.wantData = false
		t.inData = strings.HasPrefix(s, "354")
	case !client && t.inAuth && !strings.HasPrefix(s, "334"):
		t.inAuth = false
	}
	t.emit(client, s)
}

func (t *tracer) imapLine(client bool, d *dirState, s string) {
	if m := literalRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		d.literal, d.litSize = n, n
	}
	fields := strings.SplitN(s, " ", 3)
	switch {
	case client && t.inAuth:
		t.emit(true, "***")
		return
	case client && len(fields) >= 2 && strings.EqualFold(fields[1], "AUTHENTICATE"):
		t.inAuth = true
		t.emit(true, authLine(s, 3))
		return
	case client && len(fields) >= 2 && strings.EqualFold(fields[1], "LOGIN"):
		t.emit(true, fields[0]+" LOGIN ***")
		return
	case !client && t.inAuth && !strings.HasPrefix(s, "+"):
		t.inAuth = false
	}
	t.emit(client, s)
}

// authLine keeps the first n words of an AUTH command (verb and mechanism) and hides the rest.
func authLine(s string, n int) string {
	f := strings.SplitN(s, " ", n+1)
	if len(f) <= n {
		return s
	}
	return strings.Join(f[:n], " ") + " ***"
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func (t *tracer) emit(client bool, s string) {
	for _, sec := range t.secrets {
		if len(sec) > 0 && strings.Contains(s, string(sec)) {
			s = strings.ReplaceAll(s, string(sec), "***")
		}
	}
	dir := "S: "
	if client {
		dir = "C: "
	}
	_, _ = io.WriteString(t.w, dir+s+"\n")
}
