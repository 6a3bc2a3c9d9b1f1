// Package serverapi is the HTTP API of the intermediate LPS server (internal/server) as both sides
// see it: the JSON types, declared once, which the server writes and its clients read, and
// Client, the thick client's side (`mssante login`, `mssante watch --server`): login by CIBA or
// by a browser user code, the professional, the current PSC access token of a mailbox (Figure 2
// of the referential), the event stream (token-renewed, session-ended) and logout.
//
// The session handle and the tokens stay in memory: Client never writes them, logs them or puts
// them in an error.
package serverapi

import (
	"slices"
	"strings"
	"time"
)

// Professional is the logged-in professional (GET /api/v1/me, poll answers).
type Professional struct {
	NationalID string    `json:"national_id"` // SubjectNameID: IDNPS ("8" + RPPS)
	GivenName  string    `json:"given_name"`
	FamilyName string    `json:"family_name"`
	Mailboxes  []string  `json:"mailboxes"`   // the MSSanté addresses the session may use
	AuthMethod string    `json:"auth_method"` // "code" (redirect) or "ciba"
	LoginTime  time.Time `json:"login_time"`
}

// HasMailbox reports whether addr is one of the professional's mailboxes (case-insensitive).
func (p *Professional) HasMailbox(addr string) bool {
	return slices.ContainsFunc(p.Mailboxes, func(m string) bool { return strings.EqualFold(m, addr) })
}

// Me is the answer of GET /api/v1/me.
type Me struct {
	Professional
	Session        SessionInfo `json:"session"`
	TokenExpiresAt time.Time   `json:"token_expires_at,omitzero"`
}

// SessionInfo describes the session of a Me answer.
type SessionInfo struct {
	Kind          string    `json:"kind"` // "cookie" or "bearer"
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// Token is the answer of GET /api/v1/mailboxes/{address}/token.
type Token struct {
	Mailbox     string    `json:"mailbox"`
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"` // "Bearer"
	ExpiresAt   time.Time `json:"expires_at"`
}

// Event is the data of one server-sent event of GET /api/v1/events.
type Event struct {
	Kind      string    `json:"kind"` // "ready", "token-renewed", "session-ended"
	Time      time.Time `json:"time"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // ready, token-renewed: access token expiry
	Reason    string    `json:"reason,omitempty"`    // session-ended
}

// CIBAStartRequest is the body of POST /auth/ciba/start (JSON, or a form from the login page).
type CIBAStartRequest struct {
	NationalID string `json:"national_id"`
	Channel    string `json:"channel"` // MOBILE (default) or CARD
	// Client is "agent" for a thick client (the session is a bearer handle returned in the
	// answer), anything else for a browser (the session is a cookie).
	Client string `json:"client"`
}

// CIBAStartAnswer is the answer of POST /auth/ciba/start.
type CIBAStartAnswer struct {
	// Handle is the bearer handle of the pre-login session (thick clients only): poll with
	// "Authorization: Bearer <handle>". Browsers are identified by the cookie instead.
	Handle         string `json:"handle,omitempty"`
	BindingMessage string `json:"binding_message"` // show it: the professional checks it on the device
	Interval       int    `json:"interval"`        // seconds between two polls
	ExpiresIn      int    `json:"expires_in"`      // seconds
}

// DeviceStartAnswer is the answer of POST /auth/device/start.
type DeviceStartAnswer struct {
	Handle          string `json:"handle"`           // bearer handle to poll with
	UserCode        string `json:"user_code"`        // to type on VerificationURL
	VerificationURL string `json:"verification_url"` // open it in a browser
	Interval        int    `json:"interval"`
	ExpiresIn       int    `json:"expires_in"`
}

// PollAnswer is the answer of /auth/ciba/poll and /auth/device/poll.
type PollAnswer struct {
	Status string `json:"status"` // "pending", "ok", "denied", "expired"
	// Session is the bearer handle of the professional session (thick clients, status ok). It
	// replaces the start handle, which stops working.
	Session  string        `json:"session,omitempty"`
	Interval int           `json:"interval,omitempty"` // pending: seconds before the next poll
	Me       *Professional `json:"me,omitempty"`       // ok
}

// Error is the JSON body of an error answer; Message is French, for the professional.
type Error struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}
