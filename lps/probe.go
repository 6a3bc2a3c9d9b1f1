package lps

import (
	"context"
	"errors"
	"fmt"
)

// Step is one step of a connection test.
type Step struct {
	Protocol string `json:"protocol"` // "smtp" or "imap"
	Name     string `json:"step"`     // "connect", "starttls", "auth", "noop", "logout" / "quit"
	OK       bool   `json:"ok"`
	Detail   string `json:"detail,omitempty"` // TLS version and suite, server answer
	Error    string `json:"error,omitempty"`
	// Err is the error of a failed step, for errors.Is and errors.As (a *trust.RefusalError names
	// the policy rule the server broke); Error is its text.
	Err error `json:"-"`
}

// Probe runs a connection test against a server (protocol "smtp" or "imap"): TCP connection,
// STARTTLS, authentication, NOOP, then QUIT or LOGOUT (ECO.1.1.9). It stops at the first failed
// step and returns the steps run; it never returns an error of its own.
func Probe(ctx context.Context, protocol string, ep Endpoint, auth Auth, opts *Options) []Step {
	var steps []Step
	add := func(name, detail string, err error) bool {
		st := Step{Protocol: protocol, Name: name, OK: err == nil, Detail: detail}
		if err != nil {
			st.Error, st.Err = err.Error(), err
		}
		steps = append(steps, st)
		return err == nil
	}
	s, p, err := dialPlain(ctx, ep, auth, opts, protocol)
	if !add("connect", ep.String(), err) {
		return steps
	}
	release := s.raw.bind(ctx)
	defer release()
	defer s.raw.Close()
	switch protocol {
	case "smtp":
		cl := &SMTPClient{ep: ep, auth: auth, opts: opts}
		c, err := cl.starttls(ctx, s, p)
		if !add("starttls", tlsSummary(s), err) {
			return steps
		}
		defer c.Close()
		if !add("auth", auth.Method.String(), cl.authenticate(ctx, s, c)) {
			return steps
		}
		if !add("noop", "", wrapSMTP("NOOP", c.Noop())) {
			return steps
		}
		add("quit", "", wrapSMTP("QUIT", c.Quit()))
	case "imap":
		cl := &IMAPClient{ep: ep, auth: auth, opts: opts}
		conn, err := cl.starttls(ctx, s, p)
		if !add("starttls", tlsSummary(s), err) {
			return steps
		}
		c, err := cl.authenticate(ctx, s, conn)
		if !add("auth", auth.Method.String(), err) {
			return steps
		}
		defer c.Close()
		if !add("noop", "", c.Noop().Wait()) {
			return steps
		}
		add("logout", "", c.Logout().Wait())
	default:
		add("starttls", "", errors.New("unknown protocol "+protocol))
	}
	return steps
}

func wrapSMTP(cmd string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", cmd, err)
}
