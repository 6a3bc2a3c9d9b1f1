package operator

import (
	"bufio"
	"context"
	"errors"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/testpki"
)

var smtpReplyLine = regexp.MustCompile(`^[2-5][0-9][0-9][ -]`)

// FuzzSMTPFront feeds arbitrary client bytes (outside input) to the SMTP front in front of
// go-smtp. Property: whatever the client sends, every line the server writes back is an SMTP
// reply line ("NNN " or "NNN-"), and the front neither panics nor blocks the operator's Close.
func FuzzSMTPFront(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nFOO\r\nRCPT TO:<a@b>\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nAUTH PLAIN AGFAYg==\r\n\r\nNOOP\r\n",
		"EHLO x\r\nSTARTTLS\r\n\x16\x03\x01\x00\x05hello",
		"EHLO x\r\nBDAT 5 LAST\r\nabcde",
		"HELO\r\nDATA\r\n.\r\nRSET\r\n",
		"\r\n\n\r\x00\xff MAIL\r\nmail from:<>\r\n",
	} {
		f.Add([]byte(s))
	}
	pki := testpki.New(f, testpki.Options{RSA: true})
	op, err := New(Options{DataDir: f.TempDir(), Certificate: pki.Server("localhost", "127.0.0.1").TLS,
		ValidateToken: func(context.Context, string) (Claims, error) { return Claims{}, errors.New("no") }})
	if err != nil {
		f.Fatal(err)
	}
	if err := op.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = op.Close() })
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", op.SMTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		go func() { _, _ = c.Write(in) }()
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // closed, or waiting for more input
			}
			if !smtpReplyLine.MatchString(line) {
				t.Fatalf("input %q: server wrote %q", in, line)
			}
		}
	})
}
