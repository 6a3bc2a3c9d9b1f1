package sandbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mssante/mssante/autoconfig"
	"github.com/mssante/mssante/internal/annuaire"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// startWorld starts a world in dir on free ports (first start) or on the ports of the last start.
func startWorld(t *testing.T, dir string, fresh bool) *World {
	t.Helper()
	o := Options{DataDir: dir}
	if fresh {
		any := "127.0.0.1:0"
		o.IMAPAddr, o.SMTPAddr, o.HTTPSAddr, o.HTTPAddr, o.PSCAddr = any, any, any, any, any
	}
	w, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// policy is the client TLS policy of mssante with the sandbox root as --trust-root, the ORG
// intermediate as the only issuer of servers, and revocation checked at each handshake.
func policy(t *testing.T, w *World) *trust.Policy {
	t.Helper()
	p, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{w.RootCertificate()},
		OrgIntermediates: []*x509.Certificate{w.OrgCertificate()}, CRLRefresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func endpoint(t *testing.T, addr string) lps.Endpoint {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return lps.Endpoint{Host: host, Port: n}
}

func account(t *testing.T, w *World, kind string, closed bool) Account {
	t.Helper()
	for _, a := range w.Config.Accounts {
		if a.Kind == kind && a.Closed == closed {
			return a
		}
	}
	t.Fatalf("no %s account (closed %v)", kind, closed)
	return Account{}
}

func xoauth(t *testing.T, w *World, address, nationalID string) lps.Auth {
	t.Helper()
	tok, err := FetchToken(context.Background(), w.DataDir, nationalID)
	if err != nil {
		t.Fatalf("FetchToken: %v", err)
	}
	return lps.Auth{Method: lps.AuthXOAUTH2, Address: address,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return tok.AccessToken, nil })}
}

func certAuth(t *testing.T, a Account) lps.Auth {
	t.Helper()
	c, err := tls.LoadX509KeyPair(a.Cert, a.Key)
	if err != nil {
		t.Fatal(err)
	}
	return lps.Auth{Method: lps.AuthCertPlain, Address: a.Address, Certificate: &c}
}

func readPEMCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", file)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The test PKI is generated on the first start in the shape of IGC Santé, persisted, and reloaded
// unchanged by the next start; the revocation endpoint keeps its address (ECO.1.1.5, ECO.1.1.6,
// ECO.1.1.10).
func TestPKI_generatedOnceAndReloaded(t *testing.T) {
	dir := t.TempDir()
	w := startWorld(t, dir, true)
	root := readPEMCert(t, w.TrustRoot())
	if !root.IsCA || root.Subject.CommonName != rootCN {
		t.Fatalf("trust root %q", root.Subject)
	}
	app := account(t, w, "applicative", false)
	leaf := readPEMCert(t, app.Cert)
	if len(leaf.Subject.OrganizationalUnit) != 1 || leaf.Subject.OrganizationalUnit[0] != app.OrgID ||
		leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("client certificate subject %q, EKU %v: want OU=%s, clientAuth", leaf.Subject, leaf.ExtKeyUsage, app.OrgID)
	}
	if leaf.Issuer.CommonName != orgCN {
		t.Errorf("client certificate issued by %q, want the ORGANISATIONS intermediate", leaf.Issuer.CommonName)
	}
	if fi, err := os.Stat(app.Key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("client key mode: %v %v", fi.Mode(), err)
	}
	srv := w.pki.server.Leaf
	want := "http://" + w.Config.HTTP
	if len(srv.CRLDistributionPoints) != 1 || !strings.HasPrefix(srv.CRLDistributionPoints[0], want) ||
		len(srv.OCSPServer) != 1 || !strings.HasPrefix(srv.OCSPServer[0], want) {
		t.Errorf("server certificate revocation URLs %v %v, want under %s", srv.CRLDistributionPoints, srv.OCSPServer, want)
	}
	if err := srv.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if err := srv.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	fp := trust.Fingerprint(root)
	httpAddr := w.Config.HTTP
	_ = w.Close()

	w2 := startWorld(t, dir, false)
	if got := trust.Fingerprint(readPEMCert(t, w2.TrustRoot())); got != fp {
		t.Errorf("root regenerated on restart: %s, want %s", got, fp)
	}
	if w2.Config.HTTP != httpAddr {
		t.Errorf("revocation endpoint moved: %s, want %s", w2.Config.HTTP, httpAddr)
	}
	if a := account(t, w2, "applicative", false); a.Cert != app.Cert {
		t.Errorf("client certificate moved: %s", a.Cert)
	}
}

// CRL and OCSP are served over HTTP and revoking a client certificate shows in both at once
// (ECO.1.1.6).
func TestRevocationEndpoints(t *testing.T) {
	w := startWorld(t, t.TempDir(), true)
	app := account(t, w, "applicative", false)
	leaf := readPEMCert(t, app.Cert)
	status := func() int {
		req, err := ocsp.CreateRequest(leaf, w.OrgCertificate(), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post("http://"+w.Config.HTTP+"/ocsp", "application/ocsp-request", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		r, err := ocsp.ParseResponseForCert(body, leaf, w.OrgCertificate())
		if err != nil {
			t.Fatalf("OCSP answer: %v", err)
		}
		return r.Status
	}
	crlHas := func() bool {
		resp, err := http.Get(leaf.CRLDistributionPoints[0])
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		der, _ := io.ReadAll(resp.Body)
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := crl.CheckSignatureFrom(w.OrgCertificate()); err != nil {
			t.Fatalf("CRL signature: %v", err)
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
				return true
			}
		}
		return false
	}
	if status() != ocsp.Good || crlHas() {
		t.Fatal("fresh client certificate not good")
	}
	if err := w.RevokeClient(app.Address); err != nil {
		t.Fatal(err)
	}
	if status() != ocsp.Revoked || !crlHas() {
		t.Fatal("revoked client certificate still good")
	}
}

// The HTTPS autoconfig endpoint serves each domain with both families, STARTTLS only, and what it
// serves is what the autoconfig client selects (ECO.1.1.9).
func TestAutoconfigEndpoint(t *testing.T) {
	w := world(t)
	hc := policy(t, w).AutoconfigHTTPClient()
	for _, a := range w.Config.Accounts {
		if a.Kind == "patient" {
			continue
		}
		cfg, err := autoconfig.Discover(context.Background(), a.Address, autoconfig.Options{BaseURL: w.Env().AutoconfigURL, HTTPClient: hc})
		if err != nil {
			t.Fatalf("%s: %v", a.Address, err)
		}
		for _, fam := range []autoconfig.Family{autoconfig.FamilyPersonal, autoconfig.FamilyApplicative} {
			s, err := cfg.Select(fam)
			if err != nil {
				t.Fatalf("%s %s: %v", a.Address, fam, err)
			}
			if s.IMAP.Addr() != localhostAddr(t, w.Config.IMAP) || s.SMTP.Addr() != localhostAddr(t, w.Config.SMTP) || s.IMAP.SocketType != "STARTTLS" ||
				s.SMTP.Username != a.Address {
				t.Errorf("%s %s: %+v", a.Address, fam, s)
			}
		}
		if cfg.OAuth2 == nil || cfg.OAuth2.Issuer != w.PSC.Issuer {
			t.Errorf("oAuth2 element %+v", cfg.OAuth2)
		}
	}
	_, err := autoconfig.Discover(context.Background(), "x@ailleurs.test", autoconfig.Options{BaseURL: w.Env().AutoconfigURL, HTTPClient: hc})
	if !errors.Is(err, autoconfig.ErrNotFound) {
		t.Errorf("foreign domain: %v, want ErrNotFound", err)
	}
}

// The seed: accounts of every kind, test patients (qualified INS under the test OID, one closed
// mailbox, one without INS), a directory extraction in the 31-column format, seed mails with XDM.
func TestSeed(t *testing.T) {
	w := world(t)
	kinds := map[string]int{}
	for _, a := range w.Config.Accounts {
		kinds[a.Kind]++
	}
	if kinds["personal"] < 2 || kinds["organisational"] < 1 || kinds["applicative"] != 1 || kinds["patient"] != 2 {
		t.Errorf("accounts by kind: %v", kinds)
	}
	var noINS, closed int
	for _, p := range w.Config.Patients {
		if p.INS == "" {
			noINS++
		}
		if p.Closed {
			closed++
		}
	}
	if noINS != 1 || closed != 1 {
		t.Errorf("patients: %d without INS, %d closed", noINS, closed)
	}
	f, err := os.Open(filepath.Join(w.DataDir, directoryFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var addrs []string
	st, err := annuaire.ReadExtraction(f, func(e annuaire.Entry) error { addrs = append(addrs, e.Address); return nil })
	if err != nil || st.BadLines != 0 || len(st.Warnings) != 0 || st.Rows != 5 {
		t.Fatalf("extraction: %+v %v", st, err)
	}
	if !w.Config.Seeded {
		t.Fatal("seed mails not delivered")
	}
	jeanne := w.Config.Accounts[0]
	ic, err := lps.DialIMAP(context.Background(), endpoint(t, w.Config.IMAP), xoauth(t, w, jeanne.Address, jeanne.NationalID), &lps.Options{TLS: policy(t, w).ClientConfig("", nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if _, err := ic.Select(context.Background(), "INBOX"); err != nil {
		t.Fatal(err)
	}
	uids, err := ic.Search(context.Background(), lps.Criteria{})
	if err != nil || len(uids) == 0 {
		t.Fatalf("seeded inbox: %v %v", uids, err)
	}
	var body bytes.Buffer
	if _, err := ic.FetchBody(context.Background(), uids[0], &body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body.String(), "IHE_XDM.zip") || !strings.Contains(body.String(), "X-MSS-INS") {
		t.Error("seed mail without IHE_XDM.zip or X-MSS-INS")
	}
}

// FetchToken refuses an unknown professional and says when the sandbox is not running; a Token
// never prints itself.
func TestFetchToken_errors(t *testing.T) {
	w := startWorld(t, t.TempDir(), true)
	if _, err := FetchToken(context.Background(), w.DataDir, "899700999999"); err == nil || !strings.Contains(err.Error(), "899700200016") {
		t.Errorf("unknown professional: %v", err)
	}
	tok, err := FetchToken(context.Background(), w.DataDir, w.Config.Professionals[0].NationalID)
	if err != nil {
		t.Fatal(err)
	}
	if s := tok.String(); strings.Contains(s, tok.AccessToken) {
		t.Error("Token.String shows the token")
	}
	_ = w.Close()
	if _, err := FetchToken(context.Background(), w.DataDir, w.Config.Professionals[0].NationalID); !errors.Is(err, ErrNotRunning) {
		t.Errorf("stopped sandbox: %v, want ErrNotRunning", err)
	}
	if _, err := FetchToken(context.Background(), t.TempDir(), "899700200016"); !errors.Is(err, ErrNoSandbox) {
		t.Errorf("empty dir: %v, want ErrNoSandbox", err)
	}
	_ = time.Second
}

// Mailboxes follows the operator's rule: own personal mailbox, then the organisational ones.
func TestWorld_Mailboxes(t *testing.T) {
	w := &World{Config: seedConfig(DefaultProDomain, DefaultOrgDomain, DefaultPatientDomain)}
	for _, p := range w.Config.Professionals {
		got := w.Mailboxes(p.NationalID)
		if strings.Join(got, ",") != strings.Join(p.Mailboxes, ",") {
			t.Errorf("%s: Mailboxes %v, the PSC emulator announces %v", p.NationalID, got, p.Mailboxes)
		}
	}
	if got := w.Mailboxes("899700999999"); len(got) != 0 {
		t.Errorf("unknown professional: %v", got)
	}
}

// The home page of the autoconfig host lists the accounts, in French, HTML-escaped.
func TestIndexPage(t *testing.T) {
	w := world(t)
	resp, err := policy(t, w).AutoconfigHTTPClient().Get(w.Env().AutoconfigURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, a := range w.Config.Accounts {
		if !strings.Contains(string(body), a.Address) {
			t.Errorf("home page lacks %s", a.Address)
		}
	}
	if !strings.Contains(string(body), "Environnement de TEST") || !strings.Contains(string(body), "CHÂTEAU") {
		t.Errorf("home page:\n%s", body)
	}
}
