package lps

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// AuthMethod is how a session authenticates to the operator.
type AuthMethod int

const (
	// AuthXOAUTH2 is for personal and organisational mailboxes: SASL XOAUTH2 with a Pro Santé
	// Connect access token (ECO.1.2.1).
	AuthXOAUTH2 AuthMethod = iota + 1
	// AuthCertPlain is for applicative mailboxes: an ORG AUTH_CLI client certificate in the TLS
	// handshake, then SASL PLAIN with the mailbox address as login (ECO.1.3.1).
	AuthCertPlain
)

// String returns "XOAUTH2" or "PLAIN+cert".
func (m AuthMethod) String() string {
	switch m {
	case AuthXOAUTH2:
		return "XOAUTH2"
	case AuthCertPlain:
		return "PLAIN+cert"
	}
	return fmt.Sprintf("AuthMethod(%d)", int(m))
}

// TokenSource gives the current access token. It is called at each authentication (first login and
// every reconnection); this package never keeps the token after the authentication exchange
// (ECO.1.2.5). An error from Token means authentication is no longer valid: reconnection stops.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenSourceFunc adapts a function to TokenSource.
type TokenSourceFunc func(ctx context.Context) (string, error)

// Token calls f(ctx).
func (f TokenSourceFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// Auth is the identity a session authenticates as.
type Auth struct {
	Method  AuthMethod
	Address string // the mailbox address: XOAUTH2 user=, PLAIN login, account of the audit events
	// Login, when not empty, replaces Address as the XOAUTH2 user= and the PLAIN login: the
	// <username> an operator's autoconfig document gives for the mailbox (ECO.1.1.9). MSSanté
	// operators use the mailbox address (ECO.1.2.1, ECO.1.3.1): empty means Address.
	Login string
	// Tokens gives the PSC access token (AuthXOAUTH2).
	Tokens TokenSource
	// Certificate is the ORG AUTH_CLI certificate presented in the handshake (AuthCertPlain). When
	// nil, the certificate already set in Options.TLS is used.
	Certificate *tls.Certificate
	// Password is sent with PLAIN (AuthCertPlain). Operators authenticate applicative mailboxes by
	// the certificate: the default is empty.
	Password string
}

func (a Auth) validate() error {
	if a.Address == "" || strings.ContainsAny(a.Address, "\x00\x01\r\n") {
		return fmt.Errorf("auth: invalid mailbox address %q", a.Address)
	}
	if strings.ContainsAny(a.Login, "\x00\x01\r\n") {
		return fmt.Errorf("auth: invalid login %q", a.Login)
	}
	switch a.Method {
	case AuthXOAUTH2:
		if a.Tokens == nil {
			return errors.New("auth: XOAUTH2 needs a token source")
		}
	case AuthCertPlain:
	default:
		return fmt.Errorf("auth: unknown method %v", a.Method)
	}
	return nil
}

// login returns the SASL identity: Login, else Address.
func (a Auth) login() string {
	if a.Login != "" {
		return a.Login
	}
	return a.Address
}

// mechanism returns the SASL mechanism name.
func (a Auth) mechanism() string {
	if a.Method == AuthXOAUTH2 {
		return "XOAUTH2"
	}
	return "PLAIN"
}

// saslClient is the subset of go-sasl's Client interface, implemented here for XOAUTH2 (go-sasl
// refuses it) and PLAIN.
type saslClient interface {
	Start() (mech string, ir []byte, err error)
	Next(challenge []byte) (response []byte, err error)
}

// xoauth2Client implements SASL XOAUTH2 as the referential spells it (ECO.1.2.1):
// "user=" address ^A "auth=Bearer " token ^A ^A. On an error challenge (a JSON document) it answers
// with an empty response, as the protocol requires, and keeps the challenge's fields.
type xoauth2Client struct {
	user    string
	payload []byte // cleared after Start
	failure *AuthError
}

func newXOAUTH2(user, token string) *xoauth2Client {
	p := make([]byte, 0, len(user)+len(token)+24)
	p = append(p, "user="...)
	p = append(p, user...)
	p = append(p, "\x01auth=Bearer "...)
	p = append(p, token...)
	p = append(p, "\x01\x01"...)
	return &xoauth2Client{user: user, payload: p}
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	p := c.payload
	c.payload = nil
	return "XOAUTH2", p, nil
}

// Next answers the error challenge with an empty response (RFC 7628 §3.2.3).
// QUIRK(go-smtp v0.25.1): after the server's final 535, go-smtp's Auth also sends "*" (it treats
// every failure as an exchange to abort); the server answers it with a 5xx and the session stays
// in step, so this is harmless and visible in the trace.
func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	c.failure = parseXOAUTH2Challenge(challenge)
	return []byte{}, nil
}

// parseXOAUTH2Challenge reads the server's JSON error challenge. A challenge that is not JSON is
// kept as the status text.
func parseXOAUTH2Challenge(challenge []byte) *AuthError {
	var v struct {
		Status  string `json:"status"`
		Schemes string `json:"schemes"`
		Scope   string `json:"scope"`
	}
	e := &AuthError{Mechanism: "XOAUTH2"}
	if err := json.Unmarshal(challenge, &v); err != nil {
		e.Status = strings.ToValidUTF8(string(challenge), "?")
		if len(e.Status) > 200 {
			e.Status = e.Status[:200]
		}
		return e
	}
	e.Status, e.Schemes, e.Scope = v.Status, v.Schemes, v.Scope
	return e
}

// plainClient implements SASL PLAIN (RFC 4616) with an empty authorization identity.
type plainClient struct {
	user, password string
}

func (c *plainClient) Start() (string, []byte, error) {
	return "PLAIN", []byte("\x00" + c.user + "\x00" + c.password), nil
}

func (c *plainClient) Next([]byte) ([]byte, error) {
	return nil, errors.New("plain: unexpected server challenge")
}

// newSASL builds the SASL client for one authentication, taking a fresh token when needed. The
// returned secret is registered with the trace writer for the exchange and must not outlive it.
func (a Auth) newSASL(ctx context.Context) (saslClient, string, error) {
	switch a.Method {
	case AuthXOAUTH2:
		tok, err := a.Tokens.Token(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("%w: no access token: %w", ErrAuth, err)
		}
		if tok == "" || strings.ContainsAny(tok, "\x00\x01\r\n ") {
			return nil, "", fmt.Errorf("%w: malformed access token", ErrAuth)
		}
		return newXOAUTH2(a.login(), tok), tok, nil
	default:
		return &plainClient{user: a.login(), password: a.Password}, a.Password, nil
	}
}

// tlsConfig returns the TLS configuration for host: the caller's policy with the server name and,
// for AuthCertPlain, the client certificate.
func (a Auth) tlsConfig(base *tls.Config, host string) (*tls.Config, error) {
	if base == nil {
		return nil, errors.New("lps: Options.TLS is required (built by package trust)")
	}
	cfg := base.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if a.Method == AuthCertPlain && a.Certificate != nil {
		cfg.Certificates = []tls.Certificate{*a.Certificate}
		cfg.GetClientCertificate = nil
	}
	if a.Method == AuthCertPlain && len(cfg.Certificates) == 0 && cfg.GetClientCertificate == nil {
		return nil, errors.New("auth: PLAIN+cert needs a client certificate (ECO.1.3.1)")
	}
	return cfg, nil
}
