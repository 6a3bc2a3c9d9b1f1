package operator

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Authentication as an MSSanté operator does it (ECO.1.2.1, ECO.1.3.1):
//   - personal and organisational mailboxes: SASL XOAUTH2 with a Pro Santé Connect access token;
//     the token's SubjectNameID must be one of the account's NationalIDs;
//   - applicative mailboxes: a client certificate of the ORG CA shown in the TLS handshake, whose
//     OU is the account's OrgID, then SASL PLAIN (or LOGIN) with the mailbox address; the password
//     is not checked, like the passwd-file "nopassword" entries of a Dovecot operator;
//   - patient mailboxes never log in here.
//
// Every refusal gives the same protocol error (IMAP NO [AUTHENTICATIONFAILED], SMTP 535 5.7.8);
// the reason goes to the log only.

// errRefused is the internal reason of a refused login; it never reaches the client.
var errRefused = errors.New("login refused")

// xoauth2Challenge is the error challenge of RFC 7628 §3.2.2, as Google and Dovecot send it.
var xoauth2Challenge = []byte(`{"status":"401","schemes":"bearer","scope":"mail"}`)

// authXOAUTH2 checks a bearer token for the mailbox user.
func (op *Operator) authXOAUTH2(ctx context.Context, user, token string) (Account, error) {
	a, ok := op.account(user)
	if !ok {
		return Account{}, fmt.Errorf("%w: no mailbox %q", errRefused, user)
	}
	if a.Kind != KindPersonal && a.Kind != KindOrganisational {
		return Account{}, fmt.Errorf("%w: %s mailbox %s does not use XOAUTH2", errRefused, a.Kind, a.Address)
	}
	claims, err := op.opts.ValidateToken(ctx, token)
	if err != nil {
		return Account{}, fmt.Errorf("%w: token: %w", errRefused, err)
	}
	if !claims.Expiry.IsZero() && !op.opts.Now().Before(claims.Expiry) {
		return Account{}, fmt.Errorf("%w: token expired at %s", errRefused, claims.Expiry.Format("15:04:05"))
	}
	if claims.SubjectNameID == "" || !slices.Contains(a.NationalIDs, claims.SubjectNameID) {
		return Account{}, fmt.Errorf("%w: %s may not open %s", errRefused, claims.SubjectNameID, a.Address)
	}
	return a, nil
}

// authCertPlain checks an applicative login: the client certificate shown in the handshake.
func (op *Operator) authCertPlain(ctx context.Context, cs *tls.ConnectionState, user string) (Account, error) {
	a, ok := op.account(user)
	if !ok {
		return Account{}, fmt.Errorf("%w: no mailbox %q", errRefused, user)
	}
	if a.Kind != KindApplicative {
		return Account{}, fmt.Errorf("%w: %s mailbox %s does not use PLAIN", errRefused, a.Kind, a.Address)
	}
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return Account{}, fmt.Errorf("%w: no client certificate for applicative mailbox %s", errRefused, a.Address)
	}
	chain, err := op.verifyClientCert(cs.PeerCertificates)
	if err != nil {
		return Account{}, fmt.Errorf("%w: client certificate: %w", errRefused, err)
	}
	if !slices.Contains(chain[0].Subject.OrganizationalUnit, a.OrgID) {
		return Account{}, fmt.Errorf("%w: certificate OU %v is not organisation %s", errRefused,
			chain[0].Subject.OrganizationalUnit, a.OrgID)
	}
	if op.opts.CheckClientCert != nil {
		if err := op.opts.CheckClientCert(ctx, chain); err != nil {
			return Account{}, fmt.Errorf("%w: client certificate: %w", errRefused, err)
		}
	}
	return a, nil
}

// verifyClientCert verifies the chain the client sent against ClientCAs, for client
// authentication, and returns the verified chain.
func (op *Operator) verifyClientCert(certs []*x509.Certificate) ([]*x509.Certificate, error) {
	if op.opts.ClientCAs == nil {
		return nil, errors.New("no client CA configured")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	for _, c := range op.opts.ClientIntermediates {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: op.opts.ClientCAs, Intermediates: inter,
		CurrentTime: op.opts.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return nil, err
	}
	return chains[0], nil
}

// parseXOAUTH2 reads "user=" address ^A "auth=Bearer " token ^A ^A.
func parseXOAUTH2(resp []byte) (user, token string, err error) {
	if !bytes.HasSuffix(resp, []byte("\x01\x01")) {
		return "", "", errors.New("xoauth2: missing terminator")
	}
	for _, kv := range strings.Split(string(resp[:len(resp)-2]), "\x01") {
		k, v, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "user":
			user = v
		case "auth":
			scheme, t, ok := strings.Cut(v, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				return "", "", errors.New("xoauth2: auth is not a bearer token")
			}
			token = strings.TrimSpace(t)
		}
	}
	if user == "" || token == "" {
		return "", "", errors.New("xoauth2: user or token missing")
	}
	return user, token, nil
}

// xoauth2Server is the server side of SASL XOAUTH2, and of OAUTHBEARER (RFC 7628) with parse set
// to parseOAuthBearer (go-sasl has neither). A refused token gets the JSON error challenge of
// RFC 7628 §3.2.2; the client's answer to it ends the exchange with fail, the protocol's own
// authentication failure.
type xoauth2Server struct {
	parse  func(resp []byte) (user, token string, err error) // nil: parseXOAUTH2
	check  func(user, token string) error
	fail   error
	failed bool
}

func (s *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if s.failed {
		return nil, true, s.fail
	}
	if resp == nil {
		return []byte{}, false, nil // no initial response: ask for it
	}
	parse := s.parse
	if parse == nil {
		parse = parseXOAUTH2
	}
	user, token, err := parse(resp)
	if err == nil {
		err = s.check(user, token)
	}
	if err != nil {
		s.failed = true
		return xoauth2Challenge, false, nil
	}
	return nil, true, nil
}

// plainServer is SASL PLAIN (RFC 4616) with an empty or equal authorization identity.
type plainServer struct {
	check func(user string) error
	fail  error
}

func (s *plainServer) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil {
		return []byte{}, false, nil
	}
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return nil, true, s.fail
	}
	authz, user := string(parts[0]), string(parts[1])
	if authz != "" && !strings.EqualFold(authz, user) {
		return nil, true, s.fail
	}
	if err := s.check(user); err != nil {
		return nil, true, s.fail
	}
	return nil, true, nil
}
