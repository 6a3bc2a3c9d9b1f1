package lps

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// pipelineEnvelope sends MAIL FROM and every RCPT TO in one write when the server offers
// PIPELINING (RFC 2920), then reads their replies in order. DATA is sent on its own afterwards, so
// that a refused recipient never leads to a partial delivery: the transaction is all or nothing.
// go-smtp has no pipelining; it is idle between commands, so its reader holds no buffered bytes.
// retry reports that the session was found closed before the server accepted anything.
func (cl *SMTPClient) pipelineEnvelope(from string, rcpts []string, mo *smtp.MailOptions, ro *smtp.RcptOptions) (retry bool, err error) {
	var b strings.Builder
	b.WriteString(mailCommand(cl.c, from, mo))
	for _, to := range rcpts {
		b.WriteString(rcptCommand(to, ro))
	}
	if _, err := io.WriteString(cl.s.conn, b.String()); err != nil {
		cl.markBroken()
		return true, &SendError{Command: "MAIL", Err: fmt.Errorf("%w: %w", ErrConnBroken, err)}
	}
	br := bufio.NewReaderSize(cl.s.conn, 1024)
	var first *SendError
	for i := 0; i <= len(rcpts); i++ {
		cmd, to := "MAIL", ""
		if i > 0 {
			cmd, to = "RCPT", rcpts[i-1]
		}
		code, enh, msg, err := readReply(br)
		if err != nil {
			cl.markBroken()
			return i == 0, &SendError{Command: cmd, Err: fmt.Errorf("%w: %w", ErrConnBroken, err)}
		}
		if code/100 == 2 || first != nil {
			continue
		}
		first = &SendError{Permanent: code >= 500, Code: code, Enhanced: enh, Command: cmd, Line: msg}
		if to != "" {
			first.Line = strings.TrimSpace(msg + " <" + to + ">")
		}
		if code == 421 {
			first.Err = ErrConnBroken
		}
	}
	if br.Buffered() > 0 {
		cl.markBroken()
		return false, &SendError{Command: "MAIL", Err: fmt.Errorf("%w: unexpected data after the replies", ErrProtocol)}
	}
	if first == nil {
		return false, nil
	}
	if first.Code == 421 {
		cl.markBroken()
		return first.Command == "MAIL", first
	}
	cl.reset()
	return false, first
}

// mailCommand is MAIL FROM with SIZE, RET and ENVID as the server offers them.
func mailCommand(c *smtp.Client, from string, mo *smtp.MailOptions) string {
	s := "MAIL FROM:<" + from + ">"
	if ok, _ := c.Extension("SIZE"); ok && mo.Size > 0 {
		s += " SIZE=" + strconv.FormatInt(mo.Size, 10)
	}
	if mo.Return != "" {
		s += " RET=" + string(mo.Return)
	}
	if mo.EnvelopeID != "" {
		s += " ENVID=" + xtext(mo.EnvelopeID)
	}
	return s + "\r\n"
}

// rcptCommand is RCPT TO with NOTIFY when DSN is asked (ro is nil otherwise).
func rcptCommand(to string, ro *smtp.RcptOptions) string {
	s := "RCPT TO:<" + to + ">"
	if ro != nil && len(ro.Notify) > 0 {
		n := make([]string, len(ro.Notify))
		for i, v := range ro.Notify {
			n[i] = string(v)
		}
		s += " NOTIFY=" + strings.Join(n, ",")
	}
	return s + "\r\n"
}

// xtext encodes a DSN parameter value (RFC 3461 §4).
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// readReply reads one (multi-line) SMTP reply: code, enhanced status code, text of the first line.
func readReply(br *bufio.Reader) (code int, enhanced, text string, err error) {
	for i := 0; i < 100; i++ {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, "", "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 || len(line) > 2048 {
			return 0, "", "", fmt.Errorf("%w: malformed reply", ErrProtocol)
		}
		c, err := strconv.Atoi(line[:3])
		if err != nil || c < 200 || c > 599 {
			return 0, "", "", fmt.Errorf("%w: malformed reply %q", ErrProtocol, line)
		}
		if i == 0 {
			code, text = c, strings.TrimSpace(line[min(4, len(line)):])
			if f := strings.SplitN(text, " ", 2); len(f) > 0 && isEnhanced(f[0]) {
				enhanced = f[0]
				if len(f) == 2 {
					text = f[1]
				} else {
					text = ""
				}
			}
		} else if c != code {
			return 0, "", "", fmt.Errorf("%w: reply code changes within a reply", ErrProtocol)
		}
		if len(line) == 3 || line[3] == ' ' {
			return code, enhanced, text, nil
		}
	}
	return 0, "", "", fmt.Errorf("%w: reply too long", ErrProtocol)
}

func isEnhanced(s string) bool {
	p := strings.Split(s, ".")
	if len(p) != 3 || (p[0] != "2" && p[0] != "4" && p[0] != "5") {
		return false
	}
	for _, n := range p[1:] {
		if v, err := strconv.Atoi(n); err != nil || v < 0 || v > 999 {
			return false
		}
	}
	return true
}
