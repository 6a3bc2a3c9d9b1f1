package mailbox

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mssante/mssante/lps"
)

// AuthCause is what a refused authentication is known or thought to be due to.
type AuthCause int

const (
	// CauseUnknown: the operator's answer does not say why (it usually does not: every refusal
	// gives the same AUTHENTICATIONFAILED / 535); AuthFailure.Likely lists the usual causes.
	CauseUnknown AuthCause = iota
	// CauseTokenExpired: the access token's exp claim is past.
	CauseTokenExpired
	// CauseCertificateExpired: the client certificate's validity is over.
	CauseCertificateExpired
	// CauseCertificateRevoked: the server said the client certificate is revoked.
	CauseCertificateRevoked
	// CauseTokenRevoked: the server said the token is revoked or invalid (invalid_token).
	CauseTokenRevoked
)

// String returns the French label shown to the professional.
func (c AuthCause) String() string {
	switch c {
	case CauseTokenExpired:
		return "jeton expiré"
	case CauseCertificateExpired:
		return "certificat expiré"
	case CauseCertificateRevoked:
		return "certificat révoqué"
	case CauseTokenRevoked:
		return "jeton révoqué ou invalide"
	}
	return "cause non précisée par le serveur"
}

// AuthFailure is a refused authentication with what is known of its cause. It wraps the lps
// error (lps.ErrAuth, *lps.AuthError): errors.Is(err, lps.ErrAuth) holds.
type AuthFailure struct {
	Account string
	Server  string
	Method  lps.AuthMethod
	Cause   AuthCause
	// Likely are the usual causes (French) when Cause is CauseUnknown.
	Likely []string
	Err    error
}

func (e *AuthFailure) Error() string {
	why := e.Cause.String()
	if e.Cause == CauseUnknown && len(e.Likely) > 0 {
		why = "causes possibles : " + strings.Join(e.Likely, " ; ")
	}
	return fmt.Sprintf("authentification refusée pour %s sur %s : %s (réponse : %v)", e.Account, e.Server, why, e.Err)
}

func (e *AuthFailure) Unwrap() error { return e.Err }

var (
	likelyToken = []string{"jeton expiré ou révoqué (session Pro Santé Connect terminée)",
		"jeton d'un professionnel non rattaché à cette BAL", "jeton non reconnu par l'opérateur (autre environnement)"}
	likelyCert = []string{"certificat révoqué", "certificat non émis par l'autorité ORGANISATIONS de l'IGC Santé",
		"BAL non rattachée à l'organisation du certificat"}
)

// authFailure tells the causes apart where the answer or the credentials allow: the server's
// JSON challenge or reply, the token's exp claim, the certificate's validity.
func (a *Account) authFailure(ep lps.Endpoint, err error) error {
	f := &AuthFailure{Account: a.o.Address, Server: ep.String(), Method: a.auth.Method, Err: err}
	now := a.o.Now()
	var ae *lps.AuthError
	answer := ""
	if errors.As(err, &ae) {
		answer = strings.ToLower(ae.Status + " " + ae.Response)
	}
	switch a.auth.Method {
	case lps.AuthXOAUTH2:
		switch {
		case strings.Contains(answer, "expired"):
			f.Cause = CauseTokenExpired
		case a.tokenExpired(now):
			f.Cause = CauseTokenExpired
		case strings.Contains(answer, "revoked") || strings.Contains(answer, "invalid_token"):
			f.Cause = CauseTokenRevoked
		default:
			f.Likely = likelyToken
		}
	case lps.AuthCertPlain:
		switch {
		case strings.Contains(answer, "revoked"):
			f.Cause = CauseCertificateRevoked
		case a.certificateExpired(now):
			f.Cause = CauseCertificateExpired
		default:
			f.Likely = likelyCert
		}
	}
	return f
}

// tokenExpired reads the current token's exp claim (the token is not kept).
func (a *Account) tokenExpired(now time.Time) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := a.auth.Tokens.Token(ctx)
	if err != nil {
		return false
	}
	exp, ok := TokenExpiry(tok)
	return ok && !now.Before(exp)
}

func (a *Account) certificateExpired(now time.Time) bool {
	c := a.auth.Certificate
	if c == nil || len(c.Certificate) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	return err == nil && (now.After(leaf.NotAfter) || now.Before(leaf.NotBefore))
}
