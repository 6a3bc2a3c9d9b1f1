package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/mssante/mssante/hl7"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/config"
	"github.com/mssante/mssante/internal/gateway"
	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/lps"
)

// gateway: the delivery layer of applicative mailboxes (issue 13): outbox workers, sync + IDLE
// per mailbox, drop folders, webhooks and the REST API, in one process; several processes on
// one PostgreSQL share the work.

type gatewayFlags struct {
	conn                          *connFlags
	imap, label                   *string
	listen, tlsCert, tlsKey       *string
	clientCA                      *string
	outboxDir, inboxDir           *string
	hl7Dir, mllpAddr, hl7App      *string
	folder, doneFolder            *string
	webhook, webhookSecret        *string
	appContact                    *string
	workers, syncConcurrency      *int
	lease, poll, reidle, maxDelay *time.Duration
}

func init() {
	register(&command{
		name:    "gateway",
		summary: "run the gateway of applicative mailboxes: REST API, drop folders, webhooks, outbox and sync",
		usage:   "gateway --listen ADDR [--account ADDR --cert FILE --key FILE | config.toml [[account]]] [--outbox-dir DIR] [--inbox-dir DIR] [--hl7-dir DIR] [--mllp HOST:PORT] [--done-folder NAME] [--webhook URL --webhook-secret-file FILE] [--data-dir DIR] [--db URL]",
		example: "mssante gateway --listen 127.0.0.1:8089 --account labo@hopital.mssante.fr --cert labo.pem --key labo.key --outbox-dir /srv/mss/out --inbox-dir /srv/mss/in --done-folder Traités",
		flags: func(fs *flag.FlagSet) runFunc {
			f := &gatewayFlags{conn: declareConn(fs, "smtp")}
			f.imap = fs.String("imap", "", "IMAP server `HOST:PORT` (instead of autoconfig)")
			f.label = fs.String("from-label", "", "display `label` of the mailbox in From (ECO.2.2.7; default the address)")
			f.listen = fs.String("listen", "127.0.0.1:8089", "`address` of the REST API (plain HTTP on loopback only, else --tls-cert/--tls-key)")
			f.tlsCert = fs.String("tls-cert", "", "TLS certificate `file` of the API")
			f.tlsKey = fs.String("tls-key", "", "TLS key `file` of the API")
			f.clientCA = fs.String("client-ca", "", "PEM `file` of the CAs of the client certificates the API accepts instead of a key")
			f.outboxDir = fs.String("outbox-dir", "", "drop `directory`: NAME.xml (CDA) then NAME.json are sent, moved to sent/ or error/")
			f.inboxDir = fs.String("inbox-dir", "", "`directory` where received documents land as <INS>/<date>_<type>_<id>.{xml,pdf,json}")
			f.hl7Dir = fs.String("hl7-dir", "", "`directory` where each received document is written as one HL7 v2.6 MDM^T02 (T10 when it replaces one), CI-SIS profile")
			f.mllpAddr = fs.String("mllp", "", "record system `HOST:PORT` receiving one MDM per document over MLLP; its ACK marks the document integrated or rejected")
			f.hl7App = fs.String("hl7-receiving-app", "", "MSH-5 receiving `application` of the MDM messages (the record system's name)")
			f.folder = fs.String("folder", "INBOX", "`folder` received documents are read from")
			f.doneFolder = fs.String("done-folder", "", "`folder` the received mail is moved to once its documents are stored (created when missing; empty: left in place)")
			f.webhook = fs.String("webhook", "", "`URL` receiving a signed JSON event per received document and outbox state change")
			f.webhookSecret = fs.String("webhook-secret-file", "", "`file` holding the HMAC-SHA256 key of the webhook signature")
			f.appContact = fs.String("app-contact", "", "personal or organisational `address` named in the closing notice of sent mail (ECO.2.2.5)")
			f.workers = fs.Int("workers", 2, "outbox workers")
			f.syncConcurrency = fs.Int("sync-concurrency", 4, "mailboxes synchronised at once")
			f.lease = fs.Duration("lease", 30*time.Second, "lease of a message, a mailbox's sync or a delivery held by this process")
			f.poll = fs.Duration("poll", time.Second, "period of the drop folder scan and of the queues")
			f.reidle = fs.Duration("reidle", 5*time.Minute, "longest IDLE before a new sync")
			f.maxDelay = fs.Duration("max-backoff", time.Minute, "longest wait after a failure")
			conf := useConfig(fs, "message.nil", "patient_domain")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("unexpected argument %q", args[0])
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				return runGateway(ctx, env, f, cfg)
			}
		},
	})
	register(&command{
		name:    "gateway key create",
		summary: "create an API key of the gateway for one mailbox (printed once; only its hash is stored)",
		usage:   "gateway key create --mailbox ADDR [--data-dir DIR] [--db URL]",
		example: "mssante gateway key create --mailbox labo@hopital.mssante.fr --data-dir /var/lib/mssante",
		flags: func(fs *flag.FlagSet) runFunc {
			mailbox := fs.String("mailbox", "", "mailbox `address` the key gives access to")
			conf := useConfig(fs, "data_dir", "db")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 || *mailbox == "" || !strings.Contains(*mailbox, "@") {
					return usagef("--mailbox ADDRESS is required")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				d, err := store.Open(ctx, string(cfg.DB), gateway.Migrations()...)
				if err != nil {
					return err
				}
				defer d.Close()
				key, err := gateway.CreateKey(ctx, d, rand.Reader, *mailbox, time.Now().UTC().Format(time.RFC3339Nano))
				if err != nil {
					return err
				}
				return writeJSON(env.stdout, map[string]string{"key": key, "mailbox": strings.ToLower(*mailbox)})
			}
		},
	})
}

// gatewayAccounts are the mailboxes to serve: the flags' account (with its [[account]] table
// when there is one), else every [[account]] table.
func gatewayAccounts(f *gatewayFlags, cfg *config.Config) ([]config.Account, error) {
	if cfg.Mail.Account != "" || len(cfg.Accounts) == 1 {
		a := cfg.MailAccount()
		if f.conn.server != nil && *f.conn.server != "" {
			a.SMTP = *f.conn.server
		}
		if *f.imap != "" {
			a.IMAP = *f.imap
		}
		return []config.Account{a}, nil
	}
	if len(cfg.Accounts) == 0 {
		return nil, usagef("--account (with --cert/--key) or [[account]] tables in the configuration file are required")
	}
	return cfg.Accounts, nil
}

// connector builds the mailbox options of one account: credentials, servers (flags, table or
// autoconfig), TLS policy and the audit trail of the database.
func (f *gatewayFlags) connector(ctx context.Context, env *cmdEnv, a config.Account) (*gateway.AccountConnector, func(), error) {
	c := *f.conn
	none := ""
	c.server = &none
	c.useAccount(a)
	creds, author, err := c.credentials()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", a.Address, err)
	}
	o, err := c.options(env, creds, author)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range []struct {
		flag, value string
		ep          *lps.Endpoint
	}{{"smtp", a.SMTP, &o.SMTP}, {"imap", a.IMAP, &o.IMAP}} {
		if s.value == "" {
			continue // autoconfig (ECO.1.1.9)
		}
		if *s.ep, err = lps.ParseEndpoint(s.value); err != nil {
			return nil, nil, usagef("%s: --%s: %v", a.Address, s.flag, err)
		}
	}
	if o.Policy, err = c.policy(env.stderr); err != nil {
		return nil, nil, err
	}
	trail, closeDB, err := openAuditURL(ctx, *c.db, c.cfg.Audit.Retention)
	if err != nil {
		return nil, nil, err
	}
	o.Audit = trail
	if _, err := mailbox.New(o); err != nil {
		closeDB()
		return nil, nil, fmt.Errorf("%s: %w", a.Address, err)
	}
	return &gateway.AccountConnector{Options: o, Timeout: *c.timeout}, closeDB, nil
}

func runGateway(ctx context.Context, env *cmdEnv, f *gatewayFlags, cfg *config.Config) error {
	log := slog.New(slog.NewJSONHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	accounts, err := gatewayAccounts(f, cfg)
	if err != nil {
		return err
	}
	secure := *f.tlsCert != "" || *f.tlsKey != ""
	ln, err := listen(*f.listen, secure)
	if err != nil {
		return err
	}
	defer ln.Close()
	db, err := store.Open(ctx, *f.conn.db, gateway.Migrations()...)
	if err != nil {
		return err
	}
	defer db.Close()
	var boxes []gateway.Mailbox
	for _, a := range accounts {
		conn, closeConn, err := f.connector(ctx, env, a)
		if err != nil {
			return err
		}
		defer closeConn()
		label := *f.label
		if len(accounts) > 1 {
			label = ""
		}
		boxes = append(boxes, gateway.Mailbox{Address: a.Address, Label: label, Conn: conn})
	}
	o := gateway.Options{Mailboxes: boxes, Folder: *f.folder, DoneFolder: *f.doneFolder,
		OutboxDir: *f.outboxDir, InboxDir: *f.inboxDir, Workers: *f.workers, SyncConcurrency: *f.syncConcurrency,
		Lease: *f.lease, Poll: *f.poll, Reidle: *f.reidle, MaxBackoff: *f.maxDelay,
		Compose:  gateway.ComposeOptions{NIL: cfg.Message.NIL, PatientDomain: cfg.PatientDomain, AppContact: *f.appContact},
		Patients: patients.New(db), Logger: log}
	hl7Env := hl7.Envelope{SendingApplication: "MSSANTE", ReceivingApplication: *f.hl7App}
	if *f.hl7Dir != "" {
		o.Deliveries = append(o.Deliveries, &gateway.HL7Delivery{Dir: *f.hl7Dir, Envelope: hl7Env})
	}
	if *f.mllpAddr != "" {
		o.Deliveries = append(o.Deliveries, &gateway.HL7Delivery{Addr: *f.mllpAddr, Envelope: hl7Env})
	}
	if *f.webhook != "" {
		if *f.webhookSecret == "" {
			return usagef("--webhook needs --webhook-secret-file")
		}
		secret, err := os.ReadFile(*f.webhookSecret)
		if err != nil {
			return fmt.Errorf("--webhook-secret-file: %w", err)
		}
		o.Webhook = &gateway.Webhook{URL: *f.webhook, Secret: []byte(strings.TrimSpace(string(secret)))}
	}
	g, err := gateway.New(db, o)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if secure {
		cert, err := tls.LoadX509KeyPair(*f.tlsCert, *f.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if *f.clientCA != "" {
			pem, err := os.ReadFile(*f.clientCA)
			if err != nil {
				return fmt.Errorf("--client-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("--client-ca %s: no certificate", *f.clientCA)
			}
			hs.TLSConfig.ClientCAs, hs.TLSConfig.ClientAuth = pool, tls.VerifyClientCertIfGiven
		}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- g.Run(ctx) }()
	srvErr := make(chan error, 1)
	go func() { srvErr <- hs.Serve(ln) }()
	var addrs []string
	for _, b := range boxes {
		addrs = append(addrs, b.Address)
	}
	ready, _ := json.Marshal(map[string]any{"status": "listening", "url": scheme + "://" + ln.Addr().String(), "mailboxes": addrs, "owner": g.Owner()})
	fmt.Fprintln(env.stdout, string(ready))
	log.Info("gateway listening", "url", scheme+"://"+ln.Addr().String(), "mailboxes", addrs, "owner", g.Owner())
	select {
	case err = <-runErr:
	case err = <-srvErr:
	case <-ctx.Done():
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
