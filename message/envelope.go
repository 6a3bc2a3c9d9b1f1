package message

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-message/mail"
)

// ErrBinary: the data is not text (NUL bytes or control characters in the header): a binary file
// (a PDF, a zip…) given where a mail was expected. Nothing of it should be printed.
var ErrBinary = errors.New("message: binary data, not an RFC 5322 mail")

// Envelope is what the SMTP submission of a composed mail needs, read from the mail itself
// (RFC 5321 §3.3, RFC 5322 §3.6.3).
type Envelope struct {
	// From is the address of the From field (the first when several).
	From string
	// Recipients are the addresses of To, Cc and Bcc, each once (compared case-insensitively), in
	// that order.
	Recipients []string
	// DSN: the mail asks for a delivery status notification (Return-Receipt-To, which Compose sets
	// for Draft.DSN, ECO.2.3.1): the submission should carry the DSN parameters (RFC 3461).
	DSN bool
	// Data is the mail without its Bcc fields, which must not reach the recipients; the rest is
	// byte for byte as given.
	Data []byte
}

// EnvelopeOf reads the envelope of a composed mail (an .eml file). It refuses binary data with
// ErrBinary and a mail without a readable header with ErrNotMail; the errors never quote the data.
func EnvelopeOf(raw []byte) (*Envelope, error) {
	end := headerEnd(raw)
	if i := bytes.IndexFunc(raw[:end], isBinaryRune); i >= 0 {
		return nil, fmt.Errorf("%w (byte %d)", ErrBinary, i)
	}
	h, err := readHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil || h.Len() == 0 {
		return nil, fmt.Errorf("%w: no readable header fields", ErrNotMail)
	}
	mh := mail.Header{Header: h}
	env := &Envelope{DSN: mh.Has("Return-Receipt-To")}
	if from, err := mh.AddressList("From"); err == nil && len(from) > 0 {
		env.From = from[0].Address
	}
	seen := map[string]bool{}
	for _, key := range []string{"To", "Cc", "Bcc"} {
		if !mh.Has(key) {
			continue
		}
		list, err := mh.AddressList(key)
		if err != nil {
			return nil, fmt.Errorf("message header %s: %w", key, err)
		}
		for _, a := range list {
			if k := strings.ToLower(a.Address); !seen[k] {
				seen[k] = true
				env.Recipients = append(env.Recipients, a.Address)
			}
		}
	}
	if len(env.Recipients) == 0 {
		return nil, errors.New("the message has no recipient (To, Cc, Bcc)")
	}
	env.Data = StripHeader(raw, "Bcc")
	return env, nil
}

// isBinaryRune: NUL and C0 controls other than tab, CR, LF never appear in a mail header.
func isBinaryRune(r rune) bool {
	return r == 0 || (r < 0x20 && r != '\t' && r != '\r' && r != '\n') || r == 0x7f
}

// headerEnd is the offset of the blank line ending the header (len(raw) when none).
func headerEnd(raw []byte) int {
	for _, sep := range [][]byte{[]byte("\r\n\r\n"), []byte("\n\n")} {
		if i := bytes.Index(raw, sep); i >= 0 {
			return i
		}
	}
	return len(raw)
}

// StripHeader removes every field name (and its continuation lines) from the header of raw; the
// body and the other fields are kept byte for byte.
func StripHeader(raw []byte, name string) []byte {
	var out bytes.Buffer
	rest := raw
	skipping := false
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			out.Write(line)
			out.Write(rest)
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !skipping {
				out.Write(line)
			}
			continue
		}
		colon := bytes.IndexByte(trimmed, ':')
		skipping = colon > 0 && strings.EqualFold(strings.TrimSpace(string(trimmed[:colon])), name)
		if !skipping {
			out.Write(line)
		}
	}
	return out.Bytes()
}
