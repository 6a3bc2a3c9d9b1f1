package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// The sandbox PKI is a TEST PKI in the shape of IGC Santé: a root, an "ELEMENTAIRE ORGANISATIONS"
// intermediate, a server certificate for the sandbox hosts, and one "ORG AUTH_CLI" client
// certificate per applicative mailbox (subject OU = organisation id). It is generated on the first
// start into <data-dir>/pki and reloaded afterwards, private keys included: the certificates carry
// the URLs of the CRL and OCSP responders, so they stay valid across restarts. Nothing it signs is
// trusted by anything but a client given its root with --trust-root.
//
//	<data-dir>/pki/root.pem        the trust file (what --trust-root takes)
//	<data-dir>/pki/org.pem         the ORGANISATIONS intermediate
//	<data-dir>/pki/server.pem      server certificate, then the intermediate; server.key
//	<data-dir>/pki/clients/<address>.pem, .key   applicative client certificates
//	<data-dir>/pki/revoked.json    revoked serial numbers
//	<data-dir>/pki/{root,org}.key  CA keys (test keys, mode 0600)

const (
	rootCN = "TEST SANDBOX AC RACINE IGC-SANTE-LIKE ELEMENTAIRE"
	orgCN  = "TEST SANDBOX AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
	// crlValidity is nextUpdate - thisUpdate of the CRLs and OCSP answers served.
	crlValidity = 24 * time.Hour
	// leafValidity is the validity of server and client certificates.
	leafValidity = 2 * 365 * 24 * time.Hour
)

type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// pki is the loaded test PKI. Its methods are safe for concurrent use.
type pki struct {
	dir     string
	baseURL string // "http://127.0.0.1:18080": CRL and OCSP, written in the certificates
	root    *authority
	org     *authority
	server  tls.Certificate

	mu         sync.Mutex
	revoked    map[string]time.Time // serial (decimal) → revocation time
	revokedMod time.Time            // modification time of revoked.json when read
}

// loadOrCreatePKI loads the PKI of dir, or generates it with revocation URLs under baseURL and a
// server certificate for hosts. created reports a new PKI.
func loadOrCreatePKI(dir, baseURL string, hosts []string) (p *pki, created bool, err error) {
	p = &pki{dir: dir, baseURL: baseURL, revoked: map[string]time.Time{}}
	if _, err := os.Stat(filepath.Join(dir, "root.pem")); err == nil {
		return p, false, p.load()
	}
	if err := os.MkdirAll(filepath.Join(dir, "clients"), 0o700); err != nil {
		return nil, false, err
	}
	if err := p.generate(hosts); err != nil {
		return nil, false, err
	}
	return p, true, nil
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

func (p *pki) generate(hosts []string) error {
	now := time.Now()
	keys, err := genKeys(3)
	if err != nil {
		return err
	}
	rootKey, orgKey, serverKey := keys[0], keys[1], keys[2]
	rootCert, err := p.sign(&x509.Certificate{
		Subject:   caName(rootCN),
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(20 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, rootKey.Public(), nil, rootKey)
	if err != nil {
		return err
	}
	p.root = &authority{cert: rootCert, key: rootKey}
	orgCert, err := p.sign(&x509.Certificate{
		Subject:   caName(orgCN),
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		CRLDistributionPoints: []string{p.baseURL + "/crl/root.crl"},
		OCSPServer:            []string{p.baseURL + "/ocsp"},
	}, orgKey.Public(), p.root, nil)
	if err != nil {
		return err
	}
	p.org = &authority{cert: orgCert, key: orgKey}
	for name, data := range map[string][]byte{
		"root.pem": certPEM(rootCert), "org.pem": certPEM(orgCert),
	} {
		if err := writeFileAtomic(p.path(name), data, 0o644); err != nil {
			return err
		}
	}
	for name, key := range map[string]crypto.Signer{"root.key": rootKey, "org.key": orgKey} {
		if err := writeKey(p.path(name), key); err != nil {
			return err
		}
	}
	// The server certificate: RSA, since the TLS 1.2 suites of the referential are ECDHE_RSA.
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{Country: []string{"FR"}, Organization: []string{"OPERATEUR SANDBOX MSSANTE"}, CommonName: hosts[0]},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if err := p.issueLeaf(tmpl, serverKey, p.path("server.pem"), p.path("server.key")); err != nil {
		return err
	}
	return p.loadServer()
}

func caName(cn string) pkix.Name {
	return pkix.Name{Country: []string{"FR"}, Organization: []string{"MSSANTE-SANDBOX"},
		OrganizationalUnit: []string{"0002 000000000", "IGC-SANTE TEST SANDBOX"}, CommonName: cn}
}

// issueClient issues the ORG AUTH_CLI certificate of an applicative mailbox: OU = orgID,
// CN = address, e-mail SAN. It writes <clients>/<address>.pem (leaf then intermediate) and .key.
func (p *pki) issueClient(orgID, address string) (certFile, keyFile string, err error) {
	certFile = p.path(filepath.Join("clients", address+".pem"))
	keyFile = p.path(filepath.Join("clients", address+".key"))
	tmpl := &x509.Certificate{
		Subject: pkix.Name{Country: []string{"FR"}, Organization: []string{"ETABLISSEMENT SANDBOX"},
			OrganizationalUnit: []string{orgID}, CommonName: address},
		EmailAddresses: []string{address},
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage:       x509.KeyUsageDigitalSignature,
	}
	keys, err := genKeys(1)
	if err != nil {
		return "", "", err
	}
	return certFile, keyFile, p.issueLeaf(tmpl, keys[0], certFile, keyFile)
}

// genKeys generates n RSA 2048 keys concurrently (the first start's main cost).
func genKeys(n int) ([]*rsa.PrivateKey, error) {
	keys := make([]*rsa.PrivateKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = rsa.GenerateKey(rand.Reader, 2048) })
	}
	wg.Wait()
	return keys, errors.Join(errs...)
}

func (p *pki) issueLeaf(tmpl *x509.Certificate, key *rsa.PrivateKey, certFile, keyFile string) error {
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(leafValidity)
	tmpl.BasicConstraintsValid = true
	tmpl.CRLDistributionPoints = []string{p.baseURL + "/crl/org.crl"}
	tmpl.OCSPServer = []string{p.baseURL + "/ocsp"}
	cert, err := p.sign(tmpl, key.Public(), p.org, nil)
	if err != nil {
		return err
	}
	if err := writeKey(keyFile, key); err != nil {
		return err
	}
	return writeFileAtomic(certFile, append(certPEM(cert), certPEM(p.org.cert)...), 0o644)
}

func (p *pki) sign(tmpl *x509.Certificate, pub crypto.PublicKey, parent *authority, self crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	issuer, key := tmpl, self
	if parent != nil {
		issuer, key = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, key)
	if err != nil {
		return nil, fmt.Errorf("sandbox pki: certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func (p *pki) load() error {
	var err error
	if p.root, err = loadAuthority(p.path("root.pem"), p.path("root.key")); err != nil {
		return err
	}
	if p.org, err = loadAuthority(p.path("org.pem"), p.path("org.key")); err != nil {
		return err
	}
	if urls := p.org.cert.OCSPServer; len(urls) == 1 {
		p.baseURL = strings.TrimSuffix(urls[0], "/ocsp")
	}
	p.mu.Lock()
	err = p.syncRevoked()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.loadServer()
}

func (p *pki) loadServer() error {
	c, err := tls.LoadX509KeyPair(p.path("server.pem"), p.path("server.key"))
	if err != nil {
		return fmt.Errorf("sandbox pki: server certificate: %w", err)
	}
	p.server = c
	return nil
}

func loadAuthority(certFile, keyFile string) (*authority, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("sandbox pki: %w", err)
	}
	cert, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, err
	}
	key, ok := c.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("sandbox pki: %s: not a signing key", keyFile)
	}
	return &authority{cert: cert, key: key}, nil
}

// syncRevoked reloads revoked.json when another process (`mssante sandbox revoke`) changed it.
// p.mu must be held.
func (p *pki) syncRevoked() error {
	fi, err := os.Stat(p.path("revoked.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.ModTime().Equal(p.revokedMod) {
		return nil
	}
	data, err := os.ReadFile(p.path("revoked.json"))
	if err != nil {
		return err
	}
	m := map[string]time.Time{}
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("sandbox pki: revoked.json: %w", err)
	}
	p.revoked, p.revokedMod = m, fi.ModTime()
	return nil
}

// revoke marks a certificate revoked (CRL and OCSP at once) and persists it.
func (p *pki) revoke(cert *x509.Certificate) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.syncRevoked(); err != nil {
		return err
	}
	p.revoked[cert.SerialNumber.String()] = time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	data, err := json.MarshalIndent(p.revoked, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(p.path("revoked.json"), data, 0o644); err != nil {
		return err
	}
	if fi, err := os.Stat(p.path("revoked.json")); err == nil {
		p.revokedMod = fi.ModTime()
	}
	return nil
}

// revokedSnapshot returns the current revocations (file changes included).
func (p *pki) revokedSnapshot() map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.syncRevoked() // on a read error, keep the last known list
	out := make(map[string]time.Time, len(p.revoked))
	for k, v := range p.revoked {
		out[k] = v
	}
	return out
}

func (p *pki) isRevoked(cert *x509.Certificate) bool {
	_, ok := p.revokedSnapshot()[cert.SerialNumber.String()]
	return ok
}

// crl builds the current CRL of ca. Revoked serials are kept per issuer: a serial is listed by the
// CA whose subject issued it, known from the certificates on disk (server and clients for the ORG
// CA, the intermediate for the root).
func (p *pki) crl(ca *authority) ([]byte, error) {
	revoked := p.revokedSnapshot()
	serials := make([]string, 0, len(revoked))
	for s := range revoked {
		serials = append(serials, s)
	}
	sort.Strings(serials)
	var entries []x509.RevocationListEntry
	issued := p.issuedBy(ca)
	for _, s := range serials {
		if !issued[s] {
			continue
		}
		n, _ := new(big.Int).SetString(s, 10)
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: revoked[s]})
	}
	now := time.Now()
	return x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(now.Unix()),
		ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(crlValidity),
		RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
}

// issuedBy returns the serials of the certificates on disk signed by ca.
func (p *pki) issuedBy(ca *authority) map[string]bool {
	out := map[string]bool{}
	files := []string{p.path("org.pem"), p.path("server.pem")}
	clients, _ := filepath.Glob(p.path(filepath.Join("clients", "*.pem")))
	files = append(files, clients...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		block, _ := pem.Decode(data)
		if block == nil {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err == nil && c.CheckSignatureFrom(ca.cert) == nil {
			out[c.SerialNumber.String()] = true
		}
	}
	return out
}

// revocationHandler serves the CRLs and the OCSP responder (RFC 6960, POST and GET):
//
//	GET  /crl/root.crl   CRL of the root (covers the ORG intermediate), DER
//	GET  /crl/org.crl    CRL of the ORG intermediate (covers server and client certificates)
//	POST /ocsp, GET /ocsp/{base64 request}
func (p *pki) revocationHandler() http.Handler {
	m := http.NewServeMux()
	serveCRL := func(ca *authority) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			der, err := p.crl(ca)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/pkix-crl")
			_, _ = w.Write(der)
		}
	}
	m.HandleFunc("GET /crl/root.crl", serveCRL(p.root))
	m.HandleFunc("GET /crl/org.crl", serveCRL(p.org))
	m.HandleFunc("POST /ocsp", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.serveOCSP(w, body)
	})
	m.HandleFunc("GET /ocsp/{req...}", func(w http.ResponseWriter, r *http.Request) {
		body, err := base64.StdEncoding.DecodeString(r.PathValue("req"))
		if err != nil {
			w.Header().Set("Content-Type", "application/ocsp-response")
			_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
			return
		}
		p.serveOCSP(w, body)
	})
	return m
}

func (p *pki) serveOCSP(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/ocsp-response")
	req, err := ocsp.ParseRequest(body)
	if err != nil {
		_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	now := time.Now()
	tmpl := ocsp.Response{SerialNumber: req.SerialNumber, ThisUpdate: now.Add(-time.Minute),
		NextUpdate: now.Add(crlValidity), Status: ocsp.Good}
	// The issuer is recognised by the hash of its public key in the request.
	issuer := p.org
	if h, ok := ocspKeyHash(p.root.cert, req); ok && h {
		issuer = p.root
	}
	serial := req.SerialNumber.String()
	if !p.issuedBy(issuer)[serial] {
		tmpl.Status = ocsp.Unknown
	} else {
		if at, revoked := p.revokedSnapshot()[serial]; revoked {
			tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, at, ocsp.KeyCompromise
		}
	}
	resp, err := ocsp.CreateResponse(issuer.cert, issuer.cert, tmpl, issuer.key)
	if err != nil {
		_, _ = w.Write(ocsp.InternalErrorErrorResponse)
		return
	}
	_, _ = w.Write(resp)
}

// ocspKeyHash reports whether req names ca as the issuer (IssuerKeyHash over its public key).
func ocspKeyHash(ca *x509.Certificate, req *ocsp.Request) (bool, bool) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(ca.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false, false
	}
	if !req.HashAlgorithm.Available() {
		return false, false
	}
	h := req.HashAlgorithm.New()
	h.Write(spki.PublicKey.Bytes)
	return string(h.Sum(nil)) == string(req.IssuerKeyHash), true
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// writeFileAtomic writes data to a temporary file in the same directory, syncs and renames it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
