package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
)

// The SMTP conformance checks of issue 11 (item 2) talk raw SMTP to the submission listener, as
// swaks or msmtp would, and compare the sandbox's answers with Postfix's: the reply codes of
// protocol errors, long lines, SMTPUTF8 and the sender checks.

// smtpSession is a raw submission session, logged in once after STARTTLS.
type smtpSession struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	ehlo string // the EHLO answer after STARTTLS
}

// rawSMTP dials the target's submission, says EHLO, does STARTTLS and, unless auth is the zero
// value, logs in (XOAUTH2, or PLAIN with the client certificate).
func (tg *target) rawSMTP(t *testing.T, auth lps.Auth) *smtpSession {
	t.Helper()
	c, err := net.DialTimeout("tcp", tg.smtp, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSession{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { _ = s.conn.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	s.read()
	s.cmd("EHLO conformance.test")
	if got := s.cmd("STARTTLS"); !strings.HasPrefix(got, "220") {
		t.Fatalf("STARTTLS: %q", got)
	}
	host, _, _ := net.SplitHostPort(tg.smtp)
	cfg := tg.policy(t).ClientConfig(host, auth.Certificate)
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(t.Context()); err != nil {
		t.Fatalf("TLS: %v", err)
	}
	s.conn, s.r = tc, bufio.NewReader(tc)
	_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
	s.ehlo = s.cmd("EHLO conformance.test")
	switch auth.Method {
	case lps.AuthXOAUTH2:
		tok, err := auth.Tokens.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ir := base64.StdEncoding.EncodeToString([]byte("user=" + auth.Address + "\x01auth=Bearer " + tok + "\x01\x01"))
		if got := s.cmd("AUTH XOAUTH2 " + ir); !strings.HasPrefix(got, "235") {
			t.Fatalf("AUTH XOAUTH2: %q", got)
		}
	case lps.AuthCertPlain:
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + auth.Address + "\x00" + auth.Password))
		if got := s.cmd("AUTH PLAIN " + ir); !strings.HasPrefix(got, "235") {
			t.Fatalf("AUTH PLAIN: %q", got)
		}
	}
	return s
}

// read reads one (possibly multi-line) reply; "" when the server closed the connection.
func (s *smtpSession) read() string {
	s.t.Helper()
	var b strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			b.WriteString(line)
			return b.String()
		}
		b.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			return b.String()
		}
	}
}

// cmd sends one command line and returns the reply.
func (s *smtpSession) cmd(line string) string {
	s.t.Helper()
	if _, err := fmt.Fprintf(s.conn, "%s\r\n", line); err != nil {
		return ""
	}
	return s.read()
}

// data sends DATA and the message (dot-stuffed by the caller: none of the tests needs it), and
// returns the replies to DATA and to the end of data.
func (s *smtpSession) data(msg string) (start, end string) {
	s.t.Helper()
	start = s.cmd("DATA")
	if !strings.HasPrefix(start, "354") {
		return start, ""
	}
	if _, err := fmt.Fprintf(s.conn, "%s\r\n.\r\n", strings.TrimSuffix(msg, "\r\n")); err != nil {
		return start, ""
	}
	return start, s.read()
}

func code(reply string) string {
	if len(reply) < 3 {
		return "(closed)"
	}
	return reply[:3]
}

// TestConformanceSMTP runs the raw SMTP checks on the sandbox and on Postfix.
func TestConformanceSMTP(t *testing.T) {
	for _, mk := range []struct {
		name string
		new  func(t *testing.T) *target
	}{
		{"sandbox", func(t *testing.T) *target { return sandboxTarget(t, startWorld(t, t.TempDir(), true)) }},
		{"dovecot+postfix", peerTarget},
	} {
		t.Run(mk.name, func(t *testing.T) {
			tg := mk.new(t)
			t.Run("ProtocolErrors", func(t *testing.T) { checkProtocolErrors(t, tg) })
			t.Run("SMTPUTF8", func(t *testing.T) { checkSMTPUTF8(t, tg) })
			t.Run("SenderLoginMismatch", func(t *testing.T) { checkSenderMismatch(t, tg) })
			t.Run("FromHeaderNotOwned", func(t *testing.T) { checkFromHeader(t, tg) })
			t.Run("LongLines", func(t *testing.T) { checkLongLines(t, tg) })
			t.Run("ReportASCII", func(t *testing.T) { checkReportASCII(t, tg) })
			t.Run("OAuthBearer", func(t *testing.T) { checkSMTPOAuthBearer(t, tg) })
		})
	}
}

// Protocol errors get Postfix's codes: an unknown command 500 5.5.2, commands out of sequence
// 503 5.5.1 (go-smtp answers 501 and 502), a command before STARTTLS 530 5.7.0; the session goes on.
func checkProtocolErrors(t *testing.T, tg *target) {
	c, err := net.DialTimeout("tcp", tg.smtp, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	plain := &smtpSession{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	plain.read()
	for _, step := range []struct{ cmd, want string }{
		{"FOO", "500 5.5.2 Error: command not recognized"},
		{"EHLO conformance.test", "250"},
		{"MAIL FROM:<" + tg.alice.Address + ">", "530 5.7.0 Must issue a STARTTLS command first"},
		{"AUTH PLAIN AGFAYg==", "530 5.7.0 Must issue a STARTTLS command first"},
		{"NOOP", "250 2.0.0"},
	} {
		if got := plain.cmd(step.cmd); !strings.HasPrefix(got, step.want) {
			t.Errorf("before STARTTLS %q: %q, want %s", step.cmd, got, step.want)
		}
	}
	s := tg.rawSMTP(t, tg.alice)
	for _, step := range []struct{ cmd, want string }{
		{"FOO", "500 5.5.2 Error: command not recognized"},
		{"FOOBAR x", "500 5.5.2 Error: command not recognized"},
		{"", "500 5.5.2 Error: bad syntax"},
		{"RCPT TO:<" + tg.bob.Address + ">", "503 5.5.1 Error: need MAIL command"},
		{"DATA", "503 5.5.1 Error: need RCPT command"},
		{"MAIL FROM:<" + tg.alice.Address + ">", "250"},
		{"MAIL FROM:<" + tg.alice.Address + ">", "503 5.5.1 Error: nested MAIL command"},
		{"DATA", "554 5.5.1 Error: no valid recipients"},
		{"RSET", "250 2.0.0"},
		{"NOOP", "250 2.0.0"},
	} {
		if got := s.cmd(step.cmd); !strings.HasPrefix(got, step.want) {
			t.Errorf("%q: %q, want %s", step.cmd, got, step.want)
		}
	}
	if got := s.cmd("STARTTLS"); !strings.HasPrefix(got, "554 5.5.1 Error: TLS already active") {
		t.Errorf("STARTTLS under TLS: %q, want 554 5.5.1", got)
	}
}

// Postfix 3 advertises SMTPUTF8 (RFC 6531, smtputf8_enable = yes) and accepts the MAIL parameter;
// an all-ASCII message sent with it is delivered. Raw UTF-8 in the header without the parameter
// (8BITMIME) is delivered as sent. (With the parameter, a message whose header holds UTF-8 bounces
// at Postfix's LMTP hop, 5.6.7, because Dovecot 2.3's LMTP does not offer SMTPUTF8: the sandbox
// does not reproduce that bounce and delivers it.)
func checkSMTPUTF8(t *testing.T, tg *target) {
	s := tg.rawSMTP(t, tg.alice)
	if !strings.Contains(s.ehlo, "SMTPUTF8") {
		t.Errorf("EHLO does not advertise SMTPUTF8: %q", s.ehlo)
	}
	if got := s.cmd("MAIL FROM:<" + tg.alice.Address + "> SMTPUTF8"); code(got) != "250" {
		t.Errorf("MAIL FROM … SMTPUTF8: %q, want 250", got)
	}
	if got := s.cmd("RCPT TO:<" + tg.bob.Address + ">"); code(got) != "250" {
		t.Errorf("RCPT: %q, want 250", got)
	}
	ascii := "SMTPUTF8 ascii " + tg.name
	if _, end := s.data(string(rawMail(tg.alice.Address, tg.bob.Address, ascii, "Corps."))); code(end) != "250" {
		t.Errorf("end of DATA: %q, want 250", end)
	}
	s.cmd("MAIL FROM:<" + tg.alice.Address + "> BODY=8BITMIME")
	s.cmd("RCPT TO:<" + tg.bob.Address + ">")
	utf8 := "UTF-8 brut " + tg.name
	msg := strings.Replace(string(rawMail(tg.alice.Address, tg.bob.Address, utf8, "Corps.")), "Subject: ", "Subject: Hélène ", 1)
	if _, end := s.data(msg); code(end) != "250" {
		t.Errorf("end of DATA (8BITMIME, raw UTF-8 subject): %q, want 250", end)
	}
	ic := tg.inbox(t, tg.bob)
	waitFor(t, ic, ascii)
	if raw := waitFor(t, ic, utf8); !strings.Contains(string(raw), "Subject: Hélène "+utf8) {
		t.Errorf("raw UTF-8 subject not delivered as sent:\n%s", raw)
	}
}

// The envelope sender must be owned by the login: Postfix's reject_sender_login_mismatch answers
// 553 5.7.1 "Sender address rejected: not owned by user", at RCPT (smtpd_delay_reject = yes), for a
// personal mailbox as for the applicative one.
func checkSenderMismatch(t *testing.T, tg *target) {
	s := tg.rawSMTP(t, tg.alice)
	for _, from := range []string{tg.bob.Address, tg.app.Address} {
		if got := s.cmd("MAIL FROM:<" + from + ">"); code(got) != "250" {
			t.Errorf("MAIL FROM:<%s>: %q, want 250 (the check comes at RCPT)", from, got)
		}
		got := s.cmd("RCPT TO:<" + tg.bob.Address + ">")
		if !strings.HasPrefix(got, "553 5.7.1 <"+from+">: Sender address rejected: not owned by user "+tg.alice.Address) {
			t.Errorf("RCPT after MAIL FROM:<%s>: %q, want 553 5.7.1 … not owned by user %s", from, got, tg.alice.Address)
		}
		s.cmd("RSET")
	}
	// The null sender stays allowed (reports).
	if got := s.cmd("MAIL FROM:<>"); code(got) != "250" {
		t.Errorf("MAIL FROM:<>: %q", got)
	}
	if got := s.cmd("RCPT TO:<" + tg.bob.Address + ">"); code(got) != "250" {
		t.Errorf("RCPT after MAIL FROM:<>: %q, want 250", got)
	}
}

// A From field naming another mailbox than the login's is refused at the end of DATA with
// 550 5.7.1, Postfix's answer to a content check (on the peer, a header_checks rule standing for
// the operator's milter); the mail is not delivered and the session goes on.
func checkFromHeader(t *testing.T, tg *target) {
	for _, auth := range []lps.Auth{tg.alice, tg.app} {
		s := tg.rawSMTP(t, auth)
		s.cmd("MAIL FROM:<" + auth.Address + ">")
		s.cmd("RCPT TO:<" + tg.bob.Address + ">")
		subject := "From usurpé " + auth.Address + " " + tg.name
		_, end := s.data(string(rawMail("Usurpation <"+tg.bob.Address+">", tg.bob.Address, subject, "Usurpation.")))
		if !strings.HasPrefix(end, "550 5.7.1 ") || !strings.Contains(end, "From header rejected") {
			t.Errorf("%s sends From: %s: %q, want 550 5.7.1 … From header rejected", auth.Address, tg.bob.Address, end)
		}
		if got := s.cmd("NOOP"); code(got) != "250" {
			t.Errorf("NOOP after the refusal: %q", got)
		}
		// Its own address in From is delivered.
		s.cmd("MAIL FROM:<" + auth.Address + ">")
		s.cmd("RCPT TO:<" + tg.bob.Address + ">")
		own := "From propre " + auth.Address + " " + tg.name
		if _, end := s.data(string(rawMail("Expéditeur <"+auth.Address+">", tg.bob.Address, own, "Légitime."))); code(end) != "250" {
			t.Errorf("%s sends From: itself: %q, want 250", auth.Address, end)
		}
	}
	ic := tg.inbox(t, tg.bob)
	waitFor(t, ic, "From propre "+tg.app.Address)
	uids, err := ic.Search(context.Background(), lps.Criteria{Subject: "From usurp"})
	if err != nil {
		t.Fatal(err)
	}
	if len(uids) != 0 {
		t.Errorf("%d mails with a usurped From were delivered", len(uids))
	}
}

// Postfix accepts body lines of any length (it reads line_length_limit = 2048 pieces and joins
// them) and a long command line, and its delivery agent breaks lines over 998 characters by
// inserting CRLF and a space (lmtp_line_length_limit): the mailbox gets the folded lines.
func checkLongLines(t *testing.T, tg *target) {
	s := tg.rawSMTP(t, tg.alice)
	if got := s.cmd("NOOP " + strings.Repeat("x", 3000)); code(got) != "250" {
		t.Errorf("3,000-character NOOP: %q, want 250", got)
	}
	s.cmd("MAIL FROM:<" + tg.alice.Address + ">")
	s.cmd("RCPT TO:<" + tg.bob.Address + ">")
	a, b := strings.Repeat("a", 3000), strings.Repeat("b", 100_000)
	subject := "Ligne longue " + tg.name
	_, end := s.data(string(rawMail(tg.alice.Address, tg.bob.Address, subject, "avant\r\n"+a+"\r\nmilieu\r\n"+b+"\r\napres")))
	if code(end) != "250" {
		t.Fatalf("end of DATA with 3,000- and 100,000-character lines: %q, want 250", end)
	}
	if got := s.cmd("NOOP"); code(got) != "250" {
		t.Errorf("NOOP after the long lines: %q", got)
	}
	raw := string(waitFor(t, tg.inbox(t, tg.bob), subject))
	for i, l := range strings.Split(raw, "\r\n") {
		if len(l) > 998 {
			t.Errorf("delivered line %d has %d characters, want at most 998", i, len(l))
			break
		}
	}
	body := raw[strings.Index(raw, "\r\n\r\n")+4:]
	want := "avant\r\n" + fold(a) + "\r\nmilieu\r\n" + fold(b) + "\r\napres"
	if !strings.HasPrefix(body, want) {
		t.Errorf("delivered body is not the folded text (%d bytes, want %d)", len(body), len(want))
	}
}

// fold is Postfix's line breaking at 998: 998 characters, then CRLF SP and 997 at a time.
func fold(line string) string {
	var b strings.Builder
	n := 998
	for len(line) > n {
		b.WriteString(line[:n] + "\r\n ")
		line, n = line[n:], 997
	}
	b.WriteString(line)
	return b.String()
}

// Delivery reports are ASCII where RFC 3464 and RFC 2047 want it: the report's header fields and
// its message/delivery-status part (Postfix's "delivered" report, the sandbox's too); the client
// reads them back as reports.
func checkReportASCII(t *testing.T, tg *target) {
	subject := "DSN ASCII " + tg.name
	if _, err := tg.submit(t, tg.alice, tg.bob.Address, subject, &lps.DSN{Notify: []string{"SUCCESS"}}); err != nil {
		t.Fatal(err)
	}
	ic := tg.inbox(t, tg.alice)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := ic.Select(context.Background(), "INBOX"); err != nil {
			t.Fatal(err)
		}
		uids, err := ic.Search(context.Background(), lps.Criteria{Text: subject})
		if err != nil {
			t.Fatal(err)
		}
		for _, uid := range uids {
			var b bytes.Buffer
			if _, err := ic.FetchBody(context.Background(), uid, &b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b.Bytes(), []byte("message/delivery-status")) {
				continue
			}
			raw := b.Bytes()
			head, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
			if i := nonASCII(head); i >= 0 {
				t.Errorf("report header holds raw 8-bit bytes near %q", head[max(0, i-30):min(len(head), i+30)])
			}
			_, status, _ := bytes.Cut(body, []byte("Content-Type: message/delivery-status"))
			if i := bytes.Index(status, []byte("\r\n--")); i >= 0 {
				status = status[:i]
			}
			if len(status) == 0 {
				t.Fatalf("no message/delivery-status part:\n%s", raw)
			}
			if i := nonASCII(status); i >= 0 {
				t.Errorf("delivery-status part holds raw 8-bit bytes near %q", status[max(0, i-30):min(len(status), i+30)])
			}
			// One language: Postfix's English text, never mixed with a French one.
			if !bytes.Contains(raw, []byte("Your message was successfully delivered")) || bytes.Contains(raw, []byte("distribu")) {
				t.Errorf("the human part is not Postfix's text alone:\n%s", raw)
			}
			m, err := message.Parse(raw, nil)
			if err != nil || len(m.Reports) == 0 {
				t.Errorf("the client does not read the report back: %v, %+v", err, m)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no delivery report for %q", subject)
}

func nonASCII(b []byte) int {
	for i, c := range b {
		if c >= 0x80 {
			return i
		}
	}
	return -1
}

// RFC 7628 OAUTHBEARER on submission, which msmtp and curl prefer to XOAUTH2: offered after
// STARTTLS; a bad token gets the JSON error challenge, answered by the client's dummy response
// (RFC 7628 §3.2.3) then 535; the right token logs in.
func checkSMTPOAuthBearer(t *testing.T, tg *target) {
	s := tg.rawSMTP(t, lps.Auth{})
	if !regexp.MustCompile(`250[- ]AUTH [^\r\n]*\bOAUTHBEARER\b`).MatchString(s.ehlo) {
		t.Fatalf("EHLO under TLS does not offer OAUTHBEARER: %q", s.ehlo)
	}
	tok, err := tg.alice.Tokens.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(tok string) string {
		return base64.StdEncoding.EncodeToString([]byte("n,a=" + tg.alice.Address + ",\x01auth=Bearer " + tok + "\x01\x01"))
	}
	got := s.cmd("AUTH OAUTHBEARER " + bearer(tok+"x"))
	if code(got) != "334" {
		t.Fatalf("bad token: %q, want a 334 error challenge", got)
	}
	if js, err := base64.StdEncoding.DecodeString(strings.TrimSpace(got[4:])); err != nil || !strings.Contains(string(js), `"status"`) {
		t.Errorf("challenge is not the RFC 7628 JSON error: %q (%v)", js, err)
	}
	if got := s.cmd("AQ=="); code(got) != "535" {
		t.Errorf("after the dummy response: %q, want 535", got)
	}
	if got := s.cmd("AUTH OAUTHBEARER " + bearer(tok)); code(got) != "235" {
		t.Errorf("OAUTHBEARER login: %q, want 235", got)
	}
}
