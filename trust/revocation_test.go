package trust

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mssante/mssante/internal/testpki"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fakeEndpoint answers every CRL request with crl and every OCSP request with ocspResp (503 when
// nil).
func fakeEndpoint(crl, ocspResp []byte) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		body := crl
		if r.Method == http.MethodPost {
			body = ocspResp
		}
		if body == nil {
			return &http.Response{StatusCode: 503, Status: "503 Service Unavailable", Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		}
		return &http.Response{StatusCode: 200, Status: "200 OK", Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
	})}
}

func checker(client *http.Client, now time.Time, cacheDir string) *revocationChecker {
	return newRevocationChecker(Options{HTTPClient: client, Now: func() time.Time { return now }, CRLCacheDir: cacheDir,
		CRLRefresh: -1, MaxCRLSize: 1 << 20}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func mustCRL(t *testing.T, p *testpki.PKI, ca *testpki.CA) []byte {
	t.Helper()
	der, err := p.CRL(ca)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func ocspFor(t *testing.T, ca *testpki.CA, cert *x509.Certificate, status int, this, next time.Time) []byte {
	t.Helper()
	resp, err := ocsp.CreateResponse(ca.Cert, ca.Cert, ocsp.Response{SerialNumber: cert.SerialNumber, Status: status,
		ThisUpdate: this, NextUpdate: next, RevokedAt: this}, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestRevocation_rules exercises the CRL and OCSP checks one rule at a time (ECO.1.1.6, 1.1.7).
func TestRevocation_rules(t *testing.T) {
	now := time.Now()
	pki := testpki.New(t, testpki.Options{})
	// Same names, other keys: a forger of CRLs and OCSP answers.
	forger := testpki.New(t, testpki.Options{})
	crlOnly := pki.Issue(testpki.LeafOptions{Names: []string{"a.test"}, NoOCSP: true}).Cert
	ocspOnly := pki.Issue(testpki.LeafOptions{Names: []string{"b.test"}, NoCRL: true}).Cert
	neither := pki.Issue(testpki.LeafOptions{Names: []string{"c.test"}, NoCRL: true, NoOCSP: true}).Cert
	// Both a CRL distribution point and an OCSP responder, as operators' certificates usually
	// have: the responder is asked even when the CRL says "not revoked" (it is fresher).
	both := pki.Issue(testpki.LeafOptions{Names: []string{"d.test"}}).Cert
	goodCRL := mustCRL(t, pki, pki.Org)

	tests := []struct {
		name      string
		cert      *x509.Certificate
		issuer    *x509.Certificate
		crl, ocsp []byte
		now       time.Time
		rule      string // "" means accepted
	}{
		{"CRL good", crlOnly, pki.Org.Cert, goodCRL, nil, now, ""},
		{"CRL forged signature", crlOnly, pki.Org.Cert, mustCRL(t, forger, forger.Org), nil, now, RuleRevocationUnknown},
		{"CRL of another issuer", crlOnly, pki.Org.Cert, mustCRL(t, pki, pki.Root), nil, now, RuleRevocationUnknown},
		{"CRL past nextUpdate", crlOnly, pki.Org.Cert, goodCRL, nil, now.Add(2 * time.Hour), RuleRevocationUnknown},
		{"CRL from the future", crlOnly, pki.Org.Cert, goodCRL, nil, now.Add(-time.Hour), RuleRevocationUnknown},
		{"CRL garbage", crlOnly, pki.Org.Cert, []byte("not a crl"), nil, now, RuleRevocationUnknown},
		{"CRL oversized", crlOnly, pki.Org.Cert, make([]byte, 2<<20), nil, now, RuleRevocationUnknown},
		{"OCSP good", ocspOnly, pki.Org.Cert, nil, ocspFor(t, pki.Org, ocspOnly, ocsp.Good, now.Add(-time.Minute), now.Add(time.Hour)), now, ""},
		{"OCSP revoked", ocspOnly, pki.Org.Cert, nil, ocspFor(t, pki.Org, ocspOnly, ocsp.Revoked, now.Add(-time.Minute), now.Add(time.Hour)), now, RuleRevokedOCSP},
		{"OCSP unknown", ocspOnly, pki.Org.Cert, nil, ocspFor(t, pki.Org, ocspOnly, ocsp.Unknown, now.Add(-time.Minute), now.Add(time.Hour)), now, RuleRevocationUnknown},
		{"OCSP forged", ocspOnly, pki.Org.Cert, nil, ocspFor(t, forger.Org, ocspOnly, ocsp.Good, now.Add(-time.Minute), now.Add(time.Hour)), now, RuleRevocationUnknown},
		{"OCSP stale", ocspOnly, pki.Org.Cert, nil, ocspFor(t, pki.Org, ocspOnly, ocsp.Good, now.Add(-2*time.Hour), now.Add(-time.Hour)), now, RuleRevocationUnknown},
		{"OCSP no nextUpdate, old", ocspOnly, pki.Org.Cert, nil, ocspFor(t, pki.Org, ocspOnly, ocsp.Good, now.Add(-72*time.Hour), time.Time{}), now, RuleRevocationUnknown},
		{"OCSP from the future", ocspOnly, pki.Org.Cert, nil, ocspFor(t, pki.Org, ocspOnly, ocsp.Good, now.Add(time.Hour), now.Add(2*time.Hour)), now, RuleRevocationUnknown},
		{"OCSP endpoint down", ocspOnly, pki.Org.Cert, nil, nil, now, RuleRevocationUnknown},
		{"both: CRL good, OCSP revoked", both, pki.Org.Cert, goodCRL, ocspFor(t, pki.Org, both, ocsp.Revoked, now.Add(-time.Minute), now.Add(time.Hour)), now, RuleRevokedOCSP},
		{"both: CRL good, OCSP good", both, pki.Org.Cert, goodCRL, ocspFor(t, pki.Org, both, ocsp.Good, now.Add(-time.Minute), now.Add(time.Hour)), now, ""},
		{"both: CRL good, OCSP down", both, pki.Org.Cert, goodCRL, nil, now, ""},
		{"both: CRL good, OCSP unknown", both, pki.Org.Cert, goodCRL, ocspFor(t, pki.Org, both, ocsp.Unknown, now.Add(-time.Minute), now.Add(time.Hour)), now, ""},
		{"both: CRL down, OCSP good", both, pki.Org.Cert, nil, ocspFor(t, pki.Org, both, ocsp.Good, now.Add(-time.Minute), now.Add(time.Hour)), now, ""},
		{"both: CRL down, OCSP down", both, pki.Org.Cert, nil, nil, now, RuleRevocationUnknown},
		{"no revocation information", neither, pki.Org.Cert, goodCRL, nil, now, RuleRevocationUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checker(fakeEndpoint(tt.crl, tt.ocsp), tt.now, "").check(context.Background(), tt.cert, tt.issuer)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *RefusalError
			if !errors.As(err, &re) || re.Rule != tt.rule {
				t.Fatalf("error = %v, want rule %q", err, tt.rule)
			}
		})
	}
}

// TestRevocation_intermediateRevoked: the ORG intermediate revoked in the root's CRL refuses its
// servers (ECO.1.1.6 applies to the whole chain).
func TestRevocation_intermediateRevoked(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	pki.Revoke(pki.Org.Cert)
	err := checker(fakeEndpoint(mustCRL(t, pki, pki.Root), nil), time.Now(), "").check(context.Background(), pki.Org.Cert, pki.Root.Cert)
	var re *RefusalError
	if !errors.As(err, &re) || re.Rule != RuleRevokedCRL || !strings.Contains(re.Subject, "ORGANISATIONS") {
		t.Fatalf("error = %v, want the intermediate revoked (CRL)", err)
	}
}

// TestRevocation_cacheFiles: ECO.1.1.7, the cache holds the last valid CRL only; a corrupt or
// foreign cache file is ignored, and a forged download never replaces a valid cached CRL.
func TestRevocation_cacheFiles(t *testing.T) {
	now := time.Now()
	pki := testpki.New(t, testpki.Options{})
	forger := testpki.New(t, testpki.Options{})
	leaf := pki.Issue(testpki.LeafOptions{Names: []string{"a.test"}, NoOCSP: true}).Cert
	dir := t.TempDir()
	ctx := context.Background()
	if err := checker(fakeEndpoint(mustCRL(t, pki, pki.Org), nil), now, dir).check(ctx, leaf, pki.Org.Cert); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.crl"))
	if len(files) != 1 {
		t.Fatalf("cache files = %v, want one", files)
	}
	cached, _ := os.ReadFile(files[0])
	// A forged CRL is downloaded: refused as a CRL, the cached one serves, and stays.
	if err := checker(fakeEndpoint(mustCRL(t, forger, forger.Org), nil), now, dir).check(ctx, leaf, pki.Org.Cert); err != nil {
		t.Fatalf("forged download with a valid cache: %v", err)
	}
	if again, _ := os.ReadFile(files[0]); !bytes.Equal(again, cached) {
		t.Error("a forged CRL replaced the cached one")
	}
	// A corrupt cache file is ignored: endpoint down, refused.
	if err := os.WriteFile(files[0], []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := checker(fakeEndpoint(nil, nil), now, dir).check(ctx, leaf, pki.Org.Cert)
	if !errors.Is(err, ErrRevocationUnknown) {
		t.Fatalf("corrupt cache, endpoint down: %v", err)
	}
}

// largeCRL returns a CRL of pki's ORG intermediate with n revoked entries (not the leaf).
func largeCRL(b *testing.B, pki *testpki.PKI, n int) []byte {
	b.Helper()
	entries := make([]x509.RevocationListEntry, n)
	now := time.Now()
	for i := range entries {
		entries[i] = x509.RevocationListEntry{SerialNumber: new(big.Int).Lsh(big.NewInt(int64(i+1)), 64), RevocationTime: now.Add(-time.Hour)}
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Minute),
		NextUpdate: now.Add(time.Hour), RevokedCertificateEntries: entries}, pki.Org.Cert, pki.Org.Key)
	if err != nil {
		b.Fatal(err)
	}
	return der
}

// BenchmarkRevocationCheck measures a CRL check against a 100,000-entry CRL: served from the
// memory cache (the usual case, CRLRefresh), and downloaded, verified and indexed at each check.
//
//	go test -run XXX -bench RevocationCheck -benchmem ./trust
func BenchmarkRevocationCheck(b *testing.B) {
	pki, err := testpki.Generate(testpki.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer pki.Close()
	leaf := pki.Issue(testpki.LeafOptions{Names: []string{"a.test"}, NoOCSP: true}).Cert
	crl := largeCRL(b, pki, 100_000)
	b.Logf("CRL of 100,000 entries: %d bytes", len(crl))
	ctx := context.Background()
	for _, bc := range []struct {
		name    string
		refresh time.Duration
	}{{"cached", time.Hour}, {"download", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			r := checker(fakeEndpoint(crl, nil), time.Now(), "")
			r.refresh, r.maxCRL = bc.refresh, 64<<20
			for b.Loop() {
				if err := r.check(ctx, leaf, pki.Org.Cert); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// barrierClient forwards requests to the real endpoint only once want of them are in flight
// together; a checker that asks one after the other never gets there and sees every request
// fail after wait.
func barrierClient(want int, wait time.Duration) (*http.Client, func() int) {
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		arrived++
		if arrived == want {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(wait):
			return nil, errors.New("barrier: the other requests of the chain were not asked meanwhile")
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	return client, func() int { mu.Lock(); defer mu.Unlock(); return arrived }
}

// TestRevocation_chainAtOnce: the CRL and the OCSP answer of the leaf and of the intermediate are
// asked at the same time (ECO.1.1.6 on the whole chain, with the wait of one round trip instead of
// four): the endpoint answers only once all four requests are in flight.
func TestRevocation_chainAtOnce(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	pki.ServeRevocation()
	leaf := pki.Issue(testpki.LeafOptions{Names: []string{"a.test"}}).Cert
	chain := []*x509.Certificate{leaf, pki.Org.Cert, pki.Root.Cert}
	client, arrived := barrierClient(4, 10*time.Second)
	r := newRevocationChecker(Options{HTTPClient: client, Now: time.Now, CRLRefresh: -1},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := r.checkChain(context.Background(), chain); err != nil {
		t.Fatalf("checkChain: %v", err)
	}
	if n := arrived(); n != 4 {
		t.Errorf("%d requests, want 4 (CRL and OCSP of two certificates)", n)
	}
}

// TestRevocation_chainFirstFailure: checked at once, a chain still reports the refusal of the
// certificate nearest the leaf (here both the leaf and the intermediate are revoked), and an
// intermediate revoked alone refuses the chain.
func TestRevocation_chainFirstFailure(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	pki.ServeRevocation()
	leaf := pki.Issue(testpki.LeafOptions{Names: []string{"a.test"}}).Cert
	chain := []*x509.Certificate{leaf, pki.Org.Cert, pki.Root.Cert}
	r := newRevocationChecker(Options{HTTPClient: http.DefaultClient, Now: time.Now, CRLRefresh: -1},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	pki.Revoke(pki.Org.Cert)
	var re *RefusalError
	if err := r.checkChain(context.Background(), chain); !errors.As(err, &re) || re.Rule != RuleRevokedCRL ||
		!strings.Contains(re.Subject, "ORGANISATIONS") {
		t.Fatalf("intermediate revoked: %v", err)
	}
	pki.Revoke(leaf)
	if err := r.checkChain(context.Background(), chain); !errors.As(err, &re) || re.Rule != RuleRevokedCRL ||
		strings.Contains(re.Subject, "ORGANISATIONS") {
		t.Fatalf("leaf and intermediate revoked: %v, want the leaf's refusal", err)
	}
}

// BenchmarkRevocationChain measures the revocation check of a leaf and its intermediate (CRL and
// OCSP each, downloaded at every check as the CLI does) with a publication point 5 ms away: the
// wait is about one round trip (requests at once), not four.
//
//	go test -run XXX -bench RevocationChain ./trust
func BenchmarkRevocationChain(b *testing.B) {
	pki, err := testpki.Generate(testpki.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer pki.Close()
	pki.ServeRevocation()
	leaf := pki.Issue(testpki.LeafOptions{Names: []string{"a.test"}}).Cert
	chain := []*x509.Certificate{leaf, pki.Org.Cert, pki.Root.Cert}
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		time.Sleep(5 * time.Millisecond) // the network between the client and the publication point
		return http.DefaultTransport.RoundTrip(r)
	})}
	r := newRevocationChecker(Options{HTTPClient: client, Now: time.Now, CRLRefresh: -1},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	for b.Loop() {
		if err := r.checkChain(context.Background(), chain); err != nil {
			b.Fatal(err)
		}
	}
}
