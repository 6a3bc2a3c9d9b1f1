package psc

import (
	"fmt"
	"log/slog"
	"time"
)

// Tokens are the tokens of one PSC login. The byte slices are owned by Tokens: Zero overwrites
// them. Printing Tokens with fmt or slog shows expiries only.
type Tokens struct {
	Access  []byte // the access token (a JWT at PSC), sent to the operators over XOAUTH2
	Refresh []byte // the refresh token; empty when PSC gave none
	IDToken []byte // the ID token, kept for logout (id_token_hint)
	// Expiry is when the access token expires; RefreshExpiry when the refresh token does (zero:
	// unknown). IssuedAt is when they were received.
	Expiry, RefreshExpiry, IssuedAt time.Time
	// Claims are the verified claims of the ID token (nil after a refresh that gave no ID token).
	Claims *IDClaims
}

// Zero overwrites the token bytes and forgets them.
func (t *Tokens) Zero() {
	if t == nil {
		return
	}
	zero(t.Access)
	zero(t.Refresh)
	zero(t.IDToken)
	t.Access, t.Refresh, t.IDToken = nil, nil, nil
}

func zero(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// String shows the expiries, never the tokens. Value receivers: a Tokens value prints the same.
func (t Tokens) String() string {
	return fmt.Sprintf("psc.Tokens{access: %d bytes, expiry: %s, refresh: %t, refresh_expiry: %s}",
		len(t.Access), t.Expiry.Format(time.RFC3339), len(t.Refresh) > 0, t.RefreshExpiry.Format(time.RFC3339))
}

// Format prints String for every verb (%v, %+v, %#v, %s, %x, %q…), so no verb reveals a token.
func (t Tokens) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, t.String()) }

// LogValue shows the expiries, never the tokens.
func (t Tokens) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("expiry", t.Expiry), slog.Time("refresh_expiry", t.RefreshExpiry))
}

// IDClaims are the claims of a verified ID token that mssante uses.
type IDClaims struct {
	Subject       string    `json:"sub"`
	SubjectNameID string    `json:"SubjectNameID"` // the national id (IDNPS, "8"+RPPS for RPPS holders)
	GivenName     string    `json:"given_name"`
	FamilyName    string    `json:"family_name"`
	ACR           string    `json:"acr"`
	SessionID     string    `json:"sid"`
	AuthTime      time.Time `json:"-"`
}
