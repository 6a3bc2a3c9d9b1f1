package trust

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
)

// verifyConnection applies the certificate rules to a completed handshake: chain to the anchors
// with the server name and the current time (ECO.1.1.5, 1.1.10), issuing intermediate is an
// ORGANISATIONS one (ECO.1.1.10), negotiated suite allowed (ECO.1.1.3), then revocation of every
// certificate of the chain below the anchor (ECO.1.1.6, 1.1.7).
func (p *Policy) verifyConnection(ctx context.Context, cs tls.ConnectionState, serverName string) error {
	err := p.verifyState(ctx, cs, serverName)
	var re *RefusalError
	if errors.As(err, &re) && re.Server == "" {
		re.Server = serverName
	}
	return err
}

func (p *Policy) verifyState(ctx context.Context, cs tls.ConnectionState, serverName string) error {
	if cs.Version < tls.VersionTLS12 {
		return refuse(RuleTLSVersion, nil, ErrProtocolVersion)
	}
	if cs.Version == tls.VersionTLS12 && !slices.Contains(Suites, cs.CipherSuite) {
		return refuse(RuleCipherSuite, nil, fmt.Errorf("negotiated %s: %w", tls.CipherSuiteName(cs.CipherSuite), ErrNoCommonSuite))
	}
	if len(cs.PeerCertificates) == 0 {
		return refuse(RuleChain, nil, errors.New("the server sent no certificate"))
	}
	chain, err := p.VerifyServerChain(cs.PeerCertificates, serverName)
	if err != nil {
		return err
	}
	if p.rev == nil {
		return nil
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := p.rev.check(ctx, chain[i], chain[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// VerifyServerChain checks a server certificate chain as sent (leaf first) without revocation:
// path to the trusted roots, validity at Now (ECO.1.1.5), server name (when not empty), server
// authentication usage, and issuing intermediate (ECO.1.1.10). It returns the verified chain,
// leaf first and anchor last, or a *RefusalError.
func (p *Policy) VerifyServerChain(certs []*x509.Certificate, serverName string) ([]*x509.Certificate, error) {
	leaf := certs[0]
	inter := p.inter.Clone()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		DNSName:       serverName,
		Roots:         p.roots,
		Intermediates: inter,
		CurrentTime:   p.opts.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, p.classifyVerify(leaf, err)
	}
	if p.orgFP == nil {
		return chains[0], nil
	}
	for _, ch := range chains {
		if len(ch) >= 2 && p.orgFP[Fingerprint(ch[1])] {
			return ch, nil
		}
	}
	issuer := chains[0][min(1, len(chains[0])-1)]
	return nil, refuse(RuleNotOrganisation, leaf, fmt.Errorf("issued by %q, not an ELEMENTAIRE ORGANISATIONS authority",
		issuer.Subject.CommonName))
}

func (p *Policy) classifyVerify(leaf *x509.Certificate, err error) error {
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
		if p.extra {
			return refuse(RuleUntrusted, leaf, fmt.Errorf("%w (trust roots replaced by --trust-root)", err))
		}
		return refuse(RuleUntrusted, leaf, fmt.Errorf("%w (profile %s)", err, p.opts.Profile))
	}
	return refuse(RuleChain, leaf, err)
}
