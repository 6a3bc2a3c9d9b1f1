package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mssante/mssante/autoconfig"
	"github.com/mssante/mssante/internal/config"
	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// Transport commands: autoconfig, send, list, fetch (API LPS, issue 3). Connection flags are
// shared: the account, its credentials (a token file read at each authentication, or a client
// certificate and key), the servers (autoconfig or explicit), the trust policy. The work is done
// by internal/mailbox; this file turns flags into mailbox.Options and prints the results.

// connFlags are the flags of a command that talks to the operator. The account, credential,
// server name, trust and state flags come from internal/config (flag > MSSANTE_… > config.toml
// > default): once the flags are parsed, the fields hold the effective values, the account's
// credentials and servers taken from its [[account]] table unless a flag, the environment or
// the [mail] table sets them. --smtp/--imap and --timeout are the command's own.
type connFlags struct {
	account       *string
	tokenFile     *string
	certFile      *string
	keyFile       *string
	autoconfigURL *string
	server        *string // --smtp or --imap, else the [[account]] table's
	serverFlag    string
	trustRoots    stringList
	profile       *string
	dataDir       *string
	db            *string
	timeout       *time.Duration
	serverName    *string
	family        string // the [[account]] table's, "" when none

	cfg *config.Config // the effective configuration, once parsed
}

// connKeys are the configuration keys of the connection flags.
var connKeys = []string{"mail.account", "mail.token_file", "mail.cert", "mail.key", "mail.server_name",
	"autoconfig_url", "trust.profile", "trust.roots", "data_dir", "db"}

func declareConn(fs *flag.FlagSet, serverFlag string) *connFlags {
	c := &connFlags{
		timeout:    fs.Duration("timeout", 2*time.Minute, "give up the whole operation after `duration`"),
		serverFlag: serverFlag,
	}
	if serverFlag != "" {
		c.server = fs.String(serverFlag, "", "server `HOST:PORT` (instead of autoconfig)")
	}
	onConfig(fs, c.fill, connKeys...)
	return c
}

// fill takes the effective configuration once the flags are parsed.
func (c *connFlags) fill(cfg *config.Config) {
	c.cfg = cfg
	db := string(cfg.DB)
	c.profile, c.dataDir, c.db, c.trustRoots = &cfg.Trust.Profile, &cfg.DataDir, &db, cfg.Trust.Roots
	c.useAccount(cfg.MailAccount())
}

// useAccount takes the address, credentials and servers of a: the account of the flags, or
// the one autoconfig names by its argument (forAccount).
func (c *connFlags) useAccount(a config.Account) {
	c.account, c.tokenFile, c.certFile, c.keyFile = &a.Address, &a.TokenFile, &a.Cert, &a.Key
	c.autoconfigURL, c.serverName, c.family = &a.AutoconfigURL, &a.ServerName, a.Family
	if c.server != nil && *c.server == "" {
		if c.serverFlag == "smtp" {
			c.server = &a.SMTP
		} else {
			c.server = &a.IMAP
		}
	}
}

// forAccount makes address the account, with its [[account]] table when there is one.
func (c *connFlags) forAccount(address string) {
	cfg := *c.cfg
	cfg.Mail.Account = address
	c.useAccount(cfg.MailAccount())
}

// credentials reads --token-file or --cert/--key. The token file is read at each authentication
// and never copied (ECO.1.2.5); author is the audit author the token names.
func (c *connFlags) credentials() (creds mailbox.Credentials, author string, err error) {
	if err := c.checkAccount(); err != nil {
		return creds, "", err
	}
	switch {
	case *c.tokenFile != "" && *c.certFile != "":
		return creds, "", usagef("--token-file and --cert are exclusive")
	case *c.tokenFile != "":
		tok, err := mailbox.ReadToken(*c.tokenFile)
		if err != nil {
			return creds, "", err
		}
		return mailbox.Credentials{Tokens: mailbox.TokenFile(*c.tokenFile)}, mailbox.TokenAuthor(tok, ""), nil
	case *c.certFile != "":
		if *c.keyFile == "" {
			return creds, "", usagef("--cert needs --key")
		}
		cert, err := mailbox.LoadClientCertificate(*c.certFile, *c.keyFile)
		if err != nil {
			return creds, "", err
		}
		return mailbox.Credentials{Certificate: &cert}, "", nil
	}
	return creds, "", usagef("--token-file or --cert/--key is required")
}

// checkAccount: --account is given and is a mailbox address (usage errors).
func (c *connFlags) checkAccount() error {
	if *c.account == "" {
		return usagef("--account is required")
	}
	if _, err := mailbox.New(mailbox.Options{Address: *c.account}); err != nil {
		return usagef("--%v", err)
	}
	return nil
}

// policy builds the TLS policy of the flags (trustPolicy): IGC Santé anchors of the profile
// from <data-dir>/trust, or the --trust-root certificates (a relaxation, logged), revocation
// with the CRL cache in <data-dir>/crl, refreshed as trust.crl_refresh says.
func (c *connFlags) policy(stderr io.Writer) (*trust.Policy, error) {
	cfg := *c.cfg
	cfg.DataDir, cfg.Trust.Profile, cfg.Trust.Roots = *c.dataDir, *c.profile, c.trustRoots
	return trustPolicy(&cfg, stderr)
}

// deadline bounds the whole command by --timeout (a silent server must not hang the CLI).
func (c *connFlags) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if *c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, *c.timeout)
}

// options are the mailbox options of the flags, with the given credentials (watch brings its own).
func (c *connFlags) options(env *cmdEnv, creds mailbox.Credentials, author string) (mailbox.Options, error) {
	o := mailbox.Options{Address: *c.account, Credentials: creds, Author: author,
		AutoconfigURL: *c.autoconfigURL, ServerName: *c.serverName, Family: autoconfig.Family(c.family),
		Logger: slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if c.server != nil && *c.server != "" {
		ep, err := lps.ParseEndpoint(*c.server)
		if err != nil {
			return o, usagef("--%s: %v", c.serverFlag, err)
		}
		if c.serverFlag == "smtp" {
			o.SMTP = ep
		} else {
			o.IMAP = ep
		}
	}
	return o, nil
}

// open builds the account of the flags: credentials, policy, audit trail. done closes the
// sessions, then the trail.
func (c *connFlags) open(ctx context.Context, env *cmdEnv) (*mailbox.Account, func(), error) {
	creds, author, err := c.credentials()
	if err != nil {
		return nil, nil, err
	}
	o, err := c.options(env, creds, author)
	if err != nil {
		return nil, nil, err
	}
	return c.openWith(ctx, env, o)
}

// openWith completes o with the policy and the audit trail and builds the account.
func (c *connFlags) openWith(ctx context.Context, env *cmdEnv, o mailbox.Options) (*mailbox.Account, func(), error) {
	pol, err := c.policy(env.stderr)
	if err != nil {
		return nil, nil, err
	}
	trail, closeDB, err := openAuditURL(ctx, *c.db, c.cfg.Audit.Retention)
	if err != nil {
		return nil, nil, err
	}
	o.Policy, o.Audit = pol, trail
	acct, err := mailbox.New(o)
	if err != nil {
		closeDB()
		return nil, nil, err
	}
	return acct, func() { _ = acct.Close(); closeDB() }, nil
}

func init() {
	register(&command{
		name:    "send",
		summary: "submit .eml messages to the operator over one session (SMTP 587, STARTTLS, XOAUTH2 or certificate)",
		usage:   "send FILE.eml… --account ADDR (--token-file F | --cert F --key F) [--autoconfig-url URL | --smtp HOST:PORT] [--trust-root PEM]… [--server-name NAME] [--profile production|test] [--dsn] [--data-dir DIR]",
		example: "mssante send cr.eml --account dr.martin@test.mssante.fr --token-file ~/.psc-token --smtp smtp.test.mssante.fr:587 --dsn",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "smtp")
			dsn := fs.Bool("dsn", false, "ask for delivery status notifications (RFC 3461) when the server offers DSN (always asked for a message composed with --dsn)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) == 0 {
					return usagef("at least one message file expected")
				}
				return runSend(ctx, env, c, args, *dsn)
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
			box := fs.String("mailbox", "INBOX", "`mailbox` to list")
			limit := fs.Int("limit", 50, "at most `N` messages, the most recent (0: all)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				if *limit < 0 {
					return usagef("--limit must be ≥ 0")
				}
				return runList(ctx, env, c, *box, *limit)
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
			box := fs.String("mailbox", "INBOX", "`mailbox` holding the message")
			uid := fs.Uint("uid", 0, "`UID` of the message (required)")
			out := fs.String("o", "", "output `file` (required; - writes the message on stdout, without the JSON summary)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				if *uid == 0 || *uid > 1<<32-1 || *out == "" {
					return usagef("--uid and -o are required")
				}
				return runFetch(ctx, env, c, *box, uint32(*uid), *out)
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
				c.forAccount(args[0])
				return runAutoconfig(ctx, env, c, *family, *test)
			}
		},
	})
}

// sendResult and listLine are the JSON printed by send and list.
type (
	sendResult = mailbox.SendResult
	listLine   = mailbox.Summary
)

func runSend(ctx context.Context, env *cmdEnv, c *connFlags, files []string, dsn bool) error {
	if err := c.checkAccount(); err != nil {
		return err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	// Every file is checked before the session opens (a typo in the tenth name fails before the
	// first message leaves), then read one at a time just before it is sent: memory holds one
	// message, not the whole batch.
	for _, f := range files {
		if err := checkReadable(f); err != nil {
			return err
		}
	}
	acct, done, err := c.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		res, err := acct.SendRaw(ctx, raw, &mailbox.SendOptions{DSN: dsn})
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if res.DSNAsked && !res.DSNRequested {
			fmt.Fprintf(env.stderr, "mssante send: %s does not offer DSN (RFC 3461): %s sent without a delivery status request\n", res.Server, f)
		}
		write := writeJSON
		if len(files) > 1 {
			write = writeJSONLine
		}
		if err := write(env.stdout, res); err != nil {
			return err
		}
	}
	return nil
}

// checkReadable reports whether path names something send can read: it exists and is not a
// directory. It only stats, so that a pipe (`send <(compose …)`) is not consumed by the check.
func checkReadable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s: is a directory", path)
	}
	return nil
}

func runList(ctx context.Context, env *cmdEnv, c *connFlags, box string, limit int) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	acct, done, err := c.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	list, err := acct.List(ctx, box, &mailbox.ListOptions{Limit: limit})
	if err != nil {
		return err
	}
	for _, s := range list.Messages {
		if err := writeJSONLine(env.stdout, s); err != nil {
			return err
		}
	}
	if list.Truncated {
		fmt.Fprintf(env.stderr, "mssante list: %d messages sur %d affichés (--limit %d ; --limit 0 pour tous)\n",
			len(list.Messages), list.Total, limit)
	}
	return nil
}

func runFetch(ctx context.Context, env *cmdEnv, c *connFlags, box string, uid uint32, out string) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	acct, done, err := c.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	if out == "-" {
		// The message itself on stdout (no JSON summary, which would mix with it).
		_, err := acct.Fetch(ctx, box, uid, env.stdout)
		return err
	}
	n, err := fetchToFile(out, func(w io.Writer) (int64, error) { return acct.Fetch(ctx, box, uid, w) })
	if err != nil {
		return err
	}
	return writeJSON(env.stdout, map[string]any{"uid": uid, "mailbox": box, "bytes": n, "file": out})
}

// fetchToFile writes through a temporary file renamed at the end, or in place for a device or a
// pipe (/dev/stdout, a FIFO), which must never be replaced by a rename.
func fetchToFile(out string, fetch func(io.Writer) (int64, error)) (int64, error) {
	if fi, err := os.Stat(out); err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(out, os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		n, err := fetch(f)
		return n, errors.Join(err, f.Close())
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".fetch-*.eml")
	if err != nil {
		return 0, fmt.Errorf("-o %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	n, err := fetch(tmp)
	if err = errors.Join(err, tmp.Close()); err != nil {
		return n, err
	}
	return n, os.Rename(tmp.Name(), out)
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
		family = c.family
	}
	if family == "" {
		family = "personal"
		if *c.certFile != "" {
			family = "applicative"
		}
	}
	fam, err := autoconfig.ParseFamily(family)
	if err != nil {
		return usagef("--family must be personal or applicative")
	}
	acct, done, err := c.autoconfigAccount(ctx, env, fam, test)
	if err != nil {
		return err
	}
	defer done()
	servers, err := acct.Discover(ctx)
	if err != nil {
		return err
	}
	res := autoconfigResult{Address: *c.account, Family: family, Servers: []autoconfig.Server{servers.SMTP, servers.IMAP}}
	var probeErr error
	if test {
		res.Test, probeErr = acct.Probe(ctx)
	}
	if err := writeJSON(env.stdout, res); err != nil {
		return err
	}
	return probeErr
}

// autoconfigAccount is the account of autoconfig: with credentials for --test-connection, else
// for discovery alone, which only needs the public roots when the IGC Santé anchors are missing
// (until `mssante trust update` has run).
func (c *connFlags) autoconfigAccount(ctx context.Context, env *cmdEnv, fam autoconfig.Family, test bool) (*mailbox.Account, func(), error) {
	if test {
		creds, author, err := c.credentials()
		if err != nil {
			return nil, nil, err
		}
		if (fam == autoconfig.FamilyApplicative) != (creds.Certificate != nil) {
			return nil, nil, usagef("family %s needs %s", fam, map[bool]string{true: "--cert/--key", false: "--token-file"}[fam == autoconfig.FamilyApplicative])
		}
		o, err := c.options(env, creds, author)
		if err != nil {
			return nil, nil, err
		}
		o.Family = fam
		return c.openWith(ctx, env, o)
	}
	o := mailbox.Options{Address: *c.account, Family: fam, AutoconfigURL: *c.autoconfigURL}
	pol, err := c.policy(env.stderr)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return nil, nil, err
		}
		fmt.Fprintf(env.stderr, "mssante autoconfig: IGC Santé anchors unavailable (%v); fetching with the system roots only\n", err)
	}
	o.Policy = pol
	acct, err := mailbox.New(o)
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	return acct, func() { _ = acct.Close() }, nil
}
