// Package testpki generates, in memory, a test PKI in the shape of IGC Santé for the tests of the
// transport layer: a root ("TEST AC RACINE IGC-SANTE-LIKE ELEMENTAIRE"), an "ORG" intermediate
// ("TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"), server certificates for DNS names and IP
// addresses, and "ORG AUTH_CLI" client certificates whose subject OU is an organisation id.
//
// Every certificate below the root carries a CRL distribution point and an OCSP responder URL (AIA)
// on a loopback HTTP server that New reserves (127.0.0.1, random port) and ServeRevocation starts:
//
//	GET  /crl/root.crl   CRL of the root (covers the ORG intermediate), DER, signed by the root
//	GET  /crl/org.crl    CRL of the ORG intermediate (covers the leaves), DER, signed by it
//	POST /ocsp           OCSP responder (RFC 6960, golang.org/x/crypto/ocsp), signed by the issuer
//
// CRLs and OCSP answers are built at each request, so Revoke takes effect at once.
// SetRevocationDown makes the endpoint answer 503, to test the CRL cache (ECO.1.1.7).
//
// Usual sequence, in a test:
//
//	pki := testpki.New(t, testpki.Options{})
//	base := pki.ServeRevocation()            // only when the client checks revocation
//	srv := pki.Server("localhost", "127.0.0.1")
//	certFile, keyFile, chainFile := srv.WriteFiles(t, t.TempDir(), "server")
//	roots := pki.RootPool()                  // or pki.RootPEM() for --trust-root
//	cli := pki.Client("499700000000001", "appli@hopital.mssante.fr")
//	pki.Revoke(srv.Cert)
//
// A "foreign CA" is simply another PKI: testpki.New(t, testpki.Options{Name: "FOREIGN"}).
// Keys are ECDSA P-256 (fast); Options.RSA selects RSA 2048. Use RSA for a server that must speak
// TLS 1.2 to the trust policy: the referential's TLS 1.2 suites (C030, C02F, C027) are all
// ECDHE-RSA, so an ECDSA server certificate only works in TLS 1.3.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Options configures New. The zero value is ECDSA P-256, real time, CRLs valid one hour.
type Options struct {
	// RSA selects RSA 2048 keys instead of ECDSA P-256 for every certificate.
	RSA bool
	// Name is put in the subject of the CAs ("TEST" by default); use another one for a foreign CA.
	Name string
	// Now is the clock used for validity periods, CRLs and OCSP answers (default time.Now).
	Now func() time.Time
	// CRLValidity is nextUpdate - thisUpdate of the CRLs and OCSP answers (default 1 h).
	CRLValidity time.Duration
	// LeafValidity is the validity of leaf certificates (default 24 h, starting 1 h ago).
	LeafValidity time.Duration
}

// CA is a certification authority of the PKI.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	// crlPath is the URL path of the CRL this CA signs.
	crlPath string
}

// Leaf is an end-entity certificate with its key.
type Leaf struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM is the leaf alone; KeyPEM its PKCS #8 private key; ChainPEM the leaf then the ORG
	// intermediate (what a server sends).
	CertPEM, KeyPEM, ChainPEM []byte
	// TLS holds the leaf and the intermediate, ready for tls.Config.Certificates.
	TLS tls.Certificate
}

// LeafOptions describes a leaf certificate for Issue.
type LeafOptions struct {
	// Names are DNS names or IP addresses (server certificates).
	Names []string
	// Client makes a client authentication certificate (ORG AUTH_CLI): OU = OrgID, CN = Mailbox,
	// and Mailbox as an e-mail SAN.
	Client              bool
	OrgID, Mailbox      string
	Expired             bool      // validity ended one day ago (ECO.1.1.5)
	NoOCSP, NoCRL       bool      // leave out the AIA OCSP URL or the CRL distribution point
	NotBefore, NotAfter time.Time // override the validity period when non-zero
}

// PKI is a generated test PKI. Its methods are safe for concurrent use.
type PKI struct {
	t    testing.TB
	opts Options
	Root *CA
	// Org is the "ELEMENTAIRE ORGANISATIONS" intermediate that issues servers and clients.
	Org *CA

	ln      net.Listener
	baseURL string

	mu       sync.Mutex
	issued   map[string]*CA // serial (decimal) -> issuer
	revoked  map[string]time.Time
	down     bool
	srv      *http.Server
	extraCAs []*CA
}

// New generates a PKI and reserves its revocation endpoint on 127.0.0.1 (closed in t.Cleanup).
// It fails the test on error.
func New(t testing.TB, o Options) *PKI {
	t.Helper()
	p, err := Generate(o)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	p.t = t
	t.Cleanup(p.Close)
	return p
}

// Generate is New without a testing.TB: the caller must call Close.
func Generate(o Options) (*PKI, error) {
	if o.Name == "" {
		o.Name = "TEST"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CRLValidity == 0 {
		o.CRLValidity = time.Hour
	}
	if o.LeafValidity == 0 {
		o.LeafValidity = 24 * time.Hour
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("reserve revocation endpoint: %w", err)
	}
	p := &PKI{opts: o, ln: ln, baseURL: "http://" + ln.Addr().String(),
		issued: map[string]*CA{}, revoked: map[string]time.Time{}}
	now := o.Now()
	rootKey, err := p.newKey()
	if err != nil {
		return nil, err
	}
	rootTmpl := &x509.Certificate{
		Subject:               p.caName("AC RACINE IGC-SANTE-LIKE ELEMENTAIRE"),
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	p.Root, err = p.newCA(rootTmpl, rootKey, nil, "/crl/root.crl")
	if err != nil {
		return nil, err
	}
	orgKey, err := p.newKey()
	if err != nil {
		return nil, err
	}
	orgTmpl := &x509.Certificate{
		Subject:               p.caName("AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"),
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(5 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		CRLDistributionPoints: []string{p.baseURL + p.Root.crlPath},
		OCSPServer:            []string{p.baseURL + "/ocsp"},
	}
	p.Org, err = p.newCA(orgTmpl, orgKey, p.Root, "/crl/org.crl")
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (p *PKI) caName(cn string) pkix.Name {
	return pkix.Name{
		Country:            []string{"FR"},
		Organization:       []string{"MSSANTE-TEST"},
		OrganizationalUnit: []string{"0002 000000000", "IGC-SANTE " + p.opts.Name},
		CommonName:         p.opts.Name + " " + cn,
	}
}

func (p *PKI) newKey() (crypto.Signer, error) {
	if p.opts.RSA {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func (p *PKI) newCA(tmpl *x509.Certificate, key crypto.Signer, parent *CA, crlPath string) (*CA, error) {
	cert, err := p.sign(tmpl, key.Public(), parent, key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM(cert), crlPath: crlPath}, nil
}

// sign issues tmpl for pub, signed by parent (self-signed with selfKey when parent is nil).
func (p *PKI) sign(tmpl *x509.Certificate, pub crypto.PublicKey, parent *CA, selfKey crypto.Signer) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	issuerCert, issuerKey := tmpl, selfKey
	if parent != nil {
		issuerCert, issuerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, pub, issuerKey)
	if err != nil {
		return nil, fmt.Errorf("create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if parent != nil {
		p.mu.Lock()
		p.issued[cert.SerialNumber.String()] = parent
		p.mu.Unlock()
	}
	return cert, nil
}

// Server issues a server certificate for names (DNS names or IP addresses), by the ORG intermediate.
func (p *PKI) Server(names ...string) *Leaf {
	return p.Issue(LeafOptions{Names: names})
}

// Client issues an "ORG AUTH_CLI" client certificate: subject OU = orgID (the organisation id,
// e.g. "499700000000001"), CN = mailbox, and mailbox as an e-mail SAN.
func (p *PKI) Client(orgID, mailbox string) *Leaf {
	return p.Issue(LeafOptions{Client: true, OrgID: orgID, Mailbox: mailbox})
}

// Issue issues a leaf certificate by the ORG intermediate. It fails the test (or panics without
// one) on error.
func (p *PKI) Issue(o LeafOptions) *Leaf { return p.IssueFrom(p.Org, o) }

// IssueFrom issues a leaf certificate by ca (p.Org, or an intermediate made by Intermediate).
func (p *PKI) IssueFrom(ca *CA, o LeafOptions) *Leaf {
	l, err := p.issue(ca, o)
	if err != nil {
		if p.t != nil {
			p.t.Helper()
			p.t.Fatalf("testpki: %v", err)
		}
		panic(err)
	}
	return l
}

func (p *PKI) issue(ca *CA, o LeafOptions) (*Leaf, error) {
	key, err := p.newKey()
	if err != nil {
		return nil, err
	}
	now := p.opts.Now()
	tmpl := &x509.Certificate{
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(-time.Hour + p.opts.LeafValidity),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if p.opts.RSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	if o.Expired {
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-30*24*time.Hour), now.Add(-24*time.Hour)
	}
	if !o.NotBefore.IsZero() {
		tmpl.NotBefore = o.NotBefore
	}
	if !o.NotAfter.IsZero() {
		tmpl.NotAfter = o.NotAfter
	}
	if !o.NoCRL {
		tmpl.CRLDistributionPoints = []string{p.baseURL + ca.crlPath}
	}
	if !o.NoOCSP {
		tmpl.OCSPServer = []string{p.baseURL + "/ocsp"}
	}
	if o.Client {
		tmpl.Subject = pkix.Name{Country: []string{"FR"}, Organization: []string{"ETABLISSEMENT DE TEST"},
			OrganizationalUnit: []string{o.OrgID}, CommonName: o.Mailbox}
		if o.Mailbox != "" {
			tmpl.EmailAddresses = []string{o.Mailbox}
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.Subject = pkix.Name{Country: []string{"FR"}, Organization: []string{"OPERATEUR DE TEST"}}
		for _, n := range o.Names {
			if ip := net.ParseIP(n); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, n)
			}
		}
		if len(o.Names) > 0 {
			tmpl.Subject.CommonName = o.Names[0]
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	cert, err := p.sign(tmpl, key.Public(), ca, nil)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	l := &Leaf{Cert: cert, Key: key, CertPEM: certPEM(cert),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})}
	l.ChainPEM = append(append([]byte{}, l.CertPEM...), ca.CertPEM...)
	l.TLS = tls.Certificate{Certificate: [][]byte{cert.Raw, ca.Cert.Raw}, PrivateKey: key, Leaf: cert}
	return l, nil
}

// Intermediate makes another intermediate under the root, such as "AC IGC-SANTE ELEMENTAIRE
// PERSONNES", to test that only the ORGANISATIONS one is accepted (ECO.1.1.10). Its CRL is served
// at /crl/<n>.crl. It fails the test on error.
func (p *PKI) Intermediate(cn string) *CA {
	key, err := p.newKey()
	if err == nil {
		p.mu.Lock()
		p.extraCAs = append(p.extraCAs, nil)
		n := len(p.extraCAs)
		p.mu.Unlock()
		now := p.opts.Now()
		var ca *CA
		ca, err = p.newCA(&x509.Certificate{
			Subject:               p.caName(cn),
			NotBefore:             now.Add(-24 * time.Hour),
			NotAfter:              now.Add(5 * 365 * 24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			MaxPathLenZero:        true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			CRLDistributionPoints: []string{p.baseURL + p.Root.crlPath},
			OCSPServer:            []string{p.baseURL + "/ocsp"},
		}, key, p.Root, fmt.Sprintf("/crl/%d.crl", n))
		if err == nil {
			p.mu.Lock()
			p.extraCAs[n-1] = ca
			p.mu.Unlock()
			return ca
		}
	}
	if p.t != nil {
		p.t.Helper()
		p.t.Fatalf("testpki: intermediate: %v", err)
	}
	panic(err)
}

// WriteFiles writes name.crt (leaf), name.key (PKCS #8, mode 0600) and name-chain.crt (leaf then
// intermediate) into dir and returns their paths. It fails the test on error.
func (l *Leaf) WriteFiles(t testing.TB, dir, name string) (certFile, keyFile, chainFile string) {
	t.Helper()
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	chainFile = filepath.Join(dir, name+"-chain.crt")
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{certFile, l.CertPEM, 0o644}, {keyFile, l.KeyPEM, 0o600}, {chainFile, l.ChainPEM, 0o644}} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			t.Fatalf("testpki: %v", err)
		}
	}
	return certFile, keyFile, chainFile
}

// RootPEM returns the root certificate, PEM encoded (what --trust-root takes).
func (p *PKI) RootPEM() []byte { return p.Root.CertPEM }

// RootPool returns a pool holding only the root.
func (p *PKI) RootPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Root.Cert)
	return pool
}

// BaseURL is the base of the revocation endpoint written in the certificates ("http://127.0.0.1:N").
func (p *PKI) BaseURL() string { return p.baseURL }

// Revoke marks cert (a leaf or the ORG intermediate) revoked in the CRL of its issuer and in OCSP.
func (p *PKI) Revoke(cert *x509.Certificate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked[cert.SerialNumber.String()] = p.opts.Now().Add(-time.Minute)
}

// SetRevocationDown makes the revocation endpoint answer 503 to every request (down = true) or
// serve again (down = false).
func (p *PKI) SetRevocationDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// WriteDir writes the PKI's public material into dir: root.pem, org.pem (intermediate), ca.pem
// (root then intermediate), root.crl.pem and org.crl.pem (current CRLs, for servers that check
// client certificates, such as Dovecot's ssl_ca with ssl_require_crl), and crls.pem (both CRLs).
func (p *PKI) WriteDir(dir string) error {
	rootCRL, err := p.CRL(p.Root)
	if err != nil {
		return err
	}
	orgCRL, err := p.CRL(p.Org)
	if err != nil {
		return err
	}
	rootCRLPEM := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: rootCRL})
	orgCRLPEM := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: orgCRL})
	files := map[string][]byte{
		"root.pem":     p.Root.CertPEM,
		"org.pem":      p.Org.CertPEM,
		"ca.pem":       append(append([]byte{}, p.Root.CertPEM...), p.Org.CertPEM...),
		"root.crl.pem": rootCRLPEM,
		"org.crl.pem":  orgCRLPEM,
		"crls.pem":     append(append([]byte{}, rootCRLPEM...), orgCRLPEM...),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// CRL returns the current CRL of ca (p.Root or p.Org), DER encoded.
func (p *PKI) CRL(ca *CA) ([]byte, error) {
	now := p.opts.Now()
	p.mu.Lock()
	var entries []x509.RevocationListEntry
	for serial, at := range p.revoked {
		if p.issued[serial] != ca {
			continue
		}
		n, _ := new(big.Int).SetString(serial, 10)
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: at})
	}
	p.mu.Unlock()
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(now.Unix()),
		ThisUpdate:                now.Add(-time.Minute),
		NextUpdate:                now.Add(-time.Minute + p.opts.CRLValidity),
		RevokedCertificateEntries: entries,
	}
	return x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
}

// Close stops the revocation endpoint. New registers it with t.Cleanup.
func (p *PKI) Close() {
	p.mu.Lock()
	srv := p.srv
	p.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		return
	}
	_ = p.ln.Close()
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// Fingerprint returns the SHA-256 fingerprint of a certificate in lower-case hex, as the trust
// package pins them.
func Fingerprint(c *x509.Certificate) string {
	return fmt.Sprintf("%x", sha256.Sum256(c.Raw))
}
