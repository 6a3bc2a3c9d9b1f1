package doctor_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/doctor"
	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// serveAutoconfig publishes the autoconfig document of a real operator's servers over HTTPS
// (a certificate of pki), as an operator does at https://autoconfig.<domain> (ECO.1.1.9).
func serveAutoconfig(t *testing.T, pki *testpki.PKI, imap, smtp string) string {
	t.Helper()
	ih, ip, _ := net.SplitHostPort(imap)
	sh, sp, _ := net.SplitHostPort(smtp)
	doc := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1"><emailProvider id="test.mssante.fr"><domain>test.mssante.fr</domain>
<incomingServer type="imap"><hostname>%s</hostname><port>%s</port><socketType>STARTTLS</socketType><authentication>OAuth2</authentication><username>%%EMAILADDRESS%%</username></incomingServer>
<outgoingServer type="smtp"><hostname>%s</hostname><port>%s</port><socketType>STARTTLS</socketType><authentication>OAuth2</authentication><username>%%EMAILADDRESS%%</username></outgoingServer>
</emailProvider></clientConfig>`, ih, ip, sh, sp)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(doc))
	}))
	leaf := pki.Server("localhost", "127.0.0.1")
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// Against a real Dovecot and Postfix (XOAUTH2 validated by Dovecot), through autoconfig: every
// check passes; a wrong trust root names the trust rule at STARTTLS on both; an expired token
// says so. ECO.1.0.1, ECO.1.0.2, ECO.1.1.9, ECO.1.1.10, ECO.1.2.1.
func TestDoctor_dovecotPostfix(t *testing.T) {
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki})
	const box = "alice@test.mssante.fr"
	dir := t.TempDir()
	dbURL := store.DefaultURL(dir)
	db, err := store.Open(context.Background(), dbURL, audit.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	acURL := serveAutoconfig(t, pki, st.IMAP, st.Submission)
	options := func(root *x509.Certificate, ttl time.Duration) doctor.Options {
		rootFile := filepath.Join(dir, testpki.Fingerprint(root)+".pem")
		if err := os.WriteFile(rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o644); err != nil {
			t.Fatal(err)
		}
		pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{root}, CRLCacheDir: filepath.Join(dir, "crl"), CRLRefresh: -1})
		if err != nil {
			t.Fatal(err)
		}
		tok := st.Token(box, ttl)
		return doctor.Options{Profile: trust.ProfileTest, AnchorsDir: filepath.Join(dir, "trust"), CRLCacheDir: filepath.Join(dir, "crl"),
			TrustRoots: []string{rootFile}, Policy: pol, DBURL: dbURL, Migrations: audit.Migrations,
			Account: mailbox.Options{Address: box, AutoconfigURL: acURL,
				Credentials: mailbox.Credentials{Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return tok, nil })}}}
	}
	ctx := context.Background()

	rep := doctor.Run(ctx, options(pki.Root.Cert, time.Hour))
	wantFailed(t, rep)
	if c := rep.Check(doctor.CheckClock); c.Skipped {
		t.Errorf("clock = %+v", c)
	}

	// A wrong root with the servers given (autoconfig, served under the right PKI, would fail
	// first): STARTTLS names the rule on Dovecot and on Postfix.
	foreign := testpki.New(t, testpki.Options{Name: "FOREIGN", RSA: true})
	o := options(foreign.Root.Cert, time.Hour)
	o.Account.IMAP, _ = lps.ParseEndpoint(st.IMAP)
	o.Account.SMTP, _ = lps.ParseEndpoint(st.Submission)
	rep = doctor.Run(ctx, o)
	wantFailed(t, rep, doctor.CheckIMAPStartTLS, doctor.CheckSMTPStartTLS)
	for _, name := range []string{doctor.CheckIMAPStartTLS, doctor.CheckSMTPStartTLS} {
		if c := rep.Check(name); !strings.Contains(c.Verdict, trust.RuleUntrusted) || !strings.Contains(c.Fix, "--trust-root") {
			t.Errorf("%s = %+v", name, c)
		}
	}

	rep = doctor.Run(ctx, options(pki.Root.Cert, -time.Minute))
	c := wantFailed(t, rep, doctor.CheckIMAPAuth, doctor.CheckSMTPAuth)
	if !strings.HasPrefix(c.Verdict, "token expired at ") {
		t.Errorf("auth.imap = %+v", c)
	}
	if c := rep.Check(doctor.CheckSMTPAuth); !strings.HasPrefix(c.Verdict, "token expired at ") {
		t.Errorf("auth.smtp = %+v", c)
	}
}
