package trust

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/internal/testpki"
)

// igcCerts reads the IGC Santé certificates of ../shared/igc-sante/<sub> (skips when absent).
func igcCerts(t *testing.T, sub string) []*x509.Certificate {
	t.Helper()
	certs, err := ReadCertificates(testkit.Shared(t, "igc-sante", sub))
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

// TestPins_matchPublishedCertificates checks every pinned fingerprint, CN and role against the
// public certificates (ECO.1.1.10).
func TestPins_matchPublishedCertificates(t *testing.T) {
	all := append(igcCerts(t, "prod"), igcCerts(t, "test")...)
	for _, p := range Pins {
		var found *x509.Certificate
		for _, c := range all {
			if Fingerprint(c) == p.SHA256 {
				found = c
			}
		}
		if found == nil {
			t.Errorf("pin %s (%s) matches no certificate of ../shared/igc-sante", p.Name, p.SHA256)
			continue
		}
		if found.Subject.CommonName != p.CN {
			t.Errorf("pin %s: CN %q, want %q", p.Name, found.Subject.CommonName, p.CN)
		}
		selfSigned := found.CheckSignatureFrom(found) == nil
		if selfSigned != (p.Role == RoleRoot) {
			t.Errorf("pin %s: self-signed %v, role %s", p.Name, selfSigned, p.Role)
		}
	}
}

// TestPKCS7Certificates_igcBundle parses the official bundle (PEM-armoured and DER) with the
// extractor, and keeps only the two pinned production certificates of the ELEMENTAIRE range.
func TestPKCS7Certificates_igcBundle(t *testing.T) {
	path := filepath.Join(testkit.Shared(t, "igc-sante", "prod"), "Chaine_de_certification-IGC-Sante.p7b")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("bundle is not PEM-armoured")
	}
	for name, in := range map[string][]byte{"pem": data, "der": block.Bytes} {
		certs, err := ParseCertificates(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(certs) != 8 {
			t.Errorf("%s: %d certificates, want 8", name, len(certs))
		}
		kept := SelectPinned(certs, ProfileProduction)
		if len(kept) != 2 || kept[0].Pin.Name != "ACR-EL" || kept[1].Pin.Name != "ACI-EL-ORG" {
			t.Errorf("%s: kept %v, want ACR-EL and ACI-EL-ORG", name, kept)
		}
		if got := SelectPinned(certs, ProfileTest); len(got) != 0 {
			t.Errorf("%s: production bundle gave %d TEST anchors", name, len(got))
		}
	}
}

// TestUpdate_downloadAndFromDir runs `trust update` logic: download of the bundle (served here)
// for production, a folder for test; New then loads the anchors directory.
func TestUpdate_downloadAndFromDir(t *testing.T) {
	bundle, err := os.ReadFile(filepath.Join(testkit.Shared(t, "igc-sante", "prod"), "Chaine_de_certification-IGC-Sante.p7b"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/AC/Chaine_de_certification-IGC-Sante.p7b" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(bundle)
	}))
	defer srv.Close()
	dir := t.TempDir()
	ctx := context.Background()
	res, err := Update(ctx, UpdateOptions{Profile: ProfileProduction, URL: srv.URL + "/AC/Chaine_de_certification-IGC-Sante.p7b", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Found != 8 || len(res.Kept) != 2 {
		t.Errorf("found %d, kept %d; want 8 and 2", res.Found, len(res.Kept))
	}
	if _, err := Update(ctx, UpdateOptions{Profile: ProfileProduction, URL: srv.URL + "/missing.p7b", Dir: t.TempDir()}); err == nil {
		t.Error("update from a 404 succeeded")
	}
	// The production bundle holds no TEST certificate: refused, nothing written.
	empty := t.TempDir()
	if _, err := Update(ctx, UpdateOptions{Profile: ProfileTest, URL: srv.URL + "/AC/Chaine_de_certification-IGC-Sante.p7b", Dir: empty}); err == nil {
		t.Error("test profile update from the production bundle succeeded")
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("failed update wrote %d files", len(entries))
	}
	if _, err := Update(ctx, UpdateOptions{Profile: ProfileTest, From: testkit.Shared(t, "igc-sante", "test"), Dir: dir}); err != nil {
		t.Fatal(err)
	}
	for _, prof := range []Profile{ProfileProduction, ProfileTest} {
		p, err := New(Options{Profile: prof, AnchorsDir: dir})
		if err != nil {
			t.Fatalf("New(%s): %v", prof, err)
		}
		if got := p.Anchors(); len(got) != 2 || got[0].Pin.Profile != prof {
			t.Errorf("New(%s) anchors = %v", prof, got)
		}
	}
}

func TestNew_refusesWithoutAnchors(t *testing.T) {
	// ECO.1.1.10: no IGC Santé anchors and no explicit root: no policy (never the system pool).
	if _, err := New(Options{AnchorsDir: filepath.Join(t.TempDir(), "none")}); err == nil {
		t.Fatal("New without anchors succeeded")
	}
	// A certificate that is not pinned is ignored, even in the anchors directory.
	pki := testpki.New(t, testpki.Options{})
	dir := t.TempDir()
	if err := pki.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Profile: ProfileTest, AnchorsDir: dir}); err == nil {
		t.Fatal("New trusted an unpinned root")
	}
}

// TestHandshake_igcProfileRefusesTestPKI: with the real IGC Santé TEST anchors, a server of
// another PKI shaped like IGC Santé is refused (ECO.1.1.10).
func TestHandshake_igcProfileRefusesTestPKI(t *testing.T) {
	policy, err := New(Options{Profile: ProfileTest, Anchors: igcCerts(t, "test")})
	if err != nil {
		t.Fatal(err)
	}
	pki := testpki.New(t, testpki.Options{RSA: true})
	_, err = connect(t, policy, sServer(t, pki.Server("localhost")), "localhost", nil)
	wantRefusal(t, err, RuleUntrusted, nil)
	if _, err := policy.VerifyServerChain([]*x509.Certificate{pki.Server("localhost").Cert}, "localhost"); err == nil {
		t.Error("VerifyServerChain accepted a test PKI certificate under the IGC TEST profile")
	}
}

// certsOnlyBundle builds a DER PKCS #7 certs-only SignedData holding certs.
func certsOnlyBundle(t testing.TB, certs ...*x509.Certificate) []byte {
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c.Raw...)
	}
	sd, err := asn1.Marshal(struct {
		Version int
		Digests asn1.RawValue
		Encap   struct{ Type asn1.ObjectIdentifier }
		Certs   asn1.RawValue
		Signers asn1.RawValue
	}{
		Version: 1,
		Digests: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true},
		Encap:   struct{ Type asn1.ObjectIdentifier }{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}},
		Certs:   asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw},
		Signers: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	ci, err := asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue
	}{oidSignedData, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd}})
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

func TestPKCS7Certificates_roundTrip(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	der := certsOnlyBundle(t, pki.Root.Cert, pki.Org.Cert)
	certs, err := PKCS7Certificates(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || !certs[0].Equal(pki.Root.Cert) || !certs[1].Equal(pki.Org.Cert) {
		t.Errorf("PKCS7Certificates = %d certificates, want root and intermediate", len(certs))
	}
	for name, bad := range map[string][]byte{
		"empty": nil, "truncated": der[:len(der)/2], "trailing": append(append([]byte{}, der...), 0),
		"not signed data": certsOnlyBundle(t)[:0],
	} {
		if _, err := PKCS7Certificates(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzPKCS7Certificates: the extractor never panics, and whatever it returns re-encodes to a
// bundle it parses to the same certificates.
func FuzzPKCS7Certificates(f *testing.F) {
	pki, err := testpki.Generate(testpki.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer pki.Close()
	f.Add(certsOnlyBundle(f, pki.Root.Cert, pki.Org.Cert))
	f.Add(certsOnlyBundle(f, pki.Root.Cert))
	f.Add([]byte{0x30, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := PKCS7Certificates(data)
		if err != nil {
			return
		}
		again, err := PKCS7Certificates(certsOnlyBundle(t, certs...))
		if err != nil || len(again) != len(certs) {
			t.Fatalf("re-encoded bundle: %d certificates, %v; want %d", len(again), err, len(certs))
		}
	})
}
