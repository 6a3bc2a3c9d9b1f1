package trust

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
)

// verifyConnection applies the rules Go's verification does not: negotiated version and suite
// (ECO.1.1.1, 1.1.3), issuing intermediate is an ORGANISATIONS one (ECO.1.1.10), then revocation
// of every certificate of the chain below the anchor (ECO.1.1.6, 1.1.7). Go has already checked
// the chain to the anchors, the validity at Now (ECO.1.1.5) and the server name.
func (p *Policy) verifyConnection(ctx context.Context, cs tls.ConnectionState, serverName string) error {
	err := p.verifyState(ctx, cs)
	var re *RefusalError
	if errors.As(err, &re) && re.Server == "" {
		re.Server = firstNonEmpty(serverName, cs.ServerName)
	}
	return err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (p *Policy) verifyState(ctx context.Context, cs tls.ConnectionState) error {
	if cs.Version < tls.VersionTLS12 {
		return refuse(RuleTLSVersion, nil, ErrProtocolVersion)
	}
	if cs.Version == tls.VersionTLS12 && !slices.Contains(Suites, cs.CipherSuite) {
		return refuse(RuleCipherSuite, nil, fmt.Errorf("negotiated %s: %w", tls.CipherSuiteName(cs.CipherSuite), ErrNoCommonSuite))
	}
	if len(cs.PeerCertificates) == 0 || len(cs.VerifiedChains) == 0 {
		return refuse(RuleChain, nil, errors.New("no verified certificate chain"))
	}
	chain, err := p.pickChain(cs.VerifiedChains)
	if err != nil {
		return err
	}
	if p.rev == nil {
		return nil
	}
	return p.rev.checkChain(ctx, chain)
}

// pickChain returns the longest verified chain whose issuing intermediate is an allowed
// ORGANISATIONS one (any issuer when the policy has none: ExtraRoots without OrgIntermediates).
func (p *Policy) pickChain(chains [][]*x509.Certificate) ([]*x509.Certificate, error) {
	var best []*x509.Certificate
	for _, ch := range chains {
		if p.orgFP != nil && (len(ch) < 2 || !p.orgFP[Fingerprint(ch[1])]) {
			continue
		}
		if len(ch) > len(best) {
			best = ch
		}
	}
	if best != nil {
		return best, nil
	}
	ch := chains[0]
	issuer := ch[min(1, len(ch)-1)]
	return nil, refuse(RuleNotOrganisation, ch[0], fmt.Errorf("issued by %q, not an ELEMENTAIRE ORGANISATIONS authority",
		issuer.Subject.CommonName))
}

// VerifyServerChain checks a server certificate chain as sent (leaf first) the way a handshake
// does, without revocation: path to the anchors, validity at Now (ECO.1.1.5), server name (when
// not empty), server authentication usage, issuing intermediate (ECO.1.1.10). It returns the
// chosen chain, leaf first and anchor last, or a *RefusalError.
func (p *Policy) VerifyServerChain(certs []*x509.Certificate, serverName string) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{
		DNSName:       serverName,
		Roots:         p.roots,
		Intermediates: inter,
		CurrentTime:   p.opts.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, classifyX509(certs[0], err)
	}
	return p.pickChain(chains)
}

// classifyX509 maps an x509 verification error to the rule it breaks.
func classifyX509(leaf *x509.Certificate, err error) *RefusalError {
	var inv x509.CertificateInvalidError
	var host x509.HostnameError
	var unknown x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return refuse(RuleExpired, inv.Cert, fmt.Errorf("%w (valid %s to %s)", err,
			inv.Cert.NotBefore.UTC().Format("2006-01-02T15:04Z"), inv.Cert.NotAfter.UTC().Format("2006-01-02T15:04Z")))
	case errors.As(err, &host):
		return refuse(RuleHostname, leaf, err)
	case errors.As(err, &unknown):
		return refuse(RuleUntrusted, leaf, fmt.Errorf("%w (trusted: the IGC Santé anchors of the profile, or the --trust-root certificates)", err))
	}
	return refuse(RuleChain, leaf, err)
}
