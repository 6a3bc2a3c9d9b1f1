package doctor_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/doctor"
	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/sandbox"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// world is an in-process sandbox and the doctor options of one of its mailboxes.
type world struct {
	w   *sandbox.World
	dir string
}

func startWorld(t *testing.T, ttl time.Duration) *world {
	t.Helper()
	dir := t.TempDir()
	any := "127.0.0.1:0"
	w, err := sandbox.Start(context.Background(), sandbox.Options{DataDir: filepath.Join(dir, "sandbox"), AccessTTL: ttl,
		IMAPAddr: any, SMTPAddr: any, HTTPSAddr: any, HTTPAddr: any, PSCAddr: any})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return &world{w: w, dir: dir}
}

func (w *world) account(kind string) sandbox.Account {
	for _, a := range w.w.Config.Accounts {
		if a.Kind == kind {
			return a
		}
	}
	panic("no " + kind + " account")
}

// options are the doctor options of a mailbox of kind "personal" (token) or "applicative"
// (certificate), with the sandbox root as --trust-root, servers from autoconfig, and a migrated
// SQLite database, as the CLI builds them.
func (w *world) options(t *testing.T, kind string, roots ...*x509.Certificate) doctor.Options {
	t.Helper()
	ctx := context.Background()
	a := w.account(kind)
	client := filepath.Join(w.dir, "client")
	o := doctor.Options{Profile: trust.ProfileTest, AnchorsDir: filepath.Join(client, "trust"), CRLCacheDir: filepath.Join(client, "crl"),
		TrustRoots: []string{w.w.TrustRoot()}, DBURL: store.DefaultURL(client), Migrations: audit.Migrations,
		Account: mailbox.Options{Address: a.Address, AutoconfigURL: w.w.Env().AutoconfigURL}}
	if kind == "applicative" {
		cert, err := mailbox.LoadClientCertificate(a.Cert, a.Key)
		if err != nil {
			t.Fatal(err)
		}
		o.Account.Credentials.Certificate = &cert
	} else {
		tok, err := sandbox.FetchToken(ctx, w.w.DataDir, a.NationalID)
		if err != nil {
			t.Fatal(err)
		}
		o.Account.Credentials.Tokens = lps.TokenSourceFunc(func(context.Context) (string, error) { return tok.AccessToken, nil })
	}
	if len(roots) == 0 {
		roots = []*x509.Certificate{w.w.RootCertificate()}
	}
	var err error
	o.Policy, err = trust.New(trust.Options{ExtraRoots: roots, CRLCacheDir: o.CRLCacheDir, CRLRefresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, o.DBURL, audit.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return o
}

// wantFailed checks that exactly the named checks failed (skipped ones aside), and returns the
// first.
func wantFailed(t *testing.T, rep *doctor.Report, names ...string) doctor.Check {
	t.Helper()
	var got []string
	for _, c := range rep.Failed() {
		got = append(got, c.Name)
	}
	if strings.Join(got, ",") != strings.Join(names, ",") || rep.OK != (len(names) == 0) {
		t.Fatalf("failed checks %v (ok %t), want %v\n%s", got, rep.OK, names, dump(rep))
	}
	if len(names) == 0 {
		return doctor.Check{}
	}
	return rep.Check(names[0])
}

func dump(rep *doctor.Report) string {
	b, _ := json.MarshalIndent(rep, "", "  ")
	return string(b)
}

// Every check passes against the sandbox, for a token and for a certificate account: autoconfig
// (ECO.1.1.9), STARTTLS on IMAP 143 / SMTP 587 under the policy (ECO.1.0.1, ECO.1.0.2, ECO.1.1.10),
// CRLs downloaded and cached (ECO.1.1.6, ECO.1.1.7), the clock within 2 min of the server's.
func TestDoctor_sandboxAllPass(t *testing.T) {
	w := startWorld(t, 0)
	for _, kind := range []string{"personal", "applicative"} {
		rep := doctor.Run(context.Background(), w.options(t, kind))
		wantFailed(t, rep)
		var names []string
		for _, c := range rep.Checks {
			names = append(names, c.Name)
		}
		if got := strings.Join(names, " "); got != "config trust.anchors trust.crl db autoconfig imap.starttls smtp.starttls auth.imap auth.smtp clock" {
			t.Errorf("checks = %s", got)
		}
		if c := rep.Check(doctor.CheckCRL); !strings.Contains(c.Verdict, "cached") {
			t.Errorf("%s: crl = %+v", kind, c)
		}
		if c := rep.Check(doctor.CheckClock); c.Skipped || !strings.Contains(c.Detail, "Date") {
			t.Errorf("%s: clock = %+v", kind, c)
		}
	}
}

// A wrong trust root (another PKI) is named by its rule at STARTTLS, with the fix (ECO.1.1.10);
// the authentication checks are skipped, not failed.
func TestDoctor_ECO_1_1_10_wrongTrustRoot(t *testing.T) {
	w := startWorld(t, 0)
	foreign := testpki.New(t, testpki.Options{Name: "FOREIGN"})
	o := w.options(t, "personal", foreign.Root.Cert)
	// Servers given (as --imap/--smtp): with autoconfig the wrong root already fails autoconfig.
	o.Account.IMAP, _ = lps.ParseEndpoint(w.w.Config.IMAP)
	o.Account.SMTP, _ = lps.ParseEndpoint(w.w.Config.SMTP)
	rep := doctor.Run(context.Background(), o)
	c := wantFailed(t, rep, doctor.CheckIMAPStartTLS, doctor.CheckSMTPStartTLS)
	if !strings.Contains(c.Verdict, trust.RuleUntrusted) || !strings.Contains(c.Fix, "--trust-root") {
		t.Errorf("imap.starttls = %+v", c)
	}
	if a := rep.Check(doctor.CheckIMAPAuth); !a.Skipped || !strings.HasPrefix(a.Verdict, "skipped: ") {
		t.Errorf("auth.imap = %+v", a)
	}
	// Through autoconfig, the wrong root fails autoconfig and says so.
	o = w.options(t, "personal", foreign.Root.Cert)
	rep = doctor.Run(context.Background(), o)
	c = wantFailed(t, rep, doctor.CheckAutoconfig)
	if !strings.Contains(c.Fix, "--trust-root") {
		t.Errorf("autoconfig = %+v", c)
	}
}

// An expired token is told from other refusals: the auth checks say "token expired" and how to
// get a new one (ECO.1.2.1).
func TestDoctor_expiredToken(t *testing.T) {
	w := startWorld(t, 2*time.Second)
	o := w.options(t, "personal")
	time.Sleep(3 * time.Second)
	rep := doctor.Run(context.Background(), o)
	c := wantFailed(t, rep, doctor.CheckIMAPAuth, doctor.CheckSMTPAuth)
	if !strings.HasPrefix(c.Verdict, "token expired at ") || !strings.Contains(c.Fix, "login") {
		t.Errorf("auth.imap = %+v", c)
	}
}

// A revoked client certificate, which the operator refuses like any other, is named revoked
// (ECO.1.1.6): doctor checks it against the CRL itself.
func TestDoctor_ECO_1_1_6_revokedCertificate(t *testing.T) {
	w := startWorld(t, 0)
	if err := w.w.RevokeClient(w.account("applicative").Address); err != nil {
		t.Fatal(err)
	}
	rep := doctor.Run(context.Background(), w.options(t, "applicative"))
	c := wantFailed(t, rep, doctor.CheckIMAPAuth, doctor.CheckSMTPAuth)
	if !strings.Contains(c.Verdict, "client certificate revoked") || !strings.Contains(c.Verdict, trust.RuleRevokedCRL) {
		t.Errorf("auth.imap = %+v", c)
	}
}

// A database that cannot be reached, one that does not exist, and one never migrated (SQLite and
// PostgreSQL) fail the db check only.
func TestDoctor_database(t *testing.T) {
	w := startWorld(t, 0)
	empty := filepath.Join(w.dir, "empty.db")
	db, err := store.Open(context.Background(), "sqlite:"+empty)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	cases := map[string]struct{ url, verdict string }{
		"closed port": {"postgres://mssante:secret-pw@127.0.0.1:1/mssante?sslmode=disable&connect_timeout=5", "unreachable"},
		"no file":     {"sqlite:" + filepath.Join(w.dir, "nowhere", "mssante.db"), "not found"},
		"sqlite":      {"sqlite:" + empty, "not migrated"},
		"postgres":    {storetest.URL(t, store.Postgres), "not migrated"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o := w.options(t, "personal")
			o.DBURL = c.url
			got := wantFailed(t, doctor.Run(context.Background(), o), doctor.CheckDB)
			if !strings.HasPrefix(got.Verdict, c.verdict) || got.Fix == "" || strings.Contains(dump(&doctor.Report{Checks: []doctor.Check{got}}), "secret-pw") {
				t.Errorf("db = %+v", got)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(w.dir, "nowhere")); err == nil {
		t.Error("doctor created the database directory")
	}
}

// A local clock 5 minutes off the server's (the Date of the autoconfig answer) fails the clock
// check; 30 s is tolerated.
func TestDoctor_clockSkew(t *testing.T) {
	w := startWorld(t, 0)
	for _, c := range []struct {
		off  time.Duration
		fail bool
	}{{5 * time.Minute, true}, {-5 * time.Minute, true}, {30 * time.Second, false}} {
		o := w.options(t, "personal")
		o.Now = func() time.Time { return time.Now().Add(c.off) }
		rep := doctor.Run(context.Background(), o)
		if got := rep.Check(doctor.CheckClock); got.OK == c.fail || (c.fail && !strings.Contains(got.Fix, "NTP")) {
			t.Errorf("off %s: clock = %+v", c.off, got)
		}
	}
}

// A configuration problem found by cmd and missing IGC Santé anchors are failed checks with
// their fix.
func TestDoctor_configAndAnchors(t *testing.T) {
	w := startWorld(t, 0)
	o := w.options(t, "personal")
	o.ConfigProblems = []string{`trust.profile (file x.toml:2): "tset" is not production or test`}
	o.TrustRoots = nil
	rep := doctor.Run(context.Background(), o)
	wantFailed(t, rep, doctor.CheckConfig, doctor.CheckAnchors)
	if c := rep.Check(doctor.CheckAnchors); !strings.Contains(c.Verdict, "TEST AC RACINE IGC-SANTE ELEMENTAIRE") ||
		!strings.Contains(c.Fix, "trust update --profile test") {
		t.Errorf("trust.anchors = %+v", c)
	}
}

// Without autoconfig (servers given), the clock is compared with the Date of the CRL distribution
// point of a trusted certificate (the IGC Santé publication point, here the sandbox's).
func TestDoctor_clockFromCRLServer(t *testing.T) {
	w := startWorld(t, 0)
	org := filepath.Join(w.dir, "org.pem")
	if err := os.WriteFile(org, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.w.OrgCertificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, off := range []time.Duration{0, 5 * time.Minute} {
		o := w.options(t, "personal")
		o.TrustRoots = append(o.TrustRoots, org)
		o.Account.AutoconfigURL = ""
		o.Account.IMAP, _ = lps.ParseEndpoint(w.w.Config.IMAP)
		o.Account.SMTP, _ = lps.ParseEndpoint(w.w.Config.SMTP)
		o.Now = func() time.Time { return time.Now().Add(off) }
		c := doctor.Run(context.Background(), o).Check(doctor.CheckClock)
		if c.Skipped || c.OK != (off == 0) || !strings.Contains(c.Detail, "Date of http://") {
			t.Errorf("off %s: clock = %+v", off, c)
		}
	}
}

// A cached CRL past its nextUpdate is stale: the cache would no longer keep connections up through
// an outage of the publication point (ECO.1.1.7). The doctor's clock is moved past the sandbox
// CRLs' nextUpdate (the servers, which use the real clock, still accept).
func TestDoctor_ECO_1_1_7_staleCRL(t *testing.T) {
	w := startWorld(t, 0)
	o := w.options(t, "personal")
	wantFailed(t, doctor.Run(context.Background(), o)) // fills the cache
	o.Now = func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }
	c := doctor.Run(context.Background(), o).Check(doctor.CheckCRL)
	if c.OK || !strings.HasPrefix(c.Verdict, "stale: ") || !strings.Contains(c.Verdict, "nextUpdate") || !strings.Contains(c.Fix, "distribution points") {
		t.Errorf("trust.crl = %+v", c)
	}
}

// The other refusals are told apart too: a valid token of a professional not attached to the
// mailbox is "refused (not expired)"; a client certificate of another PKI is "not issued by IGC
// Santé" (ECO.1.1.10).
func TestDoctor_otherRefusals(t *testing.T) {
	w := startWorld(t, 0)
	o := w.options(t, "personal")
	var paul sandbox.Account
	for _, a := range w.w.Config.Accounts {
		if a.Kind == "personal" && a.Address != o.Account.Address {
			paul = a
		}
	}
	o.Account.Address = paul.Address // jeanne's token for paul's mailbox
	c := wantFailed(t, doctor.Run(context.Background(), o), doctor.CheckIMAPAuth, doctor.CheckSMTPAuth)
	if c.Verdict != "token refused by the server (not expired)" || !strings.Contains(c.Fix, "attached to this mailbox") {
		t.Errorf("auth.imap = %+v", c)
	}

	o = w.options(t, "applicative")
	foreign := testpki.New(t, testpki.Options{Name: "FOREIGN"}).Client(w.account("applicative").OrgID, w.account("applicative").Address)
	o.Account.Credentials.Certificate = &foreign.TLS
	rep := doctor.Run(context.Background(), o)
	for _, name := range []string{doctor.CheckIMAPAuth, doctor.CheckSMTPAuth} {
		if c := rep.Check(name); c.OK || !strings.Contains(c.Verdict, "not issued by IGC Santé") || !strings.Contains(c.Verdict, trust.RuleUntrusted) {
			t.Errorf("%s = %+v\n%s", name, c, dump(rep))
		}
	}
}
