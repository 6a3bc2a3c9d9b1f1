package psc

import (
	"errors"
	"fmt"
)

// Sentinels, matched with errors.Is against the errors of this package.
var (
	// ErrAuthorizationPending: the professional has not answered the CIBA request yet; poll again
	// after the interval.
	ErrAuthorizationPending = errors.New("psc: authorization pending")
	// ErrSlowDown: the client polled too fast; the interval grows by 5 s.
	ErrSlowDown = errors.New("psc: slow down")
	// ErrExpiredToken: the CIBA request expired before the professional answered; start again.
	ErrExpiredToken = errors.New("psc: authentication request expired")
	// ErrAccessDenied: the professional refused (CIBA) or PSC denied the login; do not retry.
	ErrAccessDenied = errors.New("psc: access denied")
	// ErrRefreshRefused: PSC refused the refresh token (expired, revoked, session ended); the
	// professional must log in again.
	ErrRefreshRefused = errors.New("psc: refresh refused")
	// ErrSessionEnded: the Holder's session is over; no token will be given any more.
	ErrSessionEnded = errors.New("psc: session ended")
	// ErrInvalidIDToken: the ID token failed verification (signature, issuer, audience, expiry,
	// nonce or acr); the login is refused.
	ErrInvalidIDToken = errors.New("psc: invalid ID token")
	// ErrState: the state of an authorization callback does not match the request (CSRF or a
	// replayed callback); the login is refused.
	ErrState = errors.New("psc: state mismatch")
	// ErrCIBAUnsupported: the provider's discovery document has no backchannel authentication
	// endpoint; log in by redirect.
	ErrCIBAUnsupported = errors.New("psc: ciba: no backchannel_authentication_endpoint in the discovery document")
)

// OAuthError is an error answer of a PSC endpoint (RFC 6749 section 5.2). It never holds a token:
// only the code, the description and the HTTP status.
type OAuthError struct {
	Endpoint    string // "token", "ciba", "userinfo", "logout", "revoke", "discovery"
	Status      int    // HTTP status
	Code        string // "invalid_grant", "authorization_pending", …
	Description string // error_description, cut to 200 bytes
	Err         error  // the matching sentinel, or nil
}

func (e *OAuthError) Error() string {
	s := fmt.Sprintf("psc: %s: HTTP %d", e.Endpoint, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Unwrap returns the sentinel matching Code.
func (e *OAuthError) Unwrap() error { return e.Err }

// sentinelFor maps an OAuth error code of the given endpoint to a sentinel.
func sentinelFor(grant, code string) error {
	switch code {
	case "authorization_pending":
		return ErrAuthorizationPending
	case "slow_down":
		return ErrSlowDown
	case "expired_token":
		return ErrExpiredToken
	case "access_denied":
		return ErrAccessDenied
	case "invalid_grant":
		if grant == "refresh_token" {
			return ErrRefreshRefused
		}
	}
	return nil
}
