package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mssante/mssante/internal/pscemu"
	"github.com/mssante/mssante/internal/sandbox/operator"
)

// Options configure Start. The zero value is the default world in DataDir (required).
type Options struct {
	// DataDir holds everything: sandbox.json, the PKI, the mailboxes, the seed files. Required.
	DataDir string
	// Listening addresses; empty means the address of the last start, else the default
	// (DefaultIMAPAddr…). "127.0.0.1:0" picks a free port (tests); the bound address is then kept
	// for the next starts. The revocation address (HTTPAddr) is fixed by the first start: the
	// certificates carry it.
	IMAPAddr, SMTPAddr, HTTPSAddr, HTTPAddr, PSCAddr string
	// Domains used on the first start; defaults DefaultProDomain, DefaultOrgDomain,
	// DefaultPatientDomain.
	ProDomain, OrgDomain, PatientDomain string
	// AccessTTL is the lifetime of the emulator's access tokens (default 10 min: longer than
	// PSC's 2 min, for people typing commands).
	AccessTTL time.Duration
	// Logger receives the world's events (never a token); nil discards.
	Logger *slog.Logger
}

// World is a running sandbox: operator (IMAP, SMTP), PSC emulator, autoconfig (HTTPS), CRL and
// OCSP (HTTP), all on loopback.
type World struct {
	// Config is the world description (also in <DataDir>/sandbox.json).
	Config *Config
	// DataDir is the absolute data directory.
	DataDir string
	// Operator is the mail operator; PSC the Pro Santé Connect emulator.
	Operator *operator.Operator
	PSC      *pscemu.Server

	log       *slog.Logger
	pki       *pki
	httpSrv   *http.Server // revocation
	httpsSrv  *http.Server // autoconfig
	closeOnce sync.Once
	closeErr  error
	unlock    func() // releases the data directory
}

// ErrRunning means another sandbox runs on the data directory (Start refuses a second one).
var ErrRunning = errors.New("a sandbox is already running")

// ErrPortInUse means a listening address is taken by another program.
var ErrPortInUse = errors.New("port in use by another program")

// PortError is a listening failure: which endpoint, which address, and the Options field (the
// `mssante sandbox` flag) that moves it. It wraps ErrPortInUse when the port is taken.
type PortError struct {
	What, Addr, Flag string
	Err              error
}

func (e *PortError) Error() string {
	if errors.Is(e.Err, ErrPortInUse) {
		return fmt.Sprintf("sandbox: %s %s: port in use by another program: free it or choose another address with --%s (a second sandbox needs its own --imap, --smtp, --https, --http and --psc, or --data-dir of the running one to use it)",
			e.What, e.Addr, e.Flag)
	}
	return fmt.Sprintf("sandbox: %s %s: %v", e.What, e.Addr, e.Err)
}

func (e *PortError) Unwrap() error { return e.Err }

// listenError names the endpoint and, for a port in use, the flag that moves it.
func listenError(what, addr, flag string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		err = ErrPortInUse
	}
	return &PortError{What: what, Addr: addr, Flag: flag, Err: err}
}

// runningError completes lockDir's ErrRunning with where the running sandbox listens.
func runningError(dir string, err error) error {
	c, cerr := LoadConfig(dir)
	if cerr != nil {
		return err
	}
	return fmt.Errorf("%w\n  IMAP %s, SMTP %s, autoconfig https://%s, PSC emulator http://%s\n  (`mssante sandbox env --data-dir %s` prints it all)",
		err, c.IMAP, c.SMTP, c.HTTPS, c.PSC, dir)
}

// serverHosts are the names in the server certificate.
func serverHosts(c *Config) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1", "imap." + c.ProDomain, "smtp." + c.ProDomain}
	for _, d := range []string{c.ProDomain, c.OrgDomain, c.PatientDomain} {
		hosts = append(hosts, "autoconfig."+d)
	}
	return hosts
}

// Start starts the world in o.DataDir, creating it on the first start (PKI, accounts, seed
// files, then seed mails once the operator listens). It returns when every server listens; they
// stop with Close or when ctx ends.
func Start(ctx context.Context, o Options) (*World, error) {
	if o.DataDir == "" {
		return nil, errors.New("sandbox: Options.DataDir is required")
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	unlock, err := lockDir(dir)
	if errors.Is(err, ErrRunning) {
		return nil, runningError(dir, err)
	}
	if err != nil {
		return nil, err
	}
	w := &World{DataDir: dir, log: o.Logger, unlock: unlock}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	first, err := w.loadConfig(o)
	if err != nil {
		unlock()
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = w.Close()
		}
	}()
	// The revocation endpoint comes first: its address goes into the certificates.
	for _, step := range []func() error{
		func() error { return w.startRevocation(o, first) },
		func() error { return w.startPSC(ctx, o) },
		func() error { return w.startOperator(ctx, o) },
		func() error { return w.startAutoconfig(o) },
		func() error { return w.Config.save(dir) },
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if !w.Config.Seeded {
		if err := w.deliverSeedMails(ctx); err != nil {
			w.log.Warn("sandbox: seed mails not delivered (retried at next start)", "err", err)
		} else {
			w.Config.Seeded = true
			if err := w.Config.save(dir); err != nil {
				return nil, err
			}
		}
	}
	context.AfterFunc(ctx, func() { _ = w.Close() })
	ok = true
	c := w.Config
	w.log.Info("sandbox started", "data_dir", dir, "imap", c.IMAP, "smtp", c.SMTP,
		"autoconfig", "https://"+c.HTTPS, "psc", w.PSC.URL, "revocation", "http://"+c.HTTP)
	return w, nil
}

// loadConfig reads sandbox.json, or makes the seed configuration on the first start.
func (w *World) loadConfig(o Options) (first bool, err error) {
	cfg, err := LoadConfig(w.DataDir)
	switch {
	case errors.Is(err, ErrNoSandbox):
		cfg = seedConfig(def(o.ProDomain, DefaultProDomain), def(o.OrgDomain, DefaultOrgDomain),
			def(o.PatientDomain, DefaultPatientDomain))
		if err := checkSeedPatients(cfg); err != nil {
			return false, err
		}
		w.Config = cfg
		return true, nil
	case err != nil:
		return false, err
	}
	for _, d := range [][2]string{{o.ProDomain, cfg.ProDomain}, {o.OrgDomain, cfg.OrgDomain}, {o.PatientDomain, cfg.PatientDomain}} {
		if d[0] != "" && !strings.EqualFold(d[0], d[1]) {
			return false, fmt.Errorf("sandbox: the domains of %s were fixed by its first start (%s, not %s): use a new data directory",
				w.DataDir, d[1], d[0])
		}
	}
	w.Config = cfg
	return false, nil
}

// startRevocation listens for CRL and OCSP, loads or generates the PKI (client certificates
// included), and writes the directory extraction on the first start.
func (w *World) startRevocation(o Options, first bool) error {
	cfg := w.Config
	httpAddr := def(o.HTTPAddr, def(cfg.HTTP, DefaultHTTPAddr))
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return listenError("revocation endpoint", httpAddr, "http", err)
	}
	cfg.HTTP = ln.Addr().String()
	p, created, err := loadOrCreatePKI(filepath.Join(w.DataDir, "pki"), "http://"+cfg.HTTP, serverHosts(cfg))
	if err == nil && p.baseURL != "http://"+cfg.HTTP {
		err = fmt.Errorf("sandbox: the certificates of %s name the revocation endpoint %s, not http://%s: start with --http %s or use a new data directory",
			w.DataDir, p.baseURL, cfg.HTTP, strings.TrimPrefix(p.baseURL, "http://"))
	}
	if err != nil {
		_ = ln.Close()
		return err
	}
	w.pki = p
	w.httpSrv = &http.Server{Handler: p.revocationHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = w.httpSrv.Serve(ln) }()
	for i, a := range cfg.Accounts {
		if a.Kind == "applicative" && (created || a.Cert == "") {
			cert, key, err := p.issueClient(a.OrgID, a.Address)
			if err != nil {
				return err
			}
			cfg.Accounts[i].Cert, cfg.Accounts[i].Key = cert, key
		}
	}
	if first {
		return writeDirectory(w.DataDir, cfg)
	}
	return nil
}

// startPSC starts the PSC emulator with the sandbox's professionals.
func (w *World) startPSC(ctx context.Context, o Options) error {
	addr := def(o.PSCAddr, def(w.Config.PSC, DefaultPSCAddr))
	var pros []pscemu.Professional
	for _, pr := range w.Config.Professionals {
		pros = append(pros, pscemu.Professional{NationalID: pr.NationalID, GivenName: pr.GivenName,
			FamilyName: pr.FamilyName, Mailboxes: pr.Mailboxes, Profession: pr.Profession})
	}
	ttl := o.AccessTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	psc, err := pscemu.Start(ctx, &pscemu.Options{Addr: addr, ClientID: SandboxClientID,
		Professionals: pros, AccessTTL: ttl, RefreshTTL: 2 * ttl, SessionMax: 12 * time.Hour,
		Logger: w.log.With("component", "psc")})
	if err != nil {
		return listenError("PSC emulator", addr, "psc", err)
	}
	w.PSC = psc
	w.Config.PSC = strings.TrimPrefix(psc.URL, "http://")
	return nil
}

// startOperator starts the operator with the sandbox's accounts, the test PKI, the PSC emulator as
// token validator and the revocation list as client certificate check.
func (w *World) startOperator(ctx context.Context, o Options) error {
	cfg, p := w.Config, w.pki
	var accounts []operator.Account
	for _, a := range cfg.Accounts {
		k, err := operator.ParseKind(a.Kind)
		if err != nil {
			return err
		}
		accounts = append(accounts, operator.Account{Address: a.Address, Kind: k, NationalIDs: a.NationalIDs,
			OrgID: a.OrgID, Closed: a.Closed})
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.root.cert)
	imapAddr, smtpAddr := def(o.IMAPAddr, def(cfg.IMAP, DefaultIMAPAddr)), def(o.SMTPAddr, def(cfg.SMTP, DefaultSMTPAddr))
	op, err := operator.New(operator.Options{
		DataDir:  filepath.Join(w.DataDir, "operator"),
		IMAPAddr: imapAddr,
		SMTPAddr: smtpAddr,
		Hostname: "smtp." + cfg.ProDomain, ProDomain: cfg.ProDomain, OrgDomain: cfg.OrgDomain, PatientDomain: cfg.PatientDomain,
		Accounts: accounts, Certificate: p.server,
		ClientCAs: roots, ClientIntermediates: []*x509.Certificate{p.org.cert},
		CheckClientCert: func(_ context.Context, chain []*x509.Certificate) error {
			for _, c := range chain {
				if p.isRevoked(c) {
					return fmt.Errorf("certificate %s revoked", c.Subject.CommonName)
				}
			}
			return nil
		},
		ValidateToken: tokenValidator(w.PSC),
		Logger:        w.log.With("component", "operator"),
	})
	if err != nil {
		return err
	}
	w.Operator = op
	if err := op.Start(ctx); err != nil {
		if strings.Contains(err.Error(), "smtp listen") {
			return listenError("SMTP submission", smtpAddr, "smtp", err)
		}
		return listenError("IMAP", imapAddr, "imap", err)
	}
	cfg.IMAP, cfg.SMTP = op.IMAPAddr(), op.SMTPAddr()
	return nil
}

// startAutoconfig serves the autoconfig documents over HTTPS.
func (w *World) startAutoconfig(o Options) error {
	addr := def(o.HTTPSAddr, def(w.Config.HTTPS, DefaultHTTPSAddr))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return listenError("autoconfig endpoint", addr, "https", err)
	}
	w.Config.HTTPS = ln.Addr().String()
	w.httpsSrv = &http.Server{Handler: w.autoconfigHandler(), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{w.pki.server}, MinVersion: tls.VersionTLS12}}
	go func() { _ = w.httpsSrv.ServeTLS(ln, "", "") }()
	return nil
}

// SandboxClientID is the client registered at the PSC emulator (public client: no secret).
const SandboxClientID = "mssante-sandbox"

func def(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// Env returns what `mssante sandbox env` prints (Running is true: this process runs it).
func (w *World) Env() *Env {
	e := w.Config.env(w.DataDir)
	e.Running = true
	return e
}

// Mailboxes returns the personal and organisational mailboxes the professional nationalID may
// open with XOAUTH2 (the operator's rule), personal first: what `mssante serve --sandbox` shows
// after a PSC login.
func (w *World) Mailboxes(nationalID string) []string {
	var personal, org []string
	for _, a := range w.Config.Accounts {
		if !slices.Contains(a.NationalIDs, nationalID) {
			continue
		}
		if a.Kind == "personal" {
			personal = append(personal, a.Address)
		} else if a.Kind == "organisational" {
			org = append(org, a.Address)
		}
	}
	return append(personal, org...)
}

// TrustRoot is the PEM file of the test root (the --trust-root of clients).
func (w *World) TrustRoot() string { return filepath.Join(w.DataDir, "pki", "root.pem") }

// RootCertificate and OrgCertificate are the test CAs.
func (w *World) RootCertificate() *x509.Certificate { return w.pki.root.cert }
func (w *World) OrgCertificate() *x509.Certificate  { return w.pki.org.cert }

// RevokeClient revokes the client certificate of an applicative mailbox: the CRL and OCSP
// answers list it at once and the operator refuses its logins.
func (w *World) RevokeClient(address string) error {
	_, err := Revoke(w.DataDir, address)
	return err
}

// RevokeServer revokes the operator's server certificate (clients checking revocation then
// refuse the operator, ECO.1.1.6).
func (w *World) RevokeServer() error {
	_, err := Revoke(w.DataDir, "server")
	return err
}

// Close stops every server. Mail already accepted is on disk.
func (w *World) Close() error {
	w.closeOnce.Do(func() {
		var errs []error
		if w.Operator != nil {
			errs = append(errs, w.Operator.Close())
		}
		if w.PSC != nil {
			errs = append(errs, w.PSC.Close())
		}
		for _, s := range []*http.Server{w.httpsSrv, w.httpSrv} {
			if s != nil {
				errs = append(errs, s.Close())
			}
		}
		w.closeErr = errors.Join(errs...)
		if w.unlock != nil {
			w.unlock()
		}
	})
	return w.closeErr
}

// tokenValidator validates the emulator's access tokens locally, as an operator does with the
// published key: RS256 signature, issuer, expiry, type Bearer, the registered client, and a
// SubjectNameID.
func tokenValidator(psc *pscemu.Server) func(context.Context, string) (operator.Claims, error) {
	pub := psc.PublicKey()
	issuer, client := psc.Issuer, psc.ClientID()
	return func(_ context.Context, raw string) (operator.Claims, error) {
		tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			return operator.Claims{}, errors.New("malformed token")
		}
		var std jwt.Claims
		var extra struct {
			Typ           string `json:"typ"`
			Azp           string `json:"azp"`
			SubjectNameID string `json:"SubjectNameID"`
		}
		if err := tok.Claims(pub, &std, &extra); err != nil {
			return operator.Claims{}, errors.New("bad token signature")
		}
		if err := std.ValidateWithLeeway(jwt.Expected{Issuer: issuer, Time: time.Now()}, 0); err != nil {
			return operator.Claims{}, fmt.Errorf("token refused: %w", err)
		}
		if extra.Typ != "Bearer" || extra.Azp != client || extra.SubjectNameID == "" {
			return operator.Claims{}, errors.New("not an access token of the sandbox client")
		}
		return operator.Claims{SubjectNameID: extra.SubjectNameID, Expiry: std.Expiry.Time()}, nil
	}
}
