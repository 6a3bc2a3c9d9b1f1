package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/config"
	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/sandbox"
	"github.com/mssante/mssante/internal/server"
)

// mssante serve: the intermediate LPS server, first version (issue 4). See internal/server for the
// routes and the session decisions.

func init() {
	register(&command{
		name:    "serve",
		summary: "run the intermediate LPS server (PSC login, tokens for thick clients, events)",
		usage: "serve [--sandbox [--sandbox-ports default|random] [--sandbox-dir DIR]] [--listen ADDR] [--tls-cert PEM --tls-key PEM] [--public-url URL] " +
			"[--psc production|bas | --psc-issuer URL [--psc-discovery-url URL]] [--psc-client-id ID (--psc-client-secret-file F | --psc-client-cert PEM --psc-client-key PEM)] " +
			"[--psc-scopes S] [--psc-any-acr] [--psc-national-id-claim C] [--psc-mailbox-claim C]… " +
			"[--idle-timeout D] [--max-session D] [--source local[,fhir] [--fhir-url URL] [--fhir-api-key-file F]] [--data-dir DIR]",
		example: "mssante serve --sandbox --listen 127.0.0.1:8080",
		flags: func(fs *flag.FlagSet) runFunc {
			c := &serveFlags{
				sandbox: fs.Bool("sandbox", false, "start the offline MSSanté world in the process (operator, test PKI, autoconfig, PSC emulator) and log in against it"),
				sandboxPorts: fs.String("sandbox-ports", "default", "`ports` of the sandbox world: default (those of `mssante sandbox`: IMAP "+portOf(sandbox.DefaultIMAPAddr)+
					", SMTP "+portOf(sandbox.DefaultSMTPAddr)+", HTTPS "+portOf(sandbox.DefaultHTTPSAddr)+", HTTP "+portOf(sandbox.DefaultHTTPAddr)+
					", PSC "+portOf(sandbox.DefaultPSCAddr)+", or those of its last start) or random"),
				// --sandbox-dir is serve's name of sandbox.dir, whose flag is the sandbox commands' --data-dir.
				sandboxDir: fs.String("sandbox-dir", "", "`directory` of the sandbox world, the one `mssante sandbox` uses (env MSSANTE_SANDBOX_DIR, config sandbox.dir; default <data-dir>/sandbox)"),
			}
			onConfig(fs, c.fill, serveKeys...)
			reword(fs, "listen", "`address` to listen on; plain HTTP only on a loopback address")
			reword(fs, "psc-scopes", "`scopes` asked at login, space-separated (default \"openid scope_all\"; with --psc-issuer: openid, plus scope_all and offline_access when the provider lists them)")
			reword(fs, "psc-any-acr", "accept a login whatever acr the provider reports (test providers that ignore acr_values=eidas1; refused with --psc production)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("serve takes no arguments")
				}
				return runServe(ctx, env, c)
			}
		},
	})
}

// serveFlags are the flags of serve; those of internal/config (server.*, psc.*, data_dir, db)
// point into the effective configuration once the flags are parsed.
type serveFlags struct {
	listen, tlsCert, tlsKey, publicURL              *string
	sandbox                                         *bool
	sandboxPorts, sandboxDir                        *string
	preset, issuer, discovery, clientID, secretFile *string
	clientCert, clientKey                           *string
	scopes, nidClaim                                *string
	anyACR                                          *bool
	mailboxClaims                                   stringList
	idle, maxLife                                   *time.Duration
	logLevel, dataDir                               *string
	db                                              *string
	cfg                                             *config.Config
}

// serveKeys are the configuration keys of serve.
var serveKeys = []string{"server.listen", "server.tls_cert", "server.tls_key", "server.public_url", "server.log_level",
	"server.idle_timeout", "server.max_session", "psc.env", "psc.issuer", "psc.discovery_url", "psc.client_id",
	"psc.client_secret_file", "psc.client_cert", "psc.client_key", "psc.scopes", "psc.national_id_claim",
	"psc.mailbox_claims", "psc.any_acr", "annuaire.source", "annuaire.fhir.url", "annuaire.fhir.api_key_file", "data_dir", "db"}

func (c *serveFlags) fill(cfg *config.Config) {
	s, p := &cfg.Server, &cfg.PSC
	c.listen, c.tlsCert, c.tlsKey, c.publicURL, c.logLevel = &s.Listen, &s.TLSCert, &s.TLSKey, &s.PublicURL, &s.LogLevel
	c.idle, c.maxLife = &s.IdleTimeout, &s.MaxSession
	c.preset, c.issuer, c.discovery, c.clientID, c.secretFile = &p.Env, &p.Issuer, &p.DiscoveryURL, &p.ClientID, &p.ClientSecretFile
	c.clientCert, c.clientKey, c.scopes, c.nidClaim, c.anyACR = &p.ClientCert, &p.ClientKey, &p.Scopes, &p.NationalIDClaim, &p.AnyACR
	c.mailboxClaims = p.MailboxClaims
	db := string(cfg.DB)
	c.dataDir, c.db, c.cfg = &cfg.DataDir, &db, cfg
	if *c.sandboxDir == "" {
		c.sandboxDir = &cfg.Sandbox.Dir // MSSANTE_SANDBOX_DIR, the file, else <data-dir>/sandbox
	}
}

// serveReady is the JSON line written on stdout once the server listens.
type serveReady struct {
	Status  string        `json:"status"` // "listening"
	URL     string        `json:"url"`
	TLS     bool          `json:"tls"`
	Sandbox *sandboxReady `json:"sandbox,omitempty"`
}

type sandboxReady struct {
	PSCURL   string `json:"psc_url"`   // the emulator
	CIBAPage string `json:"ciba_page"` // approve or deny pending CIBA requests there
	// Professionals are the test identities offered by the emulator.
	Professionals []sandboxPro `json:"professionals"`
	// World is what "mssante sandbox env" prints: operator addresses, autoconfig, trust root,
	// accounts.
	World *sandbox.Env `json:"world"`
}

type sandboxPro struct {
	NationalID string   `json:"national_id"`
	Name       string   `json:"name"`
	Mailboxes  []string `json:"mailboxes"`
}

func runServe(ctx context.Context, env *cmdEnv, c *serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*c.logLevel)); err != nil {
		return usagef("--log-level: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	if (*c.tlsCert == "") != (*c.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	secure := *c.tlsCert != ""
	ln, err := listen(*c.listen, secure)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := *c.publicURL
	if base == "" {
		base = map[bool]string{true: "https://", false: "http://"}[secure] + ln.Addr().String()
	}
	base = strings.TrimSuffix(base, "/")
	if !secure {
		log.Warn("plain HTTP on a loopback address: development only, cookies are not Secure", "listen", ln.Addr().String())
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg, ready, mailboxes, err := pscConfig(ctx, c, base, log)
	if err != nil {
		return err
	}
	client, err := psc.New(ctx, cfg) // keeps cfg.ClientSecret for client_secret_basic
	if err != nil {
		return err
	}
	trail, closeDB, err := openAuditURL(ctx, *c.db, c.cfg.Audit.Retention)
	if err != nil {
		return err
	}
	defer closeDB()
	// The web application (internal/web) under /app/, on the sessions of the server.
	var srv *server.Server
	app, closeWeb, err := serveWeb(ctx, c, ready, trail, func(r *http.Request) (*server.BrowserSession, bool) {
		return srv.BrowserSession(r)
	}, log.With("component", "web"))
	if err != nil {
		return err
	}
	defer closeWeb()
	srv, err = server.New(server.Options{PSC: client, Secure: secure, IdleTimeout: *c.idle,
		MaxLifetime: *c.maxLife, Mailboxes: mailboxes, MailboxClaims: c.mailboxClaims, NationalIDClaim: *c.nidClaim,
		Audit: trail, Logger: log, App: app.Handler()})
	if err != nil {
		return err
	}
	go srv.Run(ctx, time.Minute)

	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if secure {
		cert, err := tls.LoadX509KeyPair(*c.tlsCert, *c.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("intermediate LPS server listening", "url", base, "tls", secure, "sandbox", *c.sandbox,
		"psc_issuer", cfg.Issuer, "psc_discovery", client.DiscoveryURL(), "psc_scopes", strings.Join(client.Scopes(), " "),
		"psc_ciba", client.Metadata().BackchannelEndpoint != "", "idle_timeout", c.idle.String(), "max_session", c.maxLife.String())
	if cfg.AnyACR {
		log.Warn("acr check off: logins are accepted whatever acr the provider reports (test provider only)")
	}
	if err := writeJSONLine(env.stdout, serveReady{Status: "listening", URL: base, TLS: secure, Sandbox: ready}); err != nil {
		return err
	}
	// For a person at a terminal, the address to open alone on its line among the JSON logs (the
	// ready line on stdout and the "listening" log carry it for programs, whose stderr stays JSON).
	if env.stderrTTY {
		fmt.Fprintf(env.stderr, "\nmssante serve: open in a browser:\n%s/\n\n", base)
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	_ = srv.Close() // ends the sessions: event streams return, holders log out at PSC
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	log.Info("intermediate LPS server stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// portOf is the port of a host:port address.
func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return p
}

// listen opens the listening socket; without TLS only a loopback address is accepted.
func listen(addr string, secure bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, usagef("--listen: %v", err)
	}
	if !secure {
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, usagef("--listen %s: plain HTTP is allowed on a loopback address only; give --tls-cert and --tls-key", addr)
		}
	}
	return net.Listen("tcp", addr)
}

// pscConfig builds the PSC client configuration: the in-process emulator with --sandbox, else
// the preset or issuer with the registered client id and secret.
func pscConfig(ctx context.Context, c *serveFlags, base string, log *slog.Logger) (psc.Config, *sandboxReady,
	func(context.Context, *psc.UserInfo) ([]string, error), error) {
	redirect := base + "/auth/callback"
	if *c.sandbox {
		// The world of `mssante sandbox` (same directory, same default ports): one world, and its
		// lock tells a second start where the running one is.
		opts := sandbox.Options{DataDir: *c.sandboxDir, Logger: log.With("component", "sandbox")}
		switch *c.sandboxPorts {
		case "default":
		case "random":
			r := "127.0.0.1:0"
			opts.IMAPAddr, opts.SMTPAddr, opts.HTTPSAddr, opts.HTTPAddr, opts.PSCAddr = r, r, r, r, r
		default:
			return psc.Config{}, nil, nil, usagef("--sandbox-ports: default or random")
		}
		return sandboxPSC(ctx, opts, redirect, log)
	}
	cfg, err := psc.Preset(*c.preset)
	if err != nil {
		return cfg, nil, nil, usagef("--psc: %v", err)
	}
	if *c.issuer != "" {
		cfg.Issuer = *c.issuer
		// Another provider than PSC's two environments: choose the scopes from its discovery
		// document (generic providers give a refresh token only with offline_access).
		cfg.ScopesFromDiscovery = cfg.Issuer != psc.IssuerProduction && cfg.Issuer != psc.IssuerBAS
	}
	if *c.scopes != "" {
		cfg.Scopes = strings.FieldsFunc(*c.scopes, func(r rune) bool { return r == ' ' || r == ',' })
	}
	if *c.anyACR {
		if cfg.Issuer == psc.IssuerProduction {
			return cfg, nil, nil, usagef("--psc-any-acr is refused with the production PSC: an MSSanté login must be eidas1")
		}
		cfg.AnyACR = true
	}
	cfg.DiscoveryURL, cfg.ClientID, cfg.RedirectURL = *c.discovery, *c.clientID, redirect
	if cfg.ClientID == "" {
		return cfg, nil, nil, usagef("--psc-client-id is required (or --sandbox)")
	}
	switch {
	case (*c.clientCert == "") != (*c.clientKey == ""):
		return cfg, nil, nil, usagef("--psc-client-cert and --psc-client-key go together")
	case *c.clientCert != "" && *c.secretFile != "":
		return cfg, nil, nil, usagef("--psc-client-cert and --psc-client-secret-file are exclusive")
	case *c.clientCert != "":
		cert, err := tls.LoadX509KeyPair(*c.clientCert, *c.clientKey)
		if err != nil {
			return cfg, nil, nil, fmt.Errorf("--psc-client-cert: %w", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		cfg.HTTPClient = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	case *c.secretFile == "":
		return cfg, nil, nil, usagef("--psc-client-secret-file or --psc-client-cert/--psc-client-key is required (or --sandbox)")
	}
	if *c.secretFile != "" {
		b, err := os.ReadFile(*c.secretFile)
		if err != nil {
			return cfg, nil, nil, fmt.Errorf("--psc-client-secret-file: %w", err)
		}
		cfg.ClientSecret = []byte(strings.TrimSpace(string(b)))
		clear(b)
	}
	// todo spec: mailboxes of a professional come from the Annuaire (national id → BAL); until
	// that lookup is wired, the "email" claim of PSC's userinfo is used.
	return cfg, nil, nil, nil
}

// sandboxPSC starts the offline MSSanté world of internal/sandbox in the process (operator with
// IMAP and SMTP over STARTTLS, test IGC Santé PKI with CRL and OCSP, autoconfig, PSC emulator, seed
// data) under <data-dir>/sandbox, and logs professionals in against its PSC emulator, by redirect
// (the emulator's test login page) or by CIBA (approve on its /sandbox/ciba page). The world stops
// with ctx.
func sandboxPSC(ctx context.Context, opts sandbox.Options, redirect string, log *slog.Logger) (psc.Config, *sandboxReady,
	func(context.Context, *psc.UserInfo) ([]string, error), error) {
	w, err := sandbox.Start(ctx, opts)
	switch {
	case errors.Is(err, sandbox.ErrRunning):
		return psc.Config{}, nil, nil, fmt.Errorf("start the sandbox: %w\nstop that sandbox first (serve --sandbox runs the world itself), or give serve another world with --sandbox-dir", err)
	case errors.Is(err, sandbox.ErrPortInUse):
		return psc.Config{}, nil, nil, fmt.Errorf("start the sandbox: %w\nwith serve: --sandbox-ports random picks free ports", err)
	case err != nil:
		return psc.Config{}, nil, nil, fmt.Errorf("start the sandbox: %w", err)
	}
	cfg := psc.Config{Issuer: w.PSC.Issuer, DiscoveryURL: w.PSC.DiscoveryURL(), ClientID: sandbox.SandboxClientID, RedirectURL: redirect}
	ready := &sandboxReady{PSCURL: w.PSC.URL, CIBAPage: w.PSC.URL + "/sandbox/ciba", World: w.Env()}
	for _, p := range w.Config.Professionals {
		ready.Professionals = append(ready.Professionals, sandboxPro{NationalID: p.NationalID,
			Name: p.GivenName + " " + p.FamilyName, Mailboxes: w.Mailboxes(p.NationalID)})
	}
	log.Info("sandbox: world started", "psc_url", w.PSC.URL, "ciba_page", ready.CIBAPage,
		"imap", ready.World.IMAP, "smtp", ready.World.SMTP, "autoconfig_url", ready.World.AutoconfigURL)
	mailboxes := func(_ context.Context, u *psc.UserInfo) ([]string, error) {
		return w.Mailboxes(u.SubjectNameID), nil
	}
	return cfg, ready, mailboxes, nil
}
