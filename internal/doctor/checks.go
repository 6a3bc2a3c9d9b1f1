package doctor

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mssante/mssante/autoconfig"
	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// anchorWarning: an anchor expiring sooner than this fails the check (time to run trust update
// with the renewed certificates).
const anchorWarning = 30 * 24 * time.Hour

func (r *run) config() Check {
	where := "no configuration file"
	if r.o.ConfigFile != "" {
		where = "file " + r.o.ConfigFile
	}
	if len(r.o.ConfigProblems) > 0 {
		return fail(CheckConfig, fmt.Sprintf("invalid: %d problem(s)", len(r.o.ConfigProblems)),
			strings.Join(r.o.ConfigProblems, "; "),
			"correct the keys named, then run `"+r.o.Commands+" config check`")
	}
	return pass(CheckConfig, "valid ("+where+", environment and flags)", "")
}

func (r *run) anchors() Check {
	now := r.o.Now()
	if len(r.o.TrustRoots) > 0 {
		var detail []string
		for _, f := range r.o.TrustRoots {
			certs, err := trust.ReadCertificates(f)
			if err != nil {
				return fail(CheckAnchors, "--trust-root unreadable: "+f, err.Error(), "give a PEM file of the test environment's root")
			}
			for _, c := range certs {
				detail = append(detail, fmt.Sprintf("%s valid until %s", c.Subject.CommonName, c.NotAfter.UTC().Format("2006-01-02")))
				if now.After(c.NotAfter) || now.Before(c.NotBefore) {
					return fail(CheckAnchors, "--trust-root expired or not yet valid: "+c.Subject.CommonName, strings.Join(detail, "; "),
						"give the current root of the test environment; check the local clock")
				}
			}
		}
		return pass(CheckAnchors, "replaced by --trust-root (relaxation for test environments)", strings.Join(detail, "; "))
	}
	update := fmt.Sprintf("run `%s trust update --profile %s` (or --from FILE with the IGC Santé certificates)", r.o.Commands, r.o.Profile)
	anchors, err := trust.LoadAnchors(r.o.AnchorsDir, r.o.Profile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(CheckAnchors, "unreadable", err.Error(), update)
	}
	have := map[trust.Role]trust.Anchor{}
	for _, a := range anchors {
		have[a.Pin.Role] = a
	}
	var missing []string
	for _, p := range trust.Pins {
		if p.Profile == r.o.Profile {
			if _, ok := have[p.Role]; !ok {
				missing = append(missing, p.CN)
			}
		}
	}
	if len(missing) > 0 {
		return fail(CheckAnchors, "missing: "+strings.Join(missing, ", "), "anchors directory "+r.o.AnchorsDir, update)
	}
	var detail []string
	for _, a := range anchors {
		updated := ""
		if fi, err := os.Stat(filepath.Join(r.o.AnchorsDir, a.Pin.Name+".pem")); err == nil {
			updated = ", updated " + fi.ModTime().UTC().Format(time.RFC3339)
		}
		detail = append(detail, fmt.Sprintf("%s valid until %s%s", a.Pin.CN, a.Cert.NotAfter.UTC().Format("2006-01-02"), updated))
		switch {
		case now.After(a.Cert.NotAfter) || now.Before(a.Cert.NotBefore):
			return fail(CheckAnchors, "expired or not yet valid: "+a.Pin.CN, strings.Join(detail, "; "),
				update+"; check the local clock")
		case a.Cert.NotAfter.Sub(now) < anchorWarning:
			return fail(CheckAnchors, "expires soon: "+a.Pin.CN, strings.Join(detail, "; "), update+" once ANS publishes the renewed certificates")
		}
	}
	return pass(CheckAnchors, fmt.Sprintf("present, profile %s (%d pinned certificates)", r.o.Profile, len(anchors)), strings.Join(detail, "; "))
}

// crl reads the persisted CRL cache: each file a DER CRL kept by the trust policy.
func (r *run) crl() Check {
	if r.o.SkipRevocation {
		return pass(CheckCRL, "not used: revocation checks disabled (relaxation)", "")
	}
	entries, err := os.ReadDir(r.o.CRLCacheDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(CheckCRL, "unreadable", err.Error(), "check the permissions of "+r.o.CRLCacheDir)
	}
	now := r.o.Now()
	var detail, stale []string
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".crl") {
			continue
		}
		der, err := os.ReadFile(filepath.Join(r.o.CRLCacheDir, e.Name()))
		if err != nil {
			return fail(CheckCRL, "unreadable", err.Error(), "check the permissions of "+r.o.CRLCacheDir)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			stale = append(stale, e.Name()+" (not a CRL)")
			continue
		}
		n++
		issuer := crl.Issuer.CommonName
		detail = append(detail, fmt.Sprintf("%s: thisUpdate %s, nextUpdate %s", issuer,
			crl.ThisUpdate.UTC().Format(time.RFC3339), crl.NextUpdate.UTC().Format(time.RFC3339)))
		if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
			stale = append(stale, issuer+" (nextUpdate "+crl.NextUpdate.UTC().Format(time.RFC3339)+" passed)")
		}
	}
	sort.Strings(detail)
	if len(stale) > 0 {
		return fail(CheckCRL, "stale: "+strings.Join(stale, ", "), strings.Join(detail, "; "),
			"allow HTTP access to the CRL distribution points of the IGC Santé (the next connection downloads them); "+
				"until then an unreachable publication point refuses the servers (ECO.1.1.6, ECO.1.1.7)")
	}
	if n == 0 && !r.tlsAccepted {
		return skipped(CheckCRL, "no CRL cached, and no server was accepted to download one (see the STARTTLS checks)")
	}
	if n == 0 {
		return fail(CheckCRL, "empty: no CRL cached in "+r.o.CRLCacheDir, "",
			"connect once with HTTP access to the CRL distribution points (the STARTTLS checks download them): "+
				"without a cached CRL an outage of the publication point refuses every server (ECO.1.1.7)")
	}
	return pass(CheckCRL, fmt.Sprintf("%d CRL(s) cached, none past its nextUpdate", n), strings.Join(detail, "; "))
}

// db opens the database without creating it and compares each package's schema with the
// program's migrations.
func (r *run) db(ctx context.Context) Check {
	url := r.o.DBURL
	shown := store.Redact(url)
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		if _, err := os.Stat(path); err != nil {
			return fail(CheckDB, "not found: "+shown, err.Error(),
				"check --db and --data-dir; the database is created by the first mail command (`"+r.o.Commands+" list …`)")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	db, err := store.Open(ctx, url)
	if err != nil {
		return fail(CheckDB, "unreachable: "+shown, err.Error(),
			"check --db (host, port, database, user, password, sslmode) and that the server runs and accepts this client")
	}
	defer db.Close()
	known := map[string]int{}
	var pkgs []string
	for _, m := range r.o.Migrations {
		if _, ok := known[m.Package]; !ok {
			pkgs = append(pkgs, m.Package)
		}
		known[m.Package] = max(known[m.Package], m.Version)
	}
	required := map[string]bool{}
	for _, p := range r.o.Required {
		required[p] = true
	}
	var detail, ahead, missing, pending []string
	for _, p := range pkgs {
		v, err := db.Version(ctx, p)
		if err != nil {
			return fail(CheckDB, "unreadable schema: "+shown, err.Error(), "check that --db names an mssante database")
		}
		detail = append(detail, fmt.Sprintf("%s %d/%d", p, v, known[p]))
		switch {
		case v > known[p]:
			ahead = append(ahead, fmt.Sprintf("%s (version %d, this program knows %d)", p, v, known[p]))
		case v == 0 && required[p]:
			missing = append(missing, p)
		case v < known[p] && v > 0:
			pending = append(pending, p)
		}
	}
	d := "schema versions (applied/known): " + strings.Join(detail, ", ")
	switch {
	case len(ahead) > 0:
		return fail(CheckDB, "migrated by a newer mssante: "+strings.Join(ahead, ", "), d,
			"upgrade this mssante to the version that migrated the database (it refuses to write to a newer schema)")
	case len(missing) > 0:
		return fail(CheckDB, "not migrated: no "+strings.Join(missing, ", ")+" tables in "+shown, d,
			"check that --db names the right database; a mail command (`"+r.o.Commands+" list …`) creates the tables, "+
				"and with PostgreSQL its role needs CREATE on the schema")
	}
	v := "reachable and migrated: " + shown
	if len(pending) > 0 {
		v += " (pending migrations of " + strings.Join(pending, ", ") + ", applied at the next use)"
	}
	return pass(CheckDB, v, d)
}

// connections runs autoconfig, then the connection test of each server.
func (r *run) connections(ctx context.Context) []Check {
	names := map[string][2]string{"imap": {CheckIMAPStartTLS, CheckIMAPAuth}, "smtp": {CheckSMTPStartTLS, CheckSMTPAuth}}
	skipAll := func(ac Check, why string) []Check {
		return []Check{ac, skipped(CheckIMAPStartTLS, why), skipped(CheckSMTPStartTLS, why),
			skipped(CheckIMAPAuth, why), skipped(CheckSMTPAuth, why)}
	}
	ao := r.o.Account
	ao.Policy = r.o.Policy
	acct, err := mailbox.New(ao)
	if err != nil {
		ac := fail(CheckAutoconfig, "account unusable", err.Error(), "check --account and the credentials flags")
		r.autoconfigFailed = true
		return skipAll(ac, "the account options are invalid")
	}
	defer acct.Close()
	ac := r.autoconfig(ctx, acct)
	if !ac.OK {
		return skipAll(ac, "autoconfig failed")
	}
	if r.o.Policy == nil {
		return []Check{ac,
			fail(CheckIMAPStartTLS, "no TLS policy", errString(r.o.PolicyErr), "fix trust.anchors (or give --trust-root in a test environment)"),
			fail(CheckSMTPStartTLS, "no TLS policy", errString(r.o.PolicyErr), "fix trust.anchors (or give --trust-root in a test environment)"),
			skipped(CheckIMAPAuth, "no TLS policy"), skipped(CheckSMTPAuth, "no TLS policy")}
	}
	steps, _ := acct.Probe(ctx)
	creds := r.credentialState(ctx)
	byProto := map[string][]lps.Step{}
	for _, s := range steps {
		byProto[s.Protocol] = append(byProto[s.Protocol], s)
	}
	out := []Check{ac}
	var auths []Check
	for _, proto := range []string{"imap", "smtp"} {
		st, au := r.server(proto, names[proto], byProto[proto], creds)
		out = append(out, st)
		auths = append(auths, au)
	}
	return append(out, auths...)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (r *run) autoconfig(ctx context.Context, acct *mailbox.Account) Check {
	if r.o.Account.IMAP.Host != "" && r.o.Account.SMTP.Host != "" {
		if r.o.Account.AutoconfigURL != "" {
			r.clockURL, _ = autoconfig.URL(r.o.Account.Address, autoconfig.Options{BaseURL: r.o.Account.AutoconfigURL})
		}
		return Check{Name: CheckAutoconfig, OK: true, Skipped: true, Verdict: "not used: both servers given (--imap, --smtp)"}
	}
	url, err := autoconfig.URL(r.o.Account.Address, autoconfig.Options{BaseURL: r.o.Account.AutoconfigURL})
	if err != nil {
		r.autoconfigFailed = true
		return fail(CheckAutoconfig, "no autoconfig URL", err.Error(), "check --account and --autoconfig-url")
	}
	servers, err := acct.Discover(ctx)
	if err != nil {
		r.autoconfigFailed = true
		if strings.Contains(err.Error(), "x509:") {
			return fail(CheckAutoconfig, "autoconfig server not trusted: "+url, err.Error(),
				"its certificate must come from a public authority or the IGC Santé anchors: in a test environment give its root with --trust-root "+
					"(the sandbox's: `"+r.o.Commands+" sandbox env --get trust_root`)")
		}
		return fail(CheckAutoconfig, "not found at "+url, err.Error(),
			"check the address's domain and --autoconfig-url (the operator publishes https://autoconfig.<domain>/mail/config-v1.1.xml, ECO.1.1.9), "+
				"or give the servers with --imap and --smtp")
	}
	r.clockURL, r.autoconfigUsed = url, true
	var bad []string
	for _, s := range []autoconfig.Server{servers.IMAP, servers.SMTP} {
		if _, err := mailbox.StartTLSEndpoint(s); err != nil {
			bad = append(bad, err.Error())
		}
	}
	detail := fmt.Sprintf("%s: imap %s (%s), smtp %s (%s), family %s", url, servers.IMAP.Addr(), servers.IMAP.SocketType,
		servers.SMTP.Addr(), servers.SMTP.SocketType, acct.Family())
	if len(bad) > 0 {
		return fail(CheckAutoconfig, "servers without STARTTLS", detail+"; "+strings.Join(bad, "; "),
			"the operator's autoconfig must give STARTTLS on 143 and 587 (ECO.1.0.1, ECO.1.0.2): contact the operator, or give --imap and --smtp")
	}
	return pass(CheckAutoconfig, fmt.Sprintf("found: imap %s, smtp %s", servers.IMAP.Addr(), servers.SMTP.Addr()), detail)
}

// credState is what is known locally of the credentials, to tell the causes of a refusal.
type credState struct {
	token     bool
	tokenErr  error
	expiry    time.Time // zero when not a JWT
	expired   bool
	certErr   error // *trust.RefusalError of the client certificate, or nil
	certValid bool
}

func (r *run) credentialState(ctx context.Context) credState {
	var cs credState
	c := r.o.Account.Credentials
	now := r.o.Now()
	switch {
	case c.Tokens != nil:
		cs.token = true
		tok, err := c.Tokens.Token(ctx)
		if err != nil {
			cs.tokenErr = err
			break
		}
		if exp, ok := mailbox.TokenExpiry(tok); ok {
			cs.expiry, cs.expired = exp, !now.Before(exp)
		}
	case c.Certificate != nil && r.o.Policy != nil:
		_, cs.certErr = r.o.Policy.VerifyClientCertificate(ctx, c.Certificate)
		cs.certValid = cs.certErr == nil
	}
	return cs
}

// server turns the probe steps of one protocol into its STARTTLS and authentication checks.
func (r *run) server(proto string, names [2]string, steps []lps.Step, cs credState) (Check, Check) {
	stName, auName := names[0], names[1]
	upper := strings.ToUpper(proto)
	port := map[string]string{"imap": "143", "smtp": "587"}[proto]
	find := func(name string) (lps.Step, bool) {
		for _, s := range steps {
			if s.Name == name {
				return s, true
			}
		}
		return lps.Step{}, false
	}
	if len(steps) == 0 {
		return fail(stName, "not tested", "", "see autoconfig"), skipped(auName, stName+" failed")
	}
	conn, _ := find("connect")
	if !conn.OK {
		if conn.Name == "" { // the endpoint itself was refused (autoconfig gave no STARTTLS server)
			return fail(stName, "no usable server", steps[0].Error, "see autoconfig"), skipped(auName, stName+" failed")
		}
		return fail(stName, "cannot connect to "+conn.Detail, conn.Error,
				fmt.Sprintf("check the host and port (%s with STARTTLS), the network and the firewall", port)),
			skipped(auName, stName+" failed")
	}
	tls, ok := find("starttls")
	if !ok || !tls.OK {
		verdict, fix := starttlsVerdict(tls.Err, tls.Error, string(r.o.Profile), r.o.Commands, len(r.o.TrustRoots) > 0)
		return fail(stName, verdict, conn.Detail+": "+tls.Error, fix), skipped(auName, stName+" failed")
	}
	r.tlsAccepted = true
	st := pass(stName, fmt.Sprintf("%s %s accepted by the policy (%s)", upper, conn.Detail, tls.Detail), "")
	auth, _ := find("auth")
	if !auth.OK {
		verdict, fix := r.authVerdict(auth.Error, cs)
		return st, fail(auName, verdict, auth.Error, fix)
	}
	for _, s := range steps {
		if !s.OK {
			return st, fail(auName, "authenticated, then "+s.Name+" failed", s.Error,
				"the session broke after authentication: retry, then contact the operator with this answer")
		}
	}
	return st, pass(auName, fmt.Sprintf("%s %s accepted", upper, auth.Detail), credDetail(cs))
}

func credDetail(cs credState) string {
	if cs.token && !cs.expiry.IsZero() {
		return "token expires " + cs.expiry.UTC().Format(time.RFC3339)
	}
	return ""
}

// ruleFixes are the fixes of each TLS policy rule a server may break.
func ruleFix(rule, profile, cmds string, roots bool) string {
	switch rule {
	case trust.RuleUntrusted, trust.RuleChain:
		if roots {
			return "the server certificate does not chain to the --trust-root given: give the root of this environment " +
				"(the sandbox's: `" + cmds + " sandbox env --get trust_root`), or drop --trust-root for an IGC Santé operator"
		}
		return "the server certificate does not chain to the IGC Santé " + profile + " anchors: check --profile " +
			"(test platforms use --profile test), run `" + cmds + " trust update --profile " + profile + "`, " +
			"or give the test root of a non-IGC environment with --trust-root"
	case trust.RuleNotOrganisation:
		return "the operator's certificate must be issued by AC IGC-SANTE ELEMENTAIRE ORGANISATIONS (ECO.1.1.10): contact the operator"
	case trust.RuleExpired:
		return "a certificate of the server is expired or not yet valid: check the local clock (see clock), else contact the operator"
	case trust.RuleRevokedCRL, trust.RuleRevokedOCSP:
		return "the server certificate is revoked: do not connect; contact the operator"
	case trust.RuleRevocationUnknown:
		return "the CRL distribution points and OCSP responders could not be reached: allow HTTP access to them (see trust.crl)"
	case trust.RuleHostname:
		return "the certificate does not carry the name the server was reached by: use the host name of autoconfig, or give --server-name"
	case trust.RuleTLSVersion, trust.RuleCipherSuite, trust.RuleKeyExchange:
		return "the server must offer TLS 1.2 or 1.3 with an ECDHE-RSA-AES-GCM suite (ECO.1.1.1–1.1.3): contact the operator"
	}
	return "contact the operator with this answer"
}

// ruleOf is the policy rule a probe step's error is a refusal by, or "".
func ruleOf(err error) string {
	var re *trust.RefusalError
	if errors.As(err, &re) {
		return re.Rule
	}
	return ""
}

func starttlsVerdict(err error, msg, profile, cmds string, roots bool) (verdict, fix string) {
	if rule := ruleOf(err); rule != "" {
		return "refused by the TLS policy: rule " + rule, ruleFix(rule, profile, cmds, roots)
	}
	if strings.Contains(strings.ToLower(msg), "starttls") {
		return "STARTTLS failed", "the API LPS requires STARTTLS on 143 and 587 (ECO.1.0.1, ECO.1.0.2): check the port, else contact the operator"
	}
	return "TLS failed", "contact the operator with this answer"
}

// authVerdict tells the causes of a refused authentication apart (as mailbox.AuthFailure does,
// plus the client certificate checked locally against the policy).
func (r *run) authVerdict(msg string, cs credState) (verdict, fix string) {
	answer := strings.ToLower(msg)
	renew := "get a new token: `" + r.o.Commands + " login` (or the program that renews the token file); " +
		"in the sandbox `" + r.o.Commands + " sandbox token --user ID -o FILE`"
	if cs.token {
		switch {
		case cs.tokenErr != nil:
			return "token unreadable: " + cs.tokenErr.Error(), "check --token-file"
		case cs.expired || strings.Contains(answer, "expired"):
			v := "token expired"
			if !cs.expiry.IsZero() {
				v += " at " + cs.expiry.UTC().Format(time.RFC3339)
			}
			return v, renew
		case strings.Contains(answer, "revoked") || strings.Contains(answer, "invalid_token"):
			return "token refused: revoked or invalid", renew
		}
		return "token refused by the server (not expired)",
			"check that the token is of a professional attached to this mailbox, and of this environment (PSC production vs bas); else " + renew
	}
	var re *trust.RefusalError
	switch {
	case errors.As(cs.certErr, &re):
		switch re.Rule {
		case trust.RuleRevokedCRL, trust.RuleRevokedOCSP:
			return "client certificate revoked (" + re.Rule + ")", "order a new ORG AUTH_CLI certificate for the organisation (IGC Santé) and give it with --cert/--key"
		case trust.RuleExpired:
			return "client certificate expired or not yet valid", "renew the ORG AUTH_CLI certificate (IGC Santé); check the local clock"
		case trust.RuleRevocationUnknown:
			return "certificate refused; its revocation status cannot be established", "allow HTTP access to the CRL distribution points, then retry"
		}
		return "client certificate not issued by IGC Santé ORGANISATIONS (" + re.Rule + ")",
			"an applicative mailbox authenticates with an ORG AUTH_CLI certificate of the IGC Santé: give that certificate with --cert/--key"
	case cs.certErr != nil:
		return "client certificate unusable", cs.certErr.Error()
	case strings.Contains(answer, "revoked"):
		return "client certificate revoked (server answer)", "order a new ORG AUTH_CLI certificate for the organisation"
	}
	return "certificate refused by the server (valid, not revoked)",
		"check that the mailbox belongs to the organisation of the certificate (its OU) and that the operator knows this certificate"
}

// clock compares the local clock with the Date header of a server answered passively: the
// autoconfig HTTPS server, else the CRL distribution points (HTTP) of the anchors or of the
// --trust-root certificates (the IGC Santé publication point). The Date is authenticated only for
// the first; it serves a diagnostic, nothing else.
func (r *run) clock(ctx context.Context) Check {
	type source struct {
		url    string
		client *http.Client
	}
	var sources []source
	if r.clockURL != "" {
		client := http.DefaultClient
		if r.o.Policy != nil {
			client = r.o.Policy.AutoconfigHTTPClient()
		}
		sources = append(sources, source{r.clockURL, client})
	}
	if !r.autoconfigUsed {
		for _, u := range r.crlURLs() {
			sources = append(sources, source{u, &http.Client{Timeout: 10 * time.Second}})
		}
	}
	if len(sources) == 0 {
		if r.autoconfigFailed {
			return skipped(CheckClock, "autoconfig failed (its HTTPS answer gives the server time)")
		}
		return Check{Name: CheckClock, OK: true, Skipped: true,
			Verdict: "not checked: no autoconfig server nor CRL distribution point to compare with (give --autoconfig-url)"}
	}
	var errs []string
	for _, src := range sources {
		date, local, err := serverDate(ctx, src.client, src.url, r.o.Now)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		skew := local.Sub(date).Round(time.Second)
		detail := fmt.Sprintf("local %s, Date of %s %s", local.UTC().Format(time.RFC3339), src.url, date.UTC().Format(time.RFC3339))
		if skew > r.o.MaxSkew || skew < -r.o.MaxSkew {
			return fail(CheckClock, fmt.Sprintf("local clock off by %s (more than %s)", skew, r.o.MaxSkew), detail,
				"synchronise the clock with NTP (timedatectl set-ntp true): tokens, certificates and CRLs are checked against it")
		}
		return pass(CheckClock, fmt.Sprintf("within %s of the server (%s)", r.o.MaxSkew, skew), detail)
	}
	if r.autoconfigUsed {
		return fail(CheckClock, "cannot ask the server time", strings.Join(errs, "; "), "check the network access to "+r.clockURL)
	}
	// Servers given: these hosts are only clock sources here, and may not answer.
	return Check{Name: CheckClock, OK: true, Skipped: true, Verdict: "not checked: no clock source answered", Detail: strings.Join(errs, "; ")}
}

// serverDate GETs url and returns its Date (the middle of its 1 s resolution) and the local time
// at the middle of the exchange.
func serverDate(ctx context.Context, client *http.Client, url string, now func() time.Time) (date, local time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return date, local, err
	}
	before := now()
	resp, err := client.Do(req)
	after := now()
	if err != nil {
		return date, local, err
	}
	_ = resp.Body.Close()
	date, err = http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return date, local, fmt.Errorf("%s: no Date header", url)
	}
	return date.Add(500 * time.Millisecond), before.Add(after.Sub(before) / 2), nil
}

// crlURLs are the HTTP CRL distribution points of the anchors in use or of the --trust-root
// certificates.
func (r *run) crlURLs() []string {
	var certs []*x509.Certificate
	if r.o.Policy != nil {
		for _, a := range r.o.Policy.Anchors() {
			certs = append(certs, a.Cert)
		}
	}
	for _, f := range r.o.TrustRoots {
		c, _ := trust.ReadCertificates(f)
		certs = append(certs, c...)
	}
	seen := map[string]bool{}
	var urls []string
	for _, c := range certs {
		for _, u := range c.CRLDistributionPoints {
			if strings.HasPrefix(u, "http://") && !seen[u] {
				seen[u] = true
				urls = append(urls, u)
			}
		}
	}
	return urls
}
