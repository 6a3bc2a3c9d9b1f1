package lps

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNoSTARTTLS means the server did not offer STARTTLS: the session is refused, never
	// continued in plaintext (ECO.1.0.1, ECO.1.0.2). The caller reports it; retrying will not help.
	ErrNoSTARTTLS = errors.New("server does not offer STARTTLS: refused, no plaintext fallback (ECO.1.0.1/ECO.1.0.2)")
	// ErrTLSPolicy means the TLS handshake failed: the server's certificate or parameters do not
	// meet the trust policy. The wrapped error (often a *trust.RefusalError) names the rule.
	ErrTLSPolicy = errors.New("tls handshake refused")
	// ErrAuth means the server refused the authentication. The caller must obtain new
	// credentials (a fresh PSC token, a valid certificate); retrying as is will not help.
	ErrAuth = errors.New("authentication refused")
	// ErrConnBroken means the session was closed or desynchronised. It is never reused: the next
	// call opens a new session, or the caller dials again.
	ErrConnBroken = errors.New("connection broken")
	// ErrClosed means the session was closed by Close (for instance when the PSC session ended,
	// ECO.1.2.6): it is not reopened. Dial a new one.
	ErrClosed = errors.New("session closed")
	// ErrProtocol means the server answered outside the protocol (no greeting, PREAUTH before TLS,
	// data buffered before the TLS handshake). The session is closed.
	ErrProtocol = errors.New("protocol violation by the server")
)

// SendError reports a failed submission. The gateway retries only when !Permanent.
type SendError struct {
	Permanent bool   // 5xx reply, or a policy failure retrying cannot fix
	Code      int    // SMTP reply code; 0 for I/O and TLS failures
	Enhanced  string // "5.7.1"; empty when the server sends none
	Command   string // "CONNECT", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "SIZE"
	Line      string // first reply line as received (never the AUTH payload)
	Err       error  // ErrTLSPolicy, ErrAuth, ErrConnBroken, *net.OpError, ...
}

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "smtp %s", strings.ToLower(e.Command))
	if e.Permanent {
		b.WriteString(" (permanent)")
	} else {
		b.WriteString(" (temporary)")
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, ": %d", e.Code)
		if e.Enhanced != "" {
			fmt.Fprintf(&b, " %s", e.Enhanced)
		}
		if e.Line != "" {
			fmt.Fprintf(&b, " %s", e.Line)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *SendError) Unwrap() error { return e.Err }

// AuthError is the detail of a refused authentication. It wraps ErrAuth. For XOAUTH2 it carries
// the fields of the server's JSON error challenge (RFC 7628 §3.2.2).
type AuthError struct {
	Mechanism string // "XOAUTH2", "PLAIN"
	Status    string // "401", "invalid_token"… from the JSON challenge; empty when none
	Scope     string // scope the server asks for, from the JSON challenge
	Schemes   string // "bearer"
	Response  string // the server's final reply line ("NO [AUTHENTICATIONFAILED] …", "535 5.7.8 …")
}

func (e *AuthError) Error() string {
	s := fmt.Sprintf("%s authentication refused", e.Mechanism)
	if e.Status != "" {
		s += fmt.Sprintf(" (status %s", e.Status)
		if e.Scope != "" {
			s += ", scope " + e.Scope
		}
		s += ")"
	}
	if e.Response != "" {
		s += ": " + e.Response
	}
	return s
}

func (e *AuthError) Unwrap() error { return ErrAuth }

// IMAPError is a failed IMAP command.
type IMAPError struct {
	Command string // "SELECT", "UID FETCH"…
	Line    string // the server's status response, when it sent one
	Err     error  // ErrConnBroken, *net.OpError, the server's NO/BAD…
}

func (e *IMAPError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("imap %s: %v", e.Command, e.Err)
	}
	return fmt.Sprintf("imap %s: %s", e.Command, e.Line)
}

func (e *IMAPError) Unwrap() error { return e.Err }
