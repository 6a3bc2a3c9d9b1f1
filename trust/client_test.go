package trust

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/testpki"
)

// The client's own certificate, checked as the operator checks it: a valid one passes, a revoked
// one names the CRL rule (ECO.1.1.6), an expired one the validity rule (ECO.1.1.5), one of another
// PKI the trust rule (ECO.1.1.10).
func TestVerifyClientCertificate(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	pki.ServeRevocation()
	foreign := testpki.New(t, testpki.Options{Name: "FOREIGN"})
	pol, err := New(Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert}, CRLRefresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := pki.Client("499700000000001", "appli@hopital.mssante.fr")
	if chain, err := pol.VerifyClientCertificate(ctx, &good.TLS); err != nil || len(chain) != 3 {
		t.Fatalf("valid certificate: %d certificates, %v", len(chain), err)
	}
	revoked := pki.Client("499700000000001", "revoked@hopital.mssante.fr")
	pki.Revoke(revoked.Cert)
	other := foreign.Client("499700000000001", "appli@hopital.mssante.fr")
	late, err := New(Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert}, CRLRefresh: -1,
		Now: func() time.Time { return good.Cert.NotAfter.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		pol  *Policy
		leaf *testpki.Leaf
		rule string
	}{{"revoked", pol, revoked, RuleRevokedCRL}, {"foreign", pol, other, RuleUntrusted}, {"expired", late, good, RuleExpired}} {
		_, err := c.pol.VerifyClientCertificate(ctx, &c.leaf.TLS)
		var re *RefusalError
		if !errors.As(err, &re) || re.Rule != c.rule {
			t.Errorf("%s: %v, want rule %s", c.name, err, c.rule)
		}
	}
	if _, err := pol.VerifyClientCertificate(ctx, nil); err == nil {
		t.Error("no certificate accepted")
	}
}
