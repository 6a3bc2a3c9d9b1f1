package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mssante/mssante/autoconfig"
	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// Transport commands: autoconfig, send, list, fetch (API LPS, issue 3). Connection flags are
// shared: the account, its credentials (a token file read at each authentication, or a client
// certificate and key), the servers (autoconfig or explicit), the trust policy.

// connFlags are the flags of a command that talks to the operator.
type connFlags struct {
	account       *string
	tokenFile     *string
	certFile      *string
	keyFile       *string
	autoconfigURL *string
	server        *string // --smtp or --imap
	trustRoots    stringList
	profile       *string
	dataDir       *string
	db            *string
	family        *string
	timeout       *time.Duration
	serverName    *string
}

func declareConn(fs *flag.FlagSet, serverFlag string) *connFlags {
	c := &connFlags{
		account:       fs.String("account", envOr("MSSANTE_ACCOUNT", ""), "mailbox `address` (env MSSANTE_ACCOUNT)"),
		tokenFile:     fs.String("token-file", envOr("MSSANTE_TOKEN_FILE", ""), "`file` holding the Pro Santé Connect access token, read at each authentication (XOAUTH2)"),
		certFile:      fs.String("cert", envOr("MSSANTE_CERT", ""), "ORG AUTH_CLI client certificate `file` (PEM), applicative mailboxes"),
		keyFile:       fs.String("key", envOr("MSSANTE_KEY", ""), "private key `file` of --cert (PEM)"),
		autoconfigURL: fs.String("autoconfig-url", envOr("MSSANTE_AUTOCONFIG_URL", ""), "autoconfig base `URL` (default https://autoconfig.<domain>)"),
		profile:       fs.String("profile", envOr("MSSANTE_PROFILE", "production"), "IGC Santé `profile`: production or test"),
		dataDir:       dataDirFlag(fs),
		db:            dbFlag(fs),
		timeout:       fs.Duration("timeout", 2*time.Minute, "give up the whole operation after `duration`"),
		serverName:    fs.String("server-name", envOr("MSSANTE_SERVER_NAME", ""), "`name` the server certificate must carry (default: the server's host; for a server reached by IP address)"),
	}
	fs.Var(&c.trustRoots, "trust-root", "PEM `file` of a root that REPLACES the IGC Santé anchors (test environments; repeatable; logged as a relaxation)")
	if serverFlag != "" {
		c.server = fs.String(serverFlag, "", "server `HOST:PORT` (instead of autoconfig)")
	}
	return c
}

// auth builds the authentication from the flags. The token file is read at each authentication
// and never copied (ECO.1.2.5).
func (c *connFlags) auth() (lps.Auth, string, error) {
	if *c.account == "" {
		return lps.Auth{}, "", usagef("--account is required")
	}
	if _, err := mail.ParseAddress(*c.account); err != nil || strings.ContainsAny(*c.account, "<> ") {
		return lps.Auth{}, "", usagef("--account: %q is not a mailbox address", *c.account)
	}
	switch {
	case *c.tokenFile != "" && *c.certFile != "":
		return lps.Auth{}, "", usagef("--token-file and --cert are exclusive")
	case *c.tokenFile != "":
		file := *c.tokenFile
		author := *c.account
		if tok, err := readToken(file); err == nil {
			author = tokenAuthor(tok, author)
		} else {
			return lps.Auth{}, "", err
		}
		return lps.Auth{Method: lps.AuthXOAUTH2, Address: *c.account,
			Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return readToken(file) })}, author, nil
	case *c.certFile != "":
		if *c.keyFile == "" {
			return lps.Auth{}, "", usagef("--cert needs --key")
		}
		cert, err := loadClientCertificate(*c.certFile, *c.keyFile)
		if err != nil {
			return lps.Auth{}, "", err
		}
		author := *c.account
		if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil && len(leaf.Subject.OrganizationalUnit) > 0 {
			author = leaf.Subject.OrganizationalUnit[0]
		}
		return lps.Auth{Method: lps.AuthCertPlain, Address: *c.account, Certificate: &cert}, author, nil
	}
	return lps.Auth{}, "", usagef("--token-file or --cert/--key is required")
}

// loadClientCertificate reads the ORG AUTH_CLI certificate (with its chain, leaf first) and its
// private key (PKCS#1, PKCS#8 or SEC 1 PEM; both may be in one file). An encrypted key is refused
// with a message saying so: Go cannot decrypt it and a passphrase has no place on the command line.
func loadClientCertificate(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate key: %w", err)
	}
	for name, data := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if !bytes.Contains(data, []byte("-----BEGIN ")) {
			return tls.Certificate{}, fmt.Errorf("client certificate: %s is not PEM (DER or PKCS#12?): convert it, e.g. "+
				"openssl pkcs12 -in FILE.p12 -clcerts -nokeys -out cert.pem and openssl pkcs12 -in FILE.p12 -nocerts -noenc -out key.pem", name)
		}
	}
	for rest := keyPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return tls.Certificate{}, fmt.Errorf("client certificate key %s is encrypted (passphrase-protected): "+
				"give an unencrypted key file readable only by you (openssl pkey -in %s -out KEY.pem)", keyFile, keyFile)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate %s / key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

func readToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", errors.New("token file is empty")
	}
	return tok, nil
}

// tokenAuthor reads the professional's id from the token's claims (preferred_username, else sub)
// for the audit trail; the token itself is not kept.
func tokenAuthor(tok, def string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return def
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return def
	}
	var claims struct {
		PreferredUsername string `json:"preferred_username"`
		Sub               string `json:"sub"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return def
	}
	return firstNonEmpty(claims.PreferredUsername, claims.Sub, def)
}

// policy builds the TLS policy: IGC Santé anchors of the profile from <data-dir>/trust, or the
// --trust-root certificates (a relaxation, logged), revocation with the CRL cache in <data-dir>/crl.
func (c *connFlags) policy(stderr io.Writer) (*trust.Policy, error) {
	profile, err := trust.ParseProfile(*c.profile)
	if err != nil {
		return nil, usagef("--profile: %v", err)
	}
	refresh, err := crlRefresh()
	if err != nil {
		return nil, err
	}
	o := trust.Options{Profile: profile, AnchorsDir: filepath.Join(*c.dataDir, "trust"),
		CRLCacheDir: filepath.Join(*c.dataDir, "crl"), CRLRefresh: refresh,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	for _, f := range c.trustRoots {
		certs, err := trust.ReadCertificates(f)
		if err != nil {
			return nil, fmt.Errorf("--trust-root %s: %w", f, err)
		}
		o.ExtraRoots = append(o.ExtraRoots, certs...)
	}
	if o.CRLCacheDir != "" {
		if err := os.MkdirAll(o.CRLCacheDir, 0o700); err != nil {
			return nil, err
		}
	}
	return trust.New(o)
}

// crlRefresh is how long a cached CRL is used without a download (MSSANTE_CRL_REFRESH, a Go
// duration). A command is short-lived: by default it downloads the CRLs at each run and uses the
// cached ones only when the download fails, until their nextUpdate (ECO.1.1.7), so that a
// certificate revoked since the last run is refused at once.
func crlRefresh() (time.Duration, error) {
	v := envOr("MSSANTE_CRL_REFRESH", "")
	if v == "" || v == "0" {
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("MSSANTE_CRL_REFRESH: %q is not a duration ≥ 0", v)
	}
	return d, nil
}

// deadline bounds the whole command by --timeout (a silent server must not hang the CLI).
func (c *connFlags) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if *c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, *c.timeout)
}

// refused is the error of a connection the server or the policy refused, with a hint when the
// certificate does not carry the name the server was reached by.
func (c *connFlags) refused(ep lps.Endpoint, err error) error {
	var re *trust.RefusalError
	if errors.As(err, &re) && re.Rule == trust.RuleHostname && *c.serverName == "" {
		return fmt.Errorf("connection to %s refused: %w (give the name in the certificate with --server-name)", ep, err)
	}
	return fmt.Errorf("connection to %s refused: %w", ep, err)
}

// session is what a transport command needs: options for lps and the audit trail.
type transport struct {
	auth   lps.Auth
	author string
	opts   *lps.Options
	policy *trust.Policy
	close  func()
}

func (c *connFlags) open(ctx context.Context, env *cmdEnv) (*transport, error) {
	auth, author, err := c.auth()
	if err != nil {
		return nil, err
	}
	return c.openWith(ctx, env, auth, author)
}

// openWith is open with an authentication built by the caller (watch logs in at a server).
func (c *connFlags) openWith(ctx context.Context, env *cmdEnv, auth lps.Auth, author string) (*transport, error) {
	pol, err := c.policy(env.stderr)
	if err != nil {
		return nil, err
	}
	trail, closeDB, err := openAuditURL(ctx, dbURL(*c.db, *c.dataDir))
	if err != nil {
		return nil, err
	}
	rec := &auditRecorder{trail: trail, author: author, stderr: env.stderr}
	opts := &lps.Options{TLS: pol.ClientConfig(*c.serverName, nil), Recorder: rec,
		ClassifyTLSError: trust.ClassifyHandshakeError,
		Logger:           slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	return &transport{auth: auth, author: author, opts: opts, policy: pol, close: closeDB}, nil
}

// auditRecorder stores lps events in the audit trail (ECO.4.1.1); the trail redacts again.
type auditRecorder struct {
	trail  *audit.Trail
	author string
	server string
	stderr io.Writer
}

func (r *auditRecorder) Record(ctx context.Context, ev lps.Event) {
	action := audit.Action(ev.Action)
	if ev.Action == lps.ActionFetch {
		action = audit.ActionRead
	}
	e := audit.Event{Time: ev.Time, Author: r.author, Account: ev.Account, Action: action,
		Server: r.server, Request: ev.Request, Response: ev.Response, OK: ev.Err == nil}
	if ev.Err != nil {
		e.Error = ev.Err.Error()
	}
	if _, err := r.trail.Append(context.WithoutCancel(ctx), e); err != nil {
		fmt.Fprintf(r.stderr, "mssante: audit trail: %v\n", err)
	}
}

func (t *transport) setServer(ep lps.Endpoint) {
	if r, ok := t.opts.Recorder.(*auditRecorder); ok {
		r.server = ep.String()
	}
}

// endpoint resolves the server of protocol ("smtp" or "imap"): the explicit flag, else autoconfig.
func (c *connFlags) endpoint(ctx context.Context, t *transport, protocol string) (lps.Endpoint, error) {
	if c.server != nil && *c.server != "" {
		ep, err := lps.ParseEndpoint(*c.server)
		if err != nil {
			return lps.Endpoint{}, usagef("--%s: %v", protocol, err)
		}
		return ep, nil
	}
	family := "personal"
	if t.auth.Method == lps.AuthCertPlain {
		family = "applicative"
	}
	servers, err := discover(ctx, *c.account, family, *c.autoconfigURL, t.policy)
	if err != nil {
		return lps.Endpoint{}, err
	}
	for _, s := range servers {
		if s.Protocol == protocol {
			// The operator's <username> (placeholders substituted) is the login; MSSanté
			// operators give the address itself (ECO.1.2.1, ECO.1.3.1).
			if s.Username != "" && s.Username != t.auth.Address {
				t.auth.Login = s.Username
			}
			return startTLSEndpoint(s)
		}
	}
	return lps.Endpoint{}, fmt.Errorf("autoconfig gives no %s server for %s", protocol, family)
}

func init() {
	register(&command{
		name:    "send",
		summary: "submit an .eml message to the operator (SMTP 587, STARTTLS, XOAUTH2 or certificate)",
		usage:   "send FILE.eml --account ADDR (--token-file F | --cert F --key F) [--autoconfig-url URL | --smtp HOST:PORT] [--trust-root PEM]… [--server-name NAME] [--profile production|test] [--dsn] [--data-dir DIR]",
		example: "mssante send cr.eml --account dr.martin@test.mssante.fr --token-file ~/.psc-token --smtp smtp.test.mssante.fr:587 --dsn",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "smtp")
			dsn := fs.Bool("dsn", false, "ask for delivery status notifications (RFC 3461) when the server offers DSN")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 {
					return usagef("one message file expected")
				}
				return runSend(ctx, env, c, args[0], *dsn)
			}
		},
	})
	register(&command{
		name:    "list",
		summary: "list the messages of a mailbox (IMAP 143, STARTTLS) as JSON lines, newest first",
		usage:   "list --account ADDR (--token-file F | --cert F --key F) [--autoconfig-url URL | --imap HOST:PORT] [--trust-root PEM]… [--server-name NAME] [--profile production|test] [--mailbox INBOX] [--limit N] [--data-dir DIR]",
		example: "mssante list --account dr.martin@test.mssante.fr --token-file ~/.psc-token --imap imap.test.mssante.fr:143 --limit 20",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "imap")
			mailbox := fs.String("mailbox", "INBOX", "`mailbox` to list")
			limit := fs.Int("limit", 50, "at most `N` messages, the most recent (0: all)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				if *limit < 0 {
					return usagef("--limit must be ≥ 0")
				}
				return runList(ctx, env, c, *mailbox, *limit)
			}
		},
	})
	register(&command{
		name:    "fetch",
		summary: "download one message by UID into an .eml file (not marked as read)",
		usage:   "fetch --account ADDR (--token-file F | --cert F --key F) [--autoconfig-url URL | --imap HOST:PORT] [--trust-root PEM]… [--server-name NAME] [--mailbox INBOX] --uid N -o OUT.eml [--data-dir DIR]",
		example: "mssante fetch --account dr.martin@test.mssante.fr --token-file ~/.psc-token --imap imap.test.mssante.fr:143 --uid 42 -o msg.eml",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "imap")
			mailbox := fs.String("mailbox", "INBOX", "`mailbox` holding the message")
			uid := fs.Uint("uid", 0, "`UID` of the message (required)")
			out := fs.String("o", "", "output `file` (required; - writes the message on stdout, without the JSON summary)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				if *uid == 0 || *uid > 1<<32-1 || *out == "" {
					return usagef("--uid and -o are required")
				}
				return runFetch(ctx, env, c, *mailbox, uint32(*uid), *out)
			}
		},
	})
	register(&command{
		name:    "autoconfig",
		summary: "discover the operator's servers for an address, and optionally test the connection",
		usage:   "autoconfig ADDR [--family personal|applicative] [--autoconfig-url URL] [--test-connection (--token-file F | --cert F --key F)] [--trust-root PEM]… [--server-name NAME] [--profile production|test] [--data-dir DIR]",
		example: "mssante autoconfig dr.martin@test.mssante.fr --test-connection --token-file ~/.psc-token --profile test",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "")
			family := fs.String("family", "", "mailbox `family`: personal (OAuth2) or applicative (TLS-client-cert); default from the credentials, else personal")
			test := fs.Bool("test-connection", false, "run the connection test (STARTTLS, auth, NOOP, LOGOUT/QUIT) on each server")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 {
					return usagef("one address expected")
				}
				*c.account = args[0]
				return runAutoconfig(ctx, env, c, *family, *test)
			}
		},
	})
}

type sendResult struct {
	Account      string   `json:"account"`
	Server       string   `json:"server"`
	TLSVersion   string   `json:"tls_version"`
	TLSSuite     string   `json:"tls_suite"`
	From         string   `json:"from"`
	Recipients   []string `json:"recipients"`
	Size         int64    `json:"size"`
	DSNRequested bool     `json:"dsn_requested"`
	Response     string   `json:"response"`
}

func runSend(ctx context.Context, env *cmdEnv, c *connFlags, file string, dsn bool) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	rcpts, msg, err := envelope(raw)
	if err != nil {
		return err
	}
	t, err := c.open(ctx, env)
	if err != nil {
		return err
	}
	defer t.close()
	ep, err := c.endpoint(ctx, t, "smtp")
	if err != nil {
		return err
	}
	t.setServer(ep)
	sc, err := lps.DialSMTP(ctx, ep, t.auth, t.opts)
	if err != nil {
		return c.refused(ep, err)
	}
	defer sc.Close()
	var d *lps.DSN
	if dsn {
		d = &lps.DSN{}
	}
	res, err := sc.Submit(ctx, *c.account, rcpts, bytes.NewReader(msg), d)
	if err != nil {
		return err
	}
	if dsn && !res.DSNRequested {
		fmt.Fprintf(env.stderr, "mssante send: %s does not offer DSN (RFC 3461): message sent without a delivery status request\n", ep)
	}
	version, suite := sc.TLS()
	return writeJSON(env.stdout, sendResult{Account: *c.account, Server: ep.String(), TLSVersion: version,
		TLSSuite: suite, From: *c.account, Recipients: rcpts, Size: res.Size, DSNRequested: res.DSNRequested,
		Response: res.Response})
}

// envelope returns the recipients of a message (To, Cc, Bcc) and the message without its Bcc
// header, which must not reach the recipients.
func envelope(raw []byte) ([]string, []byte, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("read message: %w", err)
	}
	var rcpts []string
	seen := map[string]bool{}
	for _, h := range []string{"To", "Cc", "Bcc"} {
		if m.Header.Get(h) == "" {
			continue
		}
		list, err := m.Header.AddressList(h)
		if err != nil {
			return nil, nil, fmt.Errorf("message header %s: %w", h, err)
		}
		for _, a := range list {
			if k := strings.ToLower(a.Address); !seen[k] {
				seen[k] = true
				rcpts = append(rcpts, a.Address)
			}
		}
	}
	if len(rcpts) == 0 {
		return nil, nil, errors.New("the message has no recipient (To, Cc, Bcc)")
	}
	return rcpts, stripHeader(raw, "Bcc"), nil
}

// stripHeader removes every field name (and its continuation lines) from the header of raw.
func stripHeader(raw []byte, name string) []byte {
	var out bytes.Buffer
	rest := raw
	skipping := false
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			out.Write(line)
			out.Write(rest)
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !skipping {
				out.Write(line)
			}
			continue
		}
		colon := bytes.IndexByte(trimmed, ':')
		skipping = colon > 0 && strings.EqualFold(strings.TrimSpace(string(trimmed[:colon])), name)
		if !skipping {
			out.Write(line)
		}
	}
	return out.Bytes()
}

type listLine struct {
	UID     uint32    `json:"uid"`
	From    string    `json:"from"`
	Subject string    `json:"subject"`
	Date    time.Time `json:"date"`
	Flags   []string  `json:"flags"`
	Size    int64     `json:"size"`
}

func (c *connFlags) dialIMAP(ctx context.Context, env *cmdEnv) (*lps.IMAPClient, *transport, error) {
	t, err := c.open(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	ep, err := c.endpoint(ctx, t, "imap")
	if err != nil {
		t.close()
		return nil, nil, err
	}
	t.setServer(ep)
	ic, err := lps.DialIMAP(ctx, ep, t.auth, t.opts)
	if err != nil {
		t.close()
		return nil, nil, c.refused(ep, err)
	}
	return ic, t, nil
}

// openMailbox opens an IMAP session and selects mailbox; done closes the session, then the
// transport (audit trail).
func (c *connFlags) openMailbox(ctx context.Context, env *cmdEnv, mailbox string) (*lps.IMAPClient, func(), error) {
	ic, t, err := c.dialIMAP(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	done := func() {
		_ = ic.Close()
		t.close()
	}
	if _, err := ic.Select(ctx, mailbox); err != nil {
		done()
		return nil, nil, err
	}
	return ic, done, nil
}

func runList(ctx context.Context, env *cmdEnv, c *connFlags, mailbox string, limit int) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	ic, done, err := c.openMailbox(ctx, env, mailbox)
	if err != nil {
		return err
	}
	defer done()
	uids, err := ic.Search(ctx, lps.Criteria{})
	if err != nil {
		return err
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] > uids[j] })
	if limit > 0 && len(uids) > limit {
		uids = uids[:limit]
	}
	sums, err := ic.Summaries(ctx, uids)
	if err != nil {
		return err
	}
	sort.Slice(sums, func(i, j int) bool { return sums[i].UID > sums[j].UID })
	for _, s := range sums {
		if err := writeJSONLine(env.stdout, listLine{UID: s.UID, From: strings.Join(s.From, ", "),
			Subject: s.Subject, Date: s.Date, Flags: s.Flags, Size: s.Size}); err != nil {
			return err
		}
	}
	return nil
}

func runFetch(ctx context.Context, env *cmdEnv, c *connFlags, mailbox string, uid uint32, out string) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	ic, done, err := c.openMailbox(ctx, env, mailbox)
	if err != nil {
		return err
	}
	defer done()
	if out == "-" {
		// The message itself on stdout (no JSON summary, which would mix with it).
		_, err := ic.FetchBody(ctx, uid, env.stdout)
		return err
	}
	var n int64
	if fi, serr := os.Stat(out); serr == nil && !fi.Mode().IsRegular() {
		// A device or a pipe (/dev/stdout, a FIFO): written in place, never replaced by a rename.
		f, err := os.OpenFile(out, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		n, err = ic.FetchBody(ctx, uid, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	} else {
		tmp, err := os.CreateTemp(filepath.Dir(out), ".fetch-*.eml")
		if err != nil {
			return fmt.Errorf("-o %s: %w", out, err)
		}
		defer os.Remove(tmp.Name())
		n, err = ic.FetchBody(ctx, uid, tmp)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), out); err != nil {
			return err
		}
	}
	return writeJSON(env.stdout, map[string]any{"uid": uid, "mailbox": mailbox, "bytes": n, "file": out})
}

type autoconfigResult struct {
	Address string              `json:"address"`
	Family  string              `json:"family"`
	Servers []autoconfig.Server `json:"servers"`
	Test    []lps.Step          `json:"test,omitempty"`
}

func runAutoconfig(ctx context.Context, env *cmdEnv, c *connFlags, family string, test bool) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	if family == "" {
		family = "personal"
		if *c.certFile != "" {
			family = "applicative"
		}
	}
	if family != "personal" && family != "applicative" {
		return usagef("--family must be personal or applicative")
	}
	var t *transport
	var pol *trust.Policy
	var err error
	if test {
		if t, err = c.open(ctx, env); err != nil {
			return err
		}
		defer t.close()
		if (family == "applicative") != (t.auth.Method == lps.AuthCertPlain) {
			return usagef("family %s needs %s", family, map[bool]string{true: "--cert/--key", false: "--token-file"}[family == "applicative"])
		}
		pol = t.policy
	} else if pol, err = c.policy(env.stderr); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return err
		}
		// Discovery alone only needs the public roots; the IGC Santé anchors are missing until
		// `mssante trust update` has run.
		fmt.Fprintf(env.stderr, "mssante autoconfig: IGC Santé anchors unavailable (%v); fetching with the system roots only\n", err)
		pol = nil
	}
	servers, err := discover(ctx, *c.account, family, *c.autoconfigURL, pol)
	if err != nil {
		return err
	}
	res := autoconfigResult{Address: *c.account, Family: family, Servers: servers}
	var failed []string
	if test {
		for _, s := range servers {
			ep, err := startTLSEndpoint(s)
			if err != nil {
				res.Test = append(res.Test, lps.Step{Protocol: s.Protocol, Name: "starttls", Error: err.Error()})
				failed = append(failed, err.Error())
				continue
			}
			t.setServer(ep)
			auth := t.auth
			if s.Username != "" && s.Username != auth.Address {
				auth.Login = s.Username
			}
			steps := lps.Probe(ctx, s.Protocol, ep, auth, t.opts)
			res.Test = append(res.Test, steps...)
			if last := steps[len(steps)-1]; !last.OK {
				failed = append(failed, fmt.Sprintf("%s %s: %s: %s", s.Protocol, ep, last.Name, last.Error))
			}
		}
	}
	if err := writeJSON(env.stdout, res); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("connection test failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

// discover resolves the servers of address for family through autoconfig (ECO.1.1.9): the
// document from https://autoconfig.<domain> (or baseURL), fetched with IGC Santé anchors plus the
// public roots; entries of the family, placeholders substituted, plaintext entries refused.
func discover(ctx context.Context, address, family, baseURL string, pol *trust.Policy) ([]autoconfig.Server, error) {
	var client *http.Client // system roots only, when no policy could be built (discovery without test)
	if pol != nil {
		client = pol.AutoconfigHTTPClient()
	}
	fam, err := autoconfig.ParseFamily(family)
	if err != nil {
		return nil, usagef("--family: %v", err)
	}
	cfg, err := autoconfig.Discover(ctx, address, autoconfig.Options{BaseURL: baseURL, HTTPClient: client})
	if err != nil {
		return nil, err
	}
	sel, err := cfg.Select(fam)
	if err != nil {
		return nil, fmt.Errorf("autoconfig %s: %w", cfg.URL, err)
	}
	return []autoconfig.Server{sel.SMTP, sel.IMAP}, nil
}

// startTLSEndpoint checks that an autoconfig server uses STARTTLS, the only mode of the API LPS
// (ECO.1.0.1, ECO.1.0.2: SMTP 587 and IMAP 143 with STARTTLS).
func startTLSEndpoint(s autoconfig.Server) (lps.Endpoint, error) {
	if !strings.EqualFold(s.SocketType, "STARTTLS") {
		return lps.Endpoint{}, fmt.Errorf("autoconfig %s server %s uses socketType %s: the API LPS requires STARTTLS (ECO.1.0.1/ECO.1.0.2)",
			s.Protocol, s.Addr(), s.SocketType)
	}
	return lps.Endpoint{Host: s.Host, Port: s.Port}, nil
}
