package trust

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/internal/testpki"
)

// sServer starts `openssl s_server` on 127.0.0.1 (random port) with the given certificate and
// extra arguments, and returns its address. It is killed in t.Cleanup.
func sServer(t *testing.T, leaf *testpki.Leaf, args ...string) string {
	t.Helper()
	openssl := testkit.LookPath(t, "openssl")
	dir := t.TempDir()
	certFile, keyFile, _ := leaf.WriteFiles(t, dir, "server")
	chain := filepath.Join(dir, "issuer.pem")
	if err := writeFile(chain, pemCert(leaf.TLS.Certificate[1])); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"s_server", "-accept", "127.0.0.1:0", "-cert", certFile, "-key", keyFile,
		"-cert_chain", chain}, args...)
	cmd := exec.Command(openssl, argv...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// s_server ends a session when its standard input reaches EOF: keep it open.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "ACCEPT "); ok {
				lines <- addr
			}
		}
		close(lines)
	}()
	select {
	case addr, ok := <-lines:
		if !ok {
			t.Fatalf("openssl s_server %v exited: %s", args, stderr.String())
		}
		return addr
	case <-time.After(10 * time.Second):
		t.Fatalf("openssl s_server %v did not start: %s", args, stderr.String())
	}
	return ""
}

// connect dials addr and runs the policy's handshake for serverName.
func connect(t *testing.T, p *Policy, addr, serverName string, cert *tls.Certificate) (*tls.ConnectionState, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc, err := p.Handshake(ctx, conn, serverName, cert)
	if err != nil {
		return nil, err
	}
	cs := tc.ConnectionState()
	return &cs, nil
}

func newTestPolicy(t *testing.T, pki *testpki.PKI, o Options) *Policy {
	t.Helper()
	o.ExtraRoots = []*x509.Certificate{pki.Root.Cert}
	if o.OrgIntermediates == nil {
		o.OrgIntermediates = []*x509.Certificate{pki.Org.Cert}
	}
	if o.CRLCacheDir == "" {
		o.CRLCacheDir = t.TempDir()
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantRefusal(t *testing.T, err error, rule string, is error) {
	t.Helper()
	var re *RefusalError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v (%T), want a refusal by rule %q", err, err, rule)
	}
	if re.Rule != rule {
		t.Fatalf("refused by rule %q, want %q: %v", re.Rule, rule, err)
	}
	if is != nil && !errors.Is(err, is) {
		t.Fatalf("error %v does not wrap %v", err, is)
	}
	if !strings.Contains(err.Error(), rule) {
		t.Fatalf("error text %q does not name the rule", err)
	}
	t.Logf("refused as expected: %v", err)
}

// TestHandshake_negativeMatrix runs the policy against real OpenSSL servers, one per weakness.
// Server keys are RSA: the TLS 1.2 suites of the referential are ECDHE-RSA ones.
func TestHandshake_negativeMatrix(t *testing.T) {
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	good := pki.Server("localhost", "127.0.0.1")
	policy := newTestPolicy(t, pki, Options{})

	t.Run("good server TLS 1.3 connects ECO.1.1.2", func(t *testing.T) {
		cs, err := connect(t, policy, sServer(t, good), "localhost", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cs.Version != tls.VersionTLS13 {
			t.Errorf("version = %x, want TLS 1.3 by default", cs.Version)
		}
	})
	t.Run("MaxVersion pins TLS 1.2 ECO.1.1.2", func(t *testing.T) {
		cs, err := connect(t, newTestPolicy(t, pki, Options{MaxVersion: tls.VersionTLS12}), sServer(t, good), "localhost", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cs.Version != tls.VersionTLS12 {
			t.Errorf("version = %x, want TLS 1.2", cs.Version)
		}
		if _, err := New(Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert}, MaxVersion: tls.VersionTLS11}); err == nil {
			t.Error("MaxVersion TLS 1.1 accepted (ECO.1.1.1)")
		}
	})
	t.Run("good server TLS 1.2 connects with an AES-GCM suite ECO.1.1.1 ECO.1.1.3", func(t *testing.T) {
		cs, err := connect(t, policy, sServer(t, good, "-tls1_2"), "127.0.0.1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cs.Version != tls.VersionTLS12 || !slices.Contains(Suites[:2], cs.CipherSuite) {
			t.Errorf("negotiated %x %s, want TLS 1.2 C030 or C02F", cs.Version, tls.CipherSuiteName(cs.CipherSuite))
		}
	})
	t.Run("TLS 1.2 only C030 connects ECO.1.1.3", func(t *testing.T) {
		cs, err := connect(t, policy, sServer(t, good, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"), "localhost", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cs.CipherSuite != tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 {
			t.Errorf("suite = %s", tls.CipherSuiteName(cs.CipherSuite))
		}
	})
	t.Run("TLS 1.2 only C027 connects ECO.1.1.3", func(t *testing.T) {
		cs, err := connect(t, policy, sServer(t, good, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256"), "localhost", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cs.CipherSuite != tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256 {
			t.Errorf("suite = %s", tls.CipherSuiteName(cs.CipherSuite))
		}
	})
	t.Run("TLS 1.1 only refused ECO.1.1.1", func(t *testing.T) {
		_, err := connect(t, policy, sServer(t, good, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"), "localhost", nil)
		wantRefusal(t, err, RuleTLSVersion, ErrProtocolVersion)
	})
	for _, suite := range []string{"AES128-SHA256", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"} {
		t.Run("TLS 1.2 unlisted suite "+suite+" refused ECO.1.1.3", func(t *testing.T) {
			_, err := connect(t, policy, sServer(t, good, "-tls1_2", "-cipher", suite), "localhost", nil)
			wantRefusal(t, err, RuleCipherSuite, ErrNoCommonSuite)
		})
	}
	t.Run("DHE 1024-bit group refused ECO.1.1.3", func(t *testing.T) {
		openssl := testkit.LookPath(t, "openssl")
		dh := filepath.Join(t.TempDir(), "dh1024.pem")
		if out, err := exec.Command(openssl, "dhparam", "-dsaparam", "-out", dh, "1024").CombinedOutput(); err != nil {
			t.Fatalf("openssl dhparam: %v\n%s", err, out)
		}
		_, err := connect(t, policy, sServer(t, good, "-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0",
			"-dhparam", dh), "localhost", nil)
		wantRefusal(t, err, RuleCipherSuite, ErrNoCommonSuite)
	})
	t.Run("only an ECDHE group outside X25519/P-256/P-384 refused ECO.1.1.3", func(t *testing.T) {
		_, err := connect(t, policy, sServer(t, good, "-groups", "P-521"), "localhost", nil)
		wantRefusal(t, err, RuleCipherSuite, ErrNoCommonSuite)
		if !strings.Contains(err.Error(), "X25519, P-256, P-384") {
			t.Errorf("refusal %q does not name the groups offered", err)
		}
	})
	t.Run("expired certificate refused ECO.1.1.5", func(t *testing.T) {
		leaf := pki.Issue(testpki.LeafOptions{Names: []string{"localhost"}, Expired: true})
		_, err := connect(t, policy, sServer(t, leaf), "localhost", nil)
		wantRefusal(t, err, RuleExpired, nil)
	})
	t.Run("revoked in the CRL refused ECO.1.1.6", func(t *testing.T) {
		leaf := pki.Issue(testpki.LeafOptions{Names: []string{"localhost"}, NoOCSP: true})
		pki.Revoke(leaf.Cert)
		// A fresh policy: the other one keeps the CRL it downloaded for CRLRefresh (1 h).
		_, err := connect(t, newTestPolicy(t, pki, Options{}), sServer(t, leaf), "localhost", nil)
		wantRefusal(t, err, RuleRevokedCRL, ErrRevoked)
	})
	t.Run("revoked in OCSP refused ECO.1.1.6", func(t *testing.T) {
		leaf := pki.Issue(testpki.LeafOptions{Names: []string{"localhost"}, NoCRL: true})
		pki.Revoke(leaf.Cert)
		_, err := connect(t, policy, sServer(t, leaf), "localhost", nil)
		wantRefusal(t, err, RuleRevokedOCSP, ErrRevoked)
	})
	t.Run("issued by another CA refused ECO.1.1.10", func(t *testing.T) {
		foreign := testpki.New(t, testpki.Options{RSA: true, Name: "FOREIGN"})
		_, err := connect(t, policy, sServer(t, foreign.Server("localhost")), "localhost", nil)
		wantRefusal(t, err, RuleUntrusted, nil)
	})
	t.Run("issued by a non-ORGANISATIONS intermediate refused ECO.1.1.10", func(t *testing.T) {
		personnes := pki.Intermediate("AC IGC-SANTE ELEMENTAIRE PERSONNES")
		leaf := pki.IssueFrom(personnes, testpki.LeafOptions{Names: []string{"localhost"}})
		_, err := connect(t, policy, sServer(t, leaf), "localhost", nil)
		wantRefusal(t, err, RuleNotOrganisation, nil)
	})
	t.Run("server name mismatch refused", func(t *testing.T) {
		_, err := connect(t, policy, sServer(t, good), "imap.other.test", nil)
		wantRefusal(t, err, RuleHostname, nil)
	})
	t.Run("ClientConfig without server name, cloned with one, still checks it", func(t *testing.T) {
		addr := sServer(t, good)
		for name, wantErr := range map[string]bool{"127.0.0.1": false, "imap.other.test": true} {
			cfg := policy.ClientConfig("", nil).Clone()
			cfg.ServerName = name
			conn, err := tls.Dial("tcp", addr, cfg)
			if err == nil {
				_ = conn.Close()
			}
			if (err != nil) != wantErr {
				t.Errorf("server name %s: err = %v, want error %v", name, err, wantErr)
			}
			if wantErr {
				wantRefusal(t, ClassifyHandshakeError(err, name), RuleHostname, nil)
			}
		}
	})
	t.Run("client certificate presented to a server requiring one ECO.1.1.10", func(t *testing.T) {
		dir := t.TempDir()
		if err := pki.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		addr := sServer(t, good, "-tls1_2", "-Verify", "1", "-CAfile", filepath.Join(dir, "ca.pem"))
		cli := pki.Client("499700000000001", "appli@test.mssante.fr")
		if _, err := connect(t, policy, addr, "localhost", &cli.TLS); err != nil {
			t.Fatal(err)
		}
		if _, err := connect(t, policy, addr, "localhost", nil); err == nil {
			t.Error("handshake without client certificate succeeded against -Verify 1")
		}
	})
}

// TestHandshake_crlCache proves ECO.1.1.7 with a real server: the last valid CRL is kept on disk
// and used while the endpoint is down, until its nextUpdate; then the connection is refused
// (ECO.1.1.6 fail closed).
func TestHandshake_crlCache(t *testing.T) {
	pki := testpki.New(t, testpki.Options{RSA: true, CRLValidity: time.Hour})
	pki.ServeRevocation()
	leaf := pki.Issue(testpki.LeafOptions{Names: []string{"localhost"}, NoOCSP: true})
	addr := sServer(t, leaf)
	cache := t.TempDir()
	o := Options{CRLCacheDir: cache, CRLRefresh: -1}

	if _, err := connect(t, newTestPolicy(t, pki, o), addr, "localhost", nil); err != nil {
		t.Fatalf("first connection (endpoint up): %v", err)
	}
	pki.SetRevocationDown(true)

	t.Run("endpoint down with valid cached CRL connects ECO.1.1.7", func(t *testing.T) {
		if _, err := connect(t, newTestPolicy(t, pki, o), addr, "localhost", nil); err != nil {
			t.Fatalf("connection with the cached CRL: %v", err)
		}
	})
	t.Run("cached CRL expired and endpoint down refused ECO.1.1.6 ECO.1.1.7", func(t *testing.T) {
		later := o
		later.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		_, err := connect(t, newTestPolicy(t, pki, later), addr, "localhost", nil)
		wantRefusal(t, err, RuleRevocationUnknown, ErrRevocationUnknown)
	})
	t.Run("endpoint down and no cache refused ECO.1.1.6", func(t *testing.T) {
		_, err := connect(t, newTestPolicy(t, pki, Options{CRLRefresh: -1}), addr, "localhost", nil)
		wantRefusal(t, err, RuleRevocationUnknown, ErrRevocationUnknown)
	})
	t.Run("skip revocation relaxation connects", func(t *testing.T) {
		if _, err := connect(t, newTestPolicy(t, pki, Options{SkipRevocation: true}), addr, "localhost", nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestClassifyHandshakeError_missingIntermediate: a server that sends its certificate without the
// ORGANISATIONS intermediate, under --trust-root with the root only, is refused by ECO.1.1.10 and
// the message says the intermediate was not sent (found by acceptance QA).
func TestClassifyHandshakeError_missingIntermediate(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	leaf := pki.Server("mail.operateur.test").Cert
	err := ClassifyHandshakeError(&tls.CertificateVerificationError{UnverifiedCertificates: []*x509.Certificate{leaf},
		Err: x509.UnknownAuthorityError{Cert: leaf}}, "mail.operateur.test")
	wantRefusal(t, err, RuleUntrusted, nil)
	if !strings.Contains(err.Error(), "sent no intermediate") {
		t.Errorf("error %q does not say the intermediate is missing", err)
	}
	withChain := ClassifyHandshakeError(&tls.CertificateVerificationError{UnverifiedCertificates: []*x509.Certificate{leaf, pki.Org.Cert},
		Err: x509.UnknownAuthorityError{Cert: leaf}}, "mail.operateur.test")
	if strings.Contains(withChain.Error(), "sent no intermediate") {
		t.Errorf("complete chain reported as missing its intermediate: %v", withChain)
	}
}
