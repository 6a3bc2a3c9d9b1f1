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
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := LoadConfig(dir)
	first := errors.Is(err, ErrNoSandbox)
	switch {
	case first:
		cfg = seedConfig(def(o.ProDomain, DefaultProDomain), def(o.OrgDomain, DefaultOrgDomain),
			def(o.PatientDomain, DefaultPatientDomain))
		if err := checkSeedPatients(cfg); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		for _, d := range [][2]string{{o.ProDomain, cfg.ProDomain}, {o.OrgDomain, cfg.OrgDomain}, {o.PatientDomain, cfg.PatientDomain}} {
			if d[0] != "" && !strings.EqualFold(d[0], d[1]) {
				return nil, fmt.Errorf("sandbox: the domains of %s were fixed by its first start (%s, not %s): use a new data directory", dir, d[1], d[0])
			}
		}
	}
	w := &World{Config: cfg, DataDir: dir, log: log}
	ok := false
	defer func() {
		if !ok {
			_ = w.Close()
		}
	}()

	// Revocation endpoint first: its address goes into the certificates.
	httpAddr := def(o.HTTPAddr, def(cfg.HTTP, DefaultHTTPAddr))
	httpLn, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: revocation endpoint %s: %w", httpAddr, err)
	}
	cfg.HTTP = httpLn.Addr().String()
	p, created, err := loadOrCreatePKI(filepath.Join(dir, "pki"), "http://"+cfg.HTTP, serverHosts(cfg))
	if err != nil {
		_ = httpLn.Close()
		return nil, err
	}
	w.pki = p
	if want := "http://" + cfg.HTTP; p.baseURL != want {
		_ = httpLn.Close()
		return nil, fmt.Errorf("sandbox: the certificates of %s name the revocation endpoint %s, not %s: start with --http %s or use a new data directory",
			dir, p.baseURL, want, strings.TrimPrefix(p.baseURL, "http://"))
	}
	w.httpSrv = &http.Server{Handler: p.revocationHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = w.httpSrv.Serve(httpLn) }()
	for i, a := range cfg.Accounts {
		if a.Kind == "applicative" && (created || a.Cert == "") {
			cert, key, err := p.issueClient(a.OrgID, a.Address)
			if err != nil {
				return nil, err
			}
			cfg.Accounts[i].Cert, cfg.Accounts[i].Key = cert, key
		}
	}
	if first {
		if err := writeDirectory(dir, cfg); err != nil {
			return nil, err
		}
	}

	// PSC emulator.
	pscAddr := def(o.PSCAddr, def(cfg.PSC, DefaultPSCAddr))
	var pros []pscemu.Professional
	for _, pr := range cfg.Professionals {
		pros = append(pros, pscemu.Professional{NationalID: pr.NationalID, GivenName: pr.GivenName,
			FamilyName: pr.FamilyName, Mailboxes: pr.Mailboxes, Profession: pr.Profession})
	}
	ttl := o.AccessTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	w.PSC, err = pscemu.Start(ctx, &pscemu.Options{Addr: pscAddr, ClientID: SandboxClientID,
		Professionals: pros, AccessTTL: ttl, RefreshTTL: 2 * ttl, SessionMax: 12 * time.Hour,
		Logger: log.With("component", "psc")})
	if err != nil {
		return nil, fmt.Errorf("sandbox: PSC emulator %s: %w", pscAddr, err)
	}
	cfg.PSC = strings.TrimPrefix(w.PSC.URL, "http://")

	// Operator.
	var accounts []operator.Account
	for _, a := range cfg.Accounts {
		k, err := operator.ParseKind(a.Kind)
		if err != nil {
			return nil, err
		}
		accounts = append(accounts, operator.Account{Address: a.Address, Kind: k, NationalIDs: a.NationalIDs,
			OrgID: a.OrgID, Closed: a.Closed})
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.root.cert)
	validator := tokenValidator(w.PSC)
	w.Operator, err = operator.New(operator.Options{
		DataDir:  filepath.Join(dir, "operator"),
		IMAPAddr: def(o.IMAPAddr, def(cfg.IMAP, DefaultIMAPAddr)),
		SMTPAddr: def(o.SMTPAddr, def(cfg.SMTP, DefaultSMTPAddr)),
		Hostname: "localhost", ProDomain: cfg.ProDomain, OrgDomain: cfg.OrgDomain, PatientDomain: cfg.PatientDomain,
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
		ValidateToken: validator,
		Logger:        log.With("component", "operator"),
	})
	if err != nil {
		return nil, err
	}
	if err := w.Operator.Start(ctx); err != nil {
		return nil, err
	}
	cfg.IMAP, cfg.SMTP = w.Operator.IMAPAddr(), w.Operator.SMTPAddr()

	// Autoconfig over HTTPS.
	httpsAddr := def(o.HTTPSAddr, def(cfg.HTTPS, DefaultHTTPSAddr))
	httpsLn, err := net.Listen("tcp", httpsAddr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: autoconfig endpoint %s: %w", httpsAddr, err)
	}
	cfg.HTTPS = httpsLn.Addr().String()
	w.httpsSrv = &http.Server{Handler: w.autoconfigHandler(), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}}
	go func() { _ = w.httpsSrv.ServeTLS(httpsLn, "", "") }()

	if err := cfg.save(dir); err != nil {
		return nil, err
	}
	if !cfg.Seeded {
		if err := w.deliverSeedMails(ctx); err != nil {
			log.Warn("sandbox: seed mails not delivered (retried at next start)", "err", err)
		} else {
			cfg.Seeded = true
			if err := cfg.save(dir); err != nil {
				return nil, err
			}
		}
	}
	context.AfterFunc(ctx, func() { _ = w.Close() })
	ok = true
	log.Info("sandbox started", "data_dir", dir, "imap", cfg.IMAP, "smtp", cfg.SMTP,
		"autoconfig", "https://"+cfg.HTTPS, "psc", w.PSC.URL, "revocation", "http://"+cfg.HTTP)
	return w, nil
}

// SandboxClientID is the client registered at the PSC emulator (public client: no secret).
const SandboxClientID = "mssante-sandbox"

func def(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// Env returns what `mssante sandbox env` prints.
func (w *World) Env() *Env { return w.Config.env(w.DataDir) }

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
