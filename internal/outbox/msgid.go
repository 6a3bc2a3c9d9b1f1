package outbox

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/mssante/mssante/message"
	"io"
	"net/mail"
	"net/textproto"
	"strings"
)

// MessageID returns the Message-ID of raw, without angle brackets (ErrNoMessageID when the
// header has none or an empty one).
func MessageID(raw []byte) (string, error) {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return "", fmt.Errorf("read message header: %w", err)
	}
	id := strings.TrimSpace(h.Get("Message-Id"))
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	if id == "" || strings.ContainsAny(id, " \t<>") {
		return "", ErrNoMessageID
	}
	return id, nil
}

// EnsureMessageID returns raw unchanged with its Message-ID when it has one; otherwise raw with a
// new Message-ID field first in its header, in the form message.Compose writes
// ("<32 hex digits>@<domain of from>", ECO.2.2.1), and added true. r gives the randomness.
func EnsureMessageID(raw []byte, from string, r io.Reader) (out []byte, id string, added bool, err error) {
	if id, err := MessageID(raw); err == nil {
		return raw, id, false, nil
	}
	if len(raw) > 0 && (raw[0] == ' ' || raw[0] == '\t') {
		return nil, "", false, errors.New("new Message-ID: the message header starts with a continuation line")
	}
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, "", false, fmt.Errorf("new Message-ID: %w", err)
	}
	domain := "mssante.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 && i < len(a.Address)-1 {
			domain = a.Address[i+1:]
		}
	}
	id = hex.EncodeToString(b[:]) + "@" + domain
	eol := "\r\n"
	if i := bytes.IndexByte(raw, '\n'); i >= 0 && (i == 0 || raw[i-1] != '\r') {
		eol = "\n"
	}
	raw = message.StripHeader(raw, "Message-ID") // an empty or unreadable one
	out = append([]byte("Message-ID: <"+id+">"+eol), raw...)
	return out, id, true, nil
}
