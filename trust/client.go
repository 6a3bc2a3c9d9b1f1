package trust

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// VerifyClientCertificate checks the client's own ORG AUTH_CLI certificate (an applicative
// mailbox's) the way an operator will: path to the anchors of the policy through the chain the
// client sends (cert.Certificate, leaf first), validity at Now (ECO.1.1.5), client authentication
// usage, issuing intermediate (ECO.1.1.10), then revocation of every certificate below the anchor
// (ECO.1.1.6, unless SkipRevocation). An operator answers a refused certificate with the same
// authentication failure as any other; this says which rule it breaks. It returns the verified
// chain, leaf first, or a *RefusalError.
func (p *Policy) VerifyClientCertificate(ctx context.Context, cert *tls.Certificate) ([]*x509.Certificate, error) {
	if cert == nil || len(cert.Certificate) == 0 {
		return nil, refuse(RuleChain, nil, errors.New("no client certificate"))
	}
	certs := make([]*x509.Certificate, len(cert.Certificate))
	for i, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, refuse(RuleChain, nil, err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: p.roots, Intermediates: inter,
		CurrentTime: p.opts.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return nil, classifyX509(certs[0], err)
	}
	chain, err := p.pickChain(chains)
	if err != nil {
		return nil, err
	}
	if p.rev != nil {
		for i := 0; i+1 < len(chain); i++ {
			if err := p.rev.check(ctx, chain[i], chain[i+1]); err != nil {
				return nil, err
			}
		}
	}
	return chain, nil
}
