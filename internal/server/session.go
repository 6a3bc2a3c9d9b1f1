package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mssante/mssante/internal/psc"
)

// Session end reasons set by the server (the Holder's own reasons are psc.EndReason values).
const (
	reasonIdle    = "idle-timeout"  // no request for Options.IdleTimeout
	reasonMaxLife = "max-lifetime"  // Options.MaxLifetime reached
	reasonPending = "login-timeout" // a login left unfinished for Options.PendingTimeout
)

// sessionKind says how a client presents its session.
type sessionKind int

const (
	kindCookie sessionKind = iota + 1 // a browser: the session id is an HttpOnly cookie
	kindBearer                        // a thick client: the session id is a bearer handle
)

// pendingLogin is a login in progress in a session.
type pendingLogin struct {
	code     *psc.AuthRequest // authorization code flow (redirect)
	ciba     *psc.CIBAAuth    // CIBA in poll mode
	nextPoll time.Time        // CIBA: do not ask PSC before this time
	channel  psc.Channel
	failed   string   // CIBA: "denied" or "expired" once PSC answered so
	userCode string   // device login: the code the professional types in a browser
	device   *session // a browser's redirect login made for this thick client's session
}

// session is one client's server-side session. Tokens never leave the Holder; the session keeps
// only the professional's public identity.
type session struct {
	key      [32]byte // SHA-256 of the id: the id itself is not kept
	kind     sessionKind
	created  time.Time
	lastSeen time.Time

	// mu guards pending, pro and holder; it is held across a PSC call of a login in progress so
	// that two polls of one session do not race.
	mu        sync.Mutex
	pending   *pendingLogin // before login
	pro       *Professional // after login
	holder    Holder
	delivered bool // device login: the session handle was given to the client

	authed atomic.Bool   // a professional is logged in (readable under the store's lock)
	ended  chan struct{} // closed when the session ends
	reason string        // why it ended
}

// identity returns the professional and the holder of a logged-in session (nil, nil before).
func (s *session) identity() (*Professional, Holder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pro, s.holder
}

// sessionStore keeps the sessions in memory (never on disk: they lead to tokens). It is safe for
// concurrent use.
type sessionStore struct {
	now     func() time.Time
	idle    time.Duration
	maxLife time.Duration
	pending time.Duration
	onEnd   func(s *session, logout bool) // called outside the lock, once per session

	mu   sync.Mutex
	byID map[[32]byte]*session
}

func newSessionStore(now func() time.Time, idle, maxLife, pending time.Duration, onEnd func(*session, bool)) *sessionStore {
	return &sessionStore{now: now, idle: idle, maxLife: maxLife, pending: pending, onEnd: onEnd,
		byID: map[[32]byte]*session{}}
}

// newID returns a random 256-bit session id, base64url without padding (43 characters).
func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// logID is a short, non-reversible tag of a session for the logs.
func logID(s *session) string { return hex.EncodeToString(s.key[:4]) }

// create adds a session and returns its id.
func (st *sessionStore) create(kind sessionKind) (string, *session) {
	id := newID()
	now := st.now()
	s := &session{key: hashID(id), kind: kind, created: now, lastSeen: now, ended: make(chan struct{})}
	st.mu.Lock()
	st.byID[s.key] = s
	st.mu.Unlock()
	return id, s
}

// get finds a live session and marks it used; an expired one is ended and not returned.
func (st *sessionStore) get(id string) *session {
	if len(id) != 43 {
		return nil
	}
	st.mu.Lock()
	s := st.byID[hashID(id)]
	if s == nil {
		st.mu.Unlock()
		return nil
	}
	if reason := st.expiredLocked(s); reason != "" {
		st.mu.Unlock()
		st.end(s, reason, true)
		return nil
	}
	s.lastSeen = st.now()
	st.mu.Unlock()
	return s
}

// expiredLocked returns the reason s has expired, or "".
func (st *sessionStore) expiredLocked(s *session) string {
	now := st.now()
	switch {
	case now.Sub(s.created) >= st.maxLife:
		return reasonMaxLife
	case now.Sub(s.lastSeen) >= st.idle:
		return reasonIdle
	case !s.authed.Load() && now.Sub(s.created) >= st.pending:
		return reasonPending
	}
	return ""
}

// rotate gives s a new id (after login: no session fixation) and returns it.
func (st *sessionStore) rotate(s *session) string {
	id := newID()
	st.mu.Lock()
	delete(st.byID, s.key)
	s.key = hashID(id)
	st.byID[s.key] = s
	st.mu.Unlock()
	return id
}

// end removes s, records why and calls onEnd once. logout asks the callback to end the session at
// PSC too.
func (st *sessionStore) end(s *session, reason string, logout bool) {
	st.mu.Lock()
	select {
	case <-s.ended:
		st.mu.Unlock()
		return
	default:
	}
	delete(st.byID, s.key)
	s.reason = reason
	close(s.ended)
	st.mu.Unlock()
	if st.onEnd != nil {
		st.onEnd(s, logout)
	}
}

// endReason returns why s ended ("" while it lives).
func (st *sessionStore) endReason(s *session) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return s.reason
}

// sweep ends the expired sessions; it returns how many.
func (st *sessionStore) sweep() int {
	st.mu.Lock()
	type ended struct {
		s      *session
		reason string
	}
	var list []ended
	for _, s := range st.byID {
		if r := st.expiredLocked(s); r != "" {
			list = append(list, ended{s, r})
		}
	}
	st.mu.Unlock()
	for _, e := range list {
		st.end(e.s, e.reason, true)
	}
	return len(list)
}

// all returns the live sessions (shutdown).
func (st *sessionStore) all() []*session {
	st.mu.Lock()
	defer st.mu.Unlock()
	list := make([]*session, 0, len(st.byID))
	for _, s := range st.byID {
		list = append(list, s)
	}
	return list
}

// expiresAt returns when s ends if unused (idle) and at the latest (absolute).
func (st *sessionStore) expiresAt(s *session) (idle, absolute time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return s.lastSeen.Add(st.idle), s.created.Add(st.maxLife)
}

// cookieName is the session cookie's name: with the __Host- prefix under TLS (the browser then
// requires Secure, Path=/ and no Domain).
func (srv *Server) cookieName() string {
	if srv.secure {
		return "__Host-mssante_session"
	}
	return "mssante_session"
}

// setCookie sends the session cookie: HttpOnly, SameSite=Lax, Path=/, Secure under TLS. It is a
// session cookie (no Max-Age): the server enforces the idle and absolute expiry.
func (srv *Server) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: srv.cookieName(), Value: id, Path: "/", HttpOnly: true,
		Secure: srv.secure, SameSite: http.SameSiteLaxMode})
}

func (srv *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: srv.cookieName(), Value: "", Path: "/", HttpOnly: true,
		Secure: srv.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// session returns the request's session: a bearer handle ("Authorization: Bearer <handle>") or
// the session cookie. The bearer handle is the session id issued to a thick client, never a PSC
// token.
func (srv *Server) session(r *http.Request) *session {
	if h := r.Header.Get("Authorization"); h != "" {
		id, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil
		}
		if s := srv.sessions.get(strings.TrimSpace(id)); s != nil && s.kind == kindBearer {
			return s
		}
		return nil
	}
	c, err := r.Cookie(srv.cookieName())
	if err != nil {
		return nil
	}
	if s := srv.sessions.get(c.Value); s != nil && s.kind == kindCookie {
		return s
	}
	return nil
}
