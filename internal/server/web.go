package server

import (
	"context"
	"encoding/hex"
	"net/http"
	"slices"
)

// BrowserSession is what the web application (internal/web) sees of a logged-in browser session:
// the professional and a way to get the current access token inside this process. The token
// never reaches the browser (ECO.1.2.5): the web app hands Token to the mailbox layer, which uses
// it for XOAUTH2.
type BrowserSession struct {
	// Key is a stable, non-secret tag of the session (hex of the SHA-256 of its id, which does
	// not change after login): the web app keys its per-session state and CSRF tokens on it.
	Key string
	Pro Professional
	// Token returns the current access token (renewed by the session's holder).
	Token func(ctx context.Context) (string, error)
	// Done is closed when the session ends (logout, expiry, PSC session end).
	Done <-chan struct{}
}

// BrowserSession returns the logged-in browser session of r (cookie), or false. A request with
// a bearer handle (a thick client) or without a login gets false. It counts as activity.
func (srv *Server) BrowserSession(r *http.Request) (*BrowserSession, bool) {
	if r.Header.Get("Authorization") != "" {
		return nil, false
	}
	s := srv.session(r)
	if s == nil {
		return nil, false
	}
	pro, holder := s.identity()
	if pro == nil || holder == nil {
		return nil, false
	}
	p := *pro
	p.Mailboxes = slices.Clone(pro.Mailboxes)
	srv.sessions.mu.Lock()
	key := hex.EncodeToString(s.key[:])
	srv.sessions.mu.Unlock()
	return &BrowserSession{Key: key, Pro: p, Token: holder.Token, Done: s.ended}, true
}
