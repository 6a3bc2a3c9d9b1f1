package psc_test

import (
	"crypto/tls"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/pscemu"
	"github.com/mssante/mssante/internal/testpki"
)

// CIBA with client authentication by TLS client certificate (tls_client_auth): no secret is
// sent, the certificate in the HTTP client authenticates mssante.
func TestCIBA_mutualTLSClientAuth(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	srv := pki.Server("127.0.0.1")
	emu := startEmu(t, pscemu.Options{TLS: &tls.Config{Certificates: []tls.Certificate{srv.TLS},
		ClientCAs: pki.RootPool(), ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}})
	leaf := pki.Client("499700000000001", "lps@test.mssante.fr")
	httpClient := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pki.RootPool(), Certificates: certs, MinVersion: tls.VersionTLS12}}}
	}
	cfg := psc.Config{Issuer: emu.Issuer, ClientID: emu.ClientID(), HTTPClient: httpClient(leaf.TLS)}
	c, err := psc.New(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.StartCIBA(ctxT(t), psc.CIBARequest{LoginHint: camille, Channel: psc.ChannelMobile})
	if err != nil {
		t.Fatalf("CIBA with a client certificate: %v", err)
	}
	if err := emu.Approve(pendingFor(t, emu, a.BindingMessage).AuthReqID); err != nil {
		t.Fatal(err)
	}
	if tok, err := c.PollCIBA(ctxT(t), a); err != nil || tok.Claims.SubjectNameID != camille {
		t.Fatalf("poll: %v", err)
	}

	cfg.HTTPClient = httpClient()
	c, err = psc.New(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.StartCIBA(ctxT(t), psc.CIBARequest{LoginHint: camille})
	var oe *psc.OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_client" {
		t.Fatalf("CIBA without certificate nor secret: %v", err)
	}
}
