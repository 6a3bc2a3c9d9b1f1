package operator_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/sandbox/operator"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// Synthetic identities: national ids of invented professionals, patients' INS matricules with a
// valid key (test OID 1.2.250.1.213.1.4.10 in the sandbox seed).
const (
	alice        = "alice.martin@sandbox.mssante.test"
	bob          = "bob.durand@sandbox.mssante.test"
	secretariat  = "secretariat.cardio@hopital.sandbox.mssante.test"
	appli        = "dpi@hopital.sandbox.mssante.test"
	patient      = "285077512345655@patient.sandbox.mssante.test"
	closedPat    = "162039205432104@patient.sandbox.mssante.test"
	aliceID      = "810000000001"
	bobID        = "810000000002"
	orgID        = "499700000000001"
	otherOrgID   = "499700000000999"
	patientLimit = 4000 // bytes, instead of 25 MB, to keep the tests fast
)

func accounts() []operator.Account {
	return []operator.Account{
		{Address: alice, Kind: operator.KindPersonal, NationalIDs: []string{aliceID}},
		{Address: bob, Kind: operator.KindPersonal, NationalIDs: []string{bobID}},
		{Address: secretariat, Kind: operator.KindOrganisational, NationalIDs: []string{aliceID, bobID}},
		{Address: appli, Kind: operator.KindApplicative, OrgID: orgID},
		{Address: patient, Kind: operator.KindPatient},
		{Address: closedPat, Kind: operator.KindPatient, Closed: true},
	}
}

// tokenStub stands for the PSC emulator's validation: tokens it issued, with their claims.
type tokenStub struct {
	mu     sync.Mutex
	issued map[string]operator.Claims
}

func (s *tokenStub) issue(nationalID string, ttl time.Duration) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := "eyJ" + hex.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued[tok] = operator.Claims{SubjectNameID: nationalID, Expiry: time.Now().Add(ttl)}
	return tok
}

func (s *tokenStub) validate(_ context.Context, tok string) (operator.Claims, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.issued[tok]
	if !ok {
		return operator.Claims{}, errors.New("unknown token (bad signature)")
	}
	return c, nil
}

type world struct {
	t       *testing.T
	pki     *testpki.PKI
	dir     string
	srvCert tls.Certificate
	opts    operator.Options
	op      *operator.Operator
	tokens  *tokenStub
	policy  *trust.Policy
	appCert *tls.Certificate
}

// shared is one test PKI for the package: RSA key generation dominates the tests' time on a
// loaded machine. Tests only issue certificates from it (none revokes).
var shared struct {
	once             sync.Once
	pki              *testpki.PKI
	srvCert, appCert tls.Certificate
	err              error
}

func sharedPKI(t *testing.T) *testpki.PKI {
	t.Helper()
	shared.once.Do(func() {
		shared.pki, shared.err = testpki.Generate(testpki.Options{RSA: true})
		if shared.err != nil {
			return
		}
		shared.pki.ServeRevocation()
		shared.srvCert = shared.pki.Server("localhost", "127.0.0.1").TLS
		shared.appCert = shared.pki.Client(orgID, appli).TLS
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.pki
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.pki != nil {
		shared.pki.Close()
	}
	os.Exit(code)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	pki := sharedPKI(t)
	w := &world{t: t, pki: pki, dir: t.TempDir(), tokens: &tokenStub{issued: map[string]operator.Claims{}}}
	w.srvCert = shared.srvCert
	pool := x509.NewCertPool()
	pool.AddCert(pki.Root.Cert)
	w.opts = operator.Options{DataDir: w.dir, Certificate: w.srvCert, ClientCAs: pool,
		ClientIntermediates: []*x509.Certificate{pki.Org.Cert}, ValidateToken: w.tokens.validate,
		Accounts: accounts(), PatientMaxSize: patientLimit, MaxMessageSize: 200_000}
	var err error
	w.policy, err = trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert},
		OrgIntermediates: []*x509.Certificate{pki.Org.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	w.appCert = &shared.appCert
	w.start()
	return w
}

// start (re)starts the operator on the data directory.
func (w *world) start() {
	w.t.Helper()
	op, err := operator.New(w.opts)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := op.Start(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	w.op = op
	w.t.Cleanup(func() { _ = op.Close() })
}

func (w *world) restart() {
	w.t.Helper()
	if err := w.op.Close(); err != nil {
		w.t.Fatalf("Close: %v", err)
	}
	w.start()
}

func (w *world) lpsOpts() *lps.Options {
	return &lps.Options{TLS: w.policy.ClientConfig("", nil), ClassifyTLSError: trust.ClassifyHandshakeError,
		ReconnectDelay: 50 * time.Millisecond}
}

func (w *world) xoauth2(addr, nationalID string, ttl time.Duration) lps.Auth {
	return lps.Auth{Method: lps.AuthXOAUTH2, Address: addr,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return w.tokens.issue(nationalID, ttl), nil })}
}

func (w *world) certPlain() lps.Auth {
	return lps.Auth{Method: lps.AuthCertPlain, Address: appli, Certificate: w.appCert}
}

func (w *world) smtp(auth lps.Auth) *lps.SMTPClient {
	w.t.Helper()
	c, err := lps.DialSMTP(ctxT(w.t), ep(w.t, w.op.SMTPAddr()), auth, w.lpsOpts())
	if err != nil {
		w.t.Fatalf("DialSMTP %s: %v", auth.Address, err)
	}
	w.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (w *world) imap(auth lps.Auth) *lps.IMAPClient {
	w.t.Helper()
	c, err := lps.DialIMAP(ctxT(w.t), ep(w.t, w.op.IMAPAddr()), auth, w.lpsOpts())
	if err != nil {
		w.t.Fatalf("DialIMAP %s: %v", auth.Address, err)
	}
	w.t.Cleanup(func() { _ = c.Close() })
	return c
}

func ep(t testing.TB, s string) lps.Endpoint {
	t.Helper()
	e, err := lps.ParseEndpoint(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testMessage(from, to, subject string) []byte {
	return []byte(fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@sandbox.mssante.test>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCompte rendu de consultation, données de santé.\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano()))
}

// waitFor polls the INBOX of cl until a message with subject arrives; it returns its UID.
func waitFor(t *testing.T, cl *lps.IMAPClient, subject string) uint32 {
	t.Helper()
	return peertest.WaitForSubject(t, ctxT(t), cl, subject, 2500*time.Millisecond)
}

func fetch(t *testing.T, cl *lps.IMAPClient, uid uint32) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := cl.FetchBody(ctxT(t), uid, &b); err != nil {
		t.Fatalf("FetchBody(%d): %v", uid, err)
	}
	return b.Bytes()
}

func benchCert(b *testing.B) tls.Certificate {
	pki := testpki.New(b, testpki.Options{})
	return pki.Server("localhost").TLS
}
