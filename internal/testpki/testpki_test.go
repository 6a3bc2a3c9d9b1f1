package testpki

import (
	"bytes"
	"crypto/x509"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ocsp"

	"github.com/mssante/mssante/internal/testkit"
)

func TestPKI_chainsAndRevocation(t *testing.T) {
	for _, rsa := range []bool{false, true} {
		pki := New(t, Options{RSA: rsa})
		base := pki.ServeRevocation()
		srv := pki.Server("localhost", "127.0.0.1")
		cli := pki.Client("499700000000001", "appli@test.mssante.fr")

		inter := x509.NewCertPool()
		inter.AddCert(pki.Org.Cert)
		for _, c := range []struct {
			leaf  *Leaf
			usage x509.ExtKeyUsage
		}{{srv, x509.ExtKeyUsageServerAuth}, {cli, x509.ExtKeyUsageClientAuth}} {
			chains, err := c.leaf.Cert.Verify(x509.VerifyOptions{Roots: pki.RootPool(), Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{c.usage}})
			if err != nil || len(chains[0]) != 3 {
				t.Fatalf("Verify(%s) = %v, %v; want a 3-certificate chain", c.leaf.Cert.Subject, chains, err)
			}
		}
		if got := cli.Cert.Subject.OrganizationalUnit; len(got) != 1 || got[0] != "499700000000001" {
			t.Errorf("client OU = %v", got)
		}
		if err := srv.Cert.VerifyHostname("127.0.0.1"); err != nil {
			t.Errorf("VerifyHostname: %v", err)
		}

		pki.Revoke(srv.Cert)
		crl := fetchCRL(t, srv.Cert.CRLDistributionPoints[0], pki.Org.Cert)
		if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(srv.Cert.SerialNumber) != 0 {
			t.Errorf("CRL entries = %v, want the revoked server", crl.RevokedCertificateEntries)
		}
		if got := ocspStatus(t, base+"/ocsp", srv.Cert, pki.Org.Cert); got != ocsp.Revoked {
			t.Errorf("OCSP(revoked server) = %d, want revoked", got)
		}
		if got := ocspStatus(t, cli.Cert.OCSPServer[0], cli.Cert, pki.Org.Cert); got != ocsp.Good {
			t.Errorf("OCSP(client) = %d, want good", got)
		}
		if got := ocspStatus(t, pki.Org.Cert.OCSPServer[0], pki.Org.Cert, pki.Root.Cert); got != ocsp.Good {
			t.Errorf("OCSP(intermediate) = %d, want good", got)
		}
		pki.SetRevocationDown(true)
		resp, err := http.Get(srv.Cert.CRLDistributionPoints[0])
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("down endpoint status = %d", resp.StatusCode)
		}
	}
}

func TestPKI_expiredAndForeign(t *testing.T) {
	pki := New(t, Options{})
	foreign := New(t, Options{Name: "FOREIGN"})
	inter := x509.NewCertPool()
	inter.AddCert(pki.Org.Cert)
	inter.AddCert(foreign.Org.Cert)
	_, err := pki.Issue(LeafOptions{Names: []string{"localhost"}, Expired: true}).Cert.Verify(
		x509.VerifyOptions{Roots: pki.RootPool(), Intermediates: inter})
	if ce, ok := err.(x509.CertificateInvalidError); !ok || ce.Reason != x509.Expired {
		t.Errorf("expired leaf: Verify error = %v, want Expired", err)
	}
	_, err = foreign.Server("localhost").Cert.Verify(x509.VerifyOptions{Roots: pki.RootPool(), Intermediates: inter})
	if _, ok := err.(x509.UnknownAuthorityError); !ok {
		t.Errorf("foreign leaf: Verify error = %v, want UnknownAuthorityError", err)
	}
}

// TestPKI_openssl checks the written files with a real peer: openssl verify with the CRLs.
func TestPKI_openssl(t *testing.T) {
	openssl := testkit.LookPath(t, "openssl")
	pki := New(t, Options{})
	dir := t.TempDir()
	srv := pki.Server("localhost")
	revoked := pki.Server("revoked.localhost")
	pki.Revoke(revoked.Cert)
	if err := pki.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	good, _, _ := srv.WriteFiles(t, dir, "good")
	bad, _, _ := revoked.WriteFiles(t, dir, "bad")
	run := func(leaf string) ([]byte, error) {
		return exec.Command(openssl, "verify", "-crl_check_all", "-CAfile", filepath.Join(dir, "ca.pem"),
			"-CRLfile", filepath.Join(dir, "crls.pem"), leaf).CombinedOutput()
	}
	if out, err := run(good); err != nil {
		t.Errorf("openssl verify good: %v\n%s", err, out)
	}
	if out, err := run(bad); err == nil || !bytes.Contains(out, []byte("revoked")) {
		t.Errorf("openssl verify revoked: err=%v\n%s", err, out)
	}
}

func fetchCRL(t *testing.T, url string, issuer *x509.Certificate) *x509.RevocationList {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	return crl
}

func ocspStatus(t *testing.T, url string, cert, issuer *x509.Certificate) int {
	t.Helper()
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		t.Fatalf("OCSP response: %v", err)
	}
	return r.Status
}
