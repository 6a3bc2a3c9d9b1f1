package trust

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Rules named by a RefusalError. Each starts with the requirement of the ANS referential (ECO id)
// that refused the server, so that the reason shown to the user says which rule applied.
const (
	RuleTLSVersion        = "ECO.1.1.1 TLS 1.2 minimum"
	RuleCipherSuite       = "ECO.1.1.3 cipher suite"
	RuleKeyExchange       = "ECO.1.1.3 key exchange"
	RuleExpired           = "ECO.1.1.5 certificate expired or not yet valid"
	RuleRevokedCRL        = "ECO.1.1.6 revoked (CRL)"
	RuleRevokedOCSP       = "ECO.1.1.6 revoked (OCSP)"
	RuleRevocationUnknown = "ECO.1.1.6 revocation status unknown"
	RuleUntrusted         = "ECO.1.1.10 not issued by a trusted IGC Santé authority"
	RuleNotOrganisation   = "ECO.1.1.10 not issued by the ELEMENTAIRE ORGANISATIONS authority"
	RuleChain             = "ECO.1.1.10 invalid certificate chain"
	RuleHostname          = "RFC 6125 server name mismatch"
	RuleHandshake         = "TLS handshake"
)

// Sentinels wrapped by a RefusalError, for errors.Is.
var (
	// ErrNoCommonSuite means the server offers none of the TLS 1.2 suites the client implements
	// (C030, C02F, C027). A server offering only the DHE suites (009E, 009F) or C028 ends here: Go's
	// crypto/tls implements neither. The operator must enable an ECDHE-RSA-AES-GCM suite or TLS 1.3.
	// The same handshake_failure alert comes from a server whose only ECDHE groups are outside
	// X25519, P-256 and P-384 (P-521, finite-field groups): the text names the groups too.
	ErrNoCommonSuite = errors.New("no common cipher suite: the client offers only TLS 1.2 suites " +
		"C030 ECDHE-RSA-AES256-GCM-SHA384, C02F ECDHE-RSA-AES128-GCM-SHA256, C027 ECDHE-RSA-AES128-SHA256 " +
		"(and TLS 1.3), with the ECDHE groups X25519, P-256, P-384; the referential's DHE suites 009E/009F " +
		"and C028 are not implemented by Go crypto/tls (ECO.1.1.3)")
	// ErrProtocolVersion means the server does not speak TLS 1.2 or later (ECO.1.1.1).
	ErrProtocolVersion = errors.New("the server does not offer TLS 1.2 or later (ECO.1.1.1)")
	// ErrRevoked means a certificate of the server's chain is revoked (ECO.1.1.6).
	ErrRevoked = errors.New("certificate revoked")
	// ErrRevocationUnknown means no fresh, correctly signed OCSP answer nor CRL could be had for a
	// certificate of the chain: the connection is refused (fail closed, ECO.1.1.6).
	ErrRevocationUnknown = errors.New("revocation status cannot be established")
)

// RefusalError reports a server refused by the TLS policy. Retrying does not help unless the
// server (or, for RuleRevocationUnknown, the revocation endpoints) changes.
type RefusalError struct {
	// Rule is one of the Rule… constants: "ECO.1.1.6 revoked (CRL)".
	Rule string
	// Server is the server name the client asked for.
	Server string
	// Subject is the subject of the certificate at fault, when one is.
	Subject string
	// Err is the underlying cause: ErrNoCommonSuite, ErrRevoked, an x509 error, …
	Err error
}

func (e *RefusalError) Error() string {
	var b strings.Builder
	b.WriteString("server ")
	if e.Server != "" {
		b.WriteString(e.Server + " ")
	}
	b.WriteString("refused by rule " + e.Rule)
	if e.Subject != "" {
		b.WriteString(" (certificate " + e.Subject + ")")
	}
	if e.Err != nil {
		// errors.Join separates with newlines: keep the message on one line.
		b.WriteString(": " + strings.ReplaceAll(e.Err.Error(), "\n", "; "))
	}
	return b.String()
}

func (e *RefusalError) Unwrap() error { return e.Err }

func refuse(rule string, cert *x509.Certificate, err error) *RefusalError {
	r := &RefusalError{Rule: rule, Err: err}
	if cert != nil {
		r.Subject = cert.Subject.String()
	}
	return r
}

// ClassifyHandshakeError turns the error of a TLS handshake made with a config of this package into
// a *RefusalError naming the rule, when it can tell: a protocol version alert (ECO.1.1.1), a
// handshake failure alert, which with this client's narrow offer means no common suite
// (ErrNoCommonSuite, ECO.1.1.3), or a refusal by the certificate checks (returned as is). Other
// errors (I/O, timeouts) are returned unchanged. serverName fills RefusalError.Server.
func ClassifyHandshakeError(err error, serverName string) error {
	if err == nil {
		return nil
	}
	var re *RefusalError
	if errors.As(err, &re) {
		if re.Server == "" {
			re.Server = serverName
		}
		return err
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) && len(cve.UnverifiedCertificates) > 0 {
		re := classifyX509(cve.UnverifiedCertificates[0], cve.Err)
		re.Server = serverName
		if re.Rule == RuleUntrusted && len(cve.UnverifiedCertificates) == 1 {
			// A server that omits its intermediate chains only when the intermediate is an
			// anchor: the IGC Santé ORGANISATIONS ones are; with --trust-root it must be given.
			re.Err = fmt.Errorf("%w; the server sent no intermediate certificate (issuer %q)", re.Err,
				cve.UnverifiedCertificates[0].Issuer.CommonName)
		}
		return re
	}
	msg := err.Error()
	var op *net.OpError
	remote := errors.As(err, &op) && op.Op == "remote error"
	switch {
	case remote && strings.Contains(msg, "protocol version"),
		strings.Contains(msg, "unsupported protocol version"),
		strings.Contains(msg, "server selected unsupported protocol"):
		return &RefusalError{Rule: RuleTLSVersion, Server: serverName, Err: errors.Join(ErrProtocolVersion, err)}
	case remote && (strings.Contains(msg, "handshake failure") || strings.Contains(msg, "insufficient security")),
		strings.Contains(msg, "unconfigured cipher suite"),
		strings.Contains(msg, "no cipher suite supported"):
		return &RefusalError{Rule: RuleCipherSuite, Server: serverName, Err: errors.Join(ErrNoCommonSuite, err)}
	case strings.Contains(msg, "unsupported curve"), strings.Contains(msg, "CurvePreferences"):
		return &RefusalError{Rule: RuleKeyExchange, Server: serverName, Err: err}
	}
	return fmt.Errorf("tls handshake with %s: %w", serverName, err)
}
