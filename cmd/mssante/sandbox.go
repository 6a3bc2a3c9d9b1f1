package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/config"
	"github.com/mssante/mssante/internal/sandbox"
)

// The sandbox commands: `mssante sandbox` runs a complete offline MSSanté world (operator, PSC
// emulator, test IGC Santé PKI with CRL/OCSP, autoconfig, seed data) in the foreground;
// `sandbox env` says where things are (JSON); `sandbox token` gets a TEST access token from the
// running sandbox's PSC emulator.

// sandboxDirFlag declares --data-dir of the sandbox commands: the key sandbox.dir
// (MSSANTE_SANDBOX_DIR, config sandbox.dir; default <data_dir>/sandbox). The value is there
// once the flags are parsed.
func sandboxDirFlag(fs *flag.FlagSet) *string {
	dir := new(string)
	onConfig(fs, func(cfg *config.Config) { *dir = cfg.Sandbox.Dir }, "sandbox.dir")
	return dir
}

func init() {
	register(&command{
		name:    "sandbox",
		summary: "run an offline MSSanté world (operator, PSC emulator, test PKI, autoconfig) until Ctrl-C",
		usage:   "sandbox [--data-dir DIR] [--imap ADDR] [--smtp ADDR] [--https ADDR] [--http ADDR] [--psc ADDR] [--pro-domain D --org-domain D --patient-domain D] [-v]",
		example: "mssante sandbox   # then, in another shell: mssante sandbox env",
		flags: func(fs *flag.FlagSet) runFunc {
			dir := sandboxDirFlag(fs)
			o := sandbox.Options{}
			imapAddr := fs.String("imap", "", "IMAP `address` (default "+sandbox.DefaultIMAPAddr+", or the last one)")
			smtpAddr := fs.String("smtp", "", "SMTP submission `address` (default "+sandbox.DefaultSMTPAddr+")")
			httpsAddr := fs.String("https", "", "autoconfig HTTPS `address` (default "+sandbox.DefaultHTTPSAddr+")")
			httpAddr := fs.String("http", "", "CRL/OCSP HTTP `address`, fixed by the first start (default "+sandbox.DefaultHTTPAddr+")")
			pscAddr := fs.String("psc", "", "PSC emulator `address` (default "+sandbox.DefaultPSCAddr+")")
			proDomain := fs.String("pro-domain", "", "professional `domain` of the operator, first start only (default "+sandbox.DefaultProDomain+")")
			orgDomain := fs.String("org-domain", "", "organisation `domain`, first start only (default "+sandbox.DefaultOrgDomain+")")
			patientDomain := fs.String("patient-domain", "", "`domain` standing for patient.mssante.fr, first start only (default "+sandbox.DefaultPatientDomain+")")
			verbose := fs.Bool("v", false, "log the servers' events (debug) on stderr")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				level := slog.LevelWarn
				if *verbose {
					level = slog.LevelDebug
				}
				o.DataDir, o.IMAPAddr, o.SMTPAddr, o.HTTPSAddr, o.HTTPAddr, o.PSCAddr = *dir, *imapAddr, *smtpAddr, *httpsAddr, *httpAddr, *pscAddr
				o.ProDomain, o.OrgDomain, o.PatientDomain = *proDomain, *orgDomain, *patientDomain
				o.Logger = slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
				return runSandbox(ctx, env, o)
			}
		},
	})
	register(&command{
		name:    "sandbox env",
		summary: "print where the sandbox is (autoconfig URL, trust root, servers, accounts) as JSON",
		usage:   "sandbox env [--data-dir DIR] [--account ADDR] [--get FIELD]",
		example: "mssante sandbox env --get trust_root   # or: --account dpi@hopital.sandbox.mssante.test --get cert",
		flags: func(fs *flag.FlagSet) runFunc {
			dir := sandboxDirFlag(fs)
			get := fs.String("get", "", "print only this `field` of the JSON, as plain text (e.g. autoconfig_url, trust_root; with --account: cert, key…)")
			acct := fs.String("account", "", "print only the account of this `address`")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				e, err := sandbox.EnvOf(*dir)
				if err != nil {
					return err
				}
				if !e.Running {
					fmt.Fprintf(env.stderr, "mssante sandbox env: no sandbox is running on %s: the addresses are those of its last start (start it: mssante sandbox --data-dir %s)\n", *dir, *dir)
				}
				var v any = e
				if *acct != "" {
					i := slices.IndexFunc(e.Accounts, func(a sandbox.Account) bool { return strings.EqualFold(a.Address, *acct) })
					if i < 0 {
						return fmt.Errorf("no sandbox account %s (see `mssante sandbox env`)", *acct)
					}
					v = e.Accounts[i]
				}
				if *get == "" {
					return writeJSON(env.stdout, v)
				}
				return writeEnvField(env, v, *get)
			}
		},
	})
	register(&command{
		name:    "sandbox token",
		summary: "print a fresh TEST access token of the running sandbox's PSC emulator (sandbox only)",
		usage:   "sandbox token --user NATIONAL_ID [-o FILE] [--data-dir DIR]",
		example: "mssante sandbox token --user 899700200016 -o jeanne.token   # TEST token of Dr Jeanne ESSAI-SANDBOX, 10 min, file 0600",
		flags: func(fs *flag.FlagSet) runFunc {
			dir := sandboxDirFlag(fs)
			user := fs.String("user", "", "national `id` of a sandbox professional (see `sandbox env`)")
			out := fs.String("o", "", "write the token to this `file`, created or truncated with mode 0600 (default: stdout)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 || *user == "" {
					return usagef("--user is required, and no argument")
				}
				tok, err := sandbox.FetchToken(ctx, *dir, *user)
				if err != nil {
					return err
				}
				where := "stdout"
				if *out != "" {
					if err := writeSecretFile(*out, []byte(tok.AccessToken+"\n")); err != nil {
						return err
					}
					where = *out + " (mode 0600)"
				}
				fmt.Fprintf(env.stderr, "mssante: SANDBOX access token for %s, valid %s, issued by the sandbox PSC emulator, written to %s: TEST ONLY, not a Pro Santé Connect token\n",
					*user, tok.ExpiresIn, where)
				if *out != "" {
					return nil
				}
				_, err = fmt.Fprintln(env.stdout, tok.AccessToken)
				return err
			}
		},
	})
	register(&command{
		name:    "sandbox revoke",
		summary: "revoke an applicative mailbox's client certificate (or \"server\") in the sandbox's test PKI",
		usage:   "sandbox revoke ADDRESS|server [--data-dir DIR]",
		example: "mssante sandbox revoke dpi@hopital.sandbox.mssante.test",
		flags: func(fs *flag.FlagSet) runFunc {
			dir := sandboxDirFlag(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 {
					return usagef("one address (or \"server\") expected")
				}
				cert, err := sandbox.Revoke(*dir, args[0])
				if err != nil {
					return err
				}
				return writeJSON(env.stdout, map[string]string{"revoked": args[0], "subject": cert.Subject.String(),
					"serial": cert.SerialNumber.Text(16)})
			}
		},
	})
}

// writeSecretFile writes data to name readable by its owner only: created 0600, or truncated and
// set back to 0600 when it exists (a token file of an earlier run may be wider).
func writeSecretFile(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// writeEnvField prints one field of the JSON form of v: a string or number as plain text (for
// `$(mssante sandbox env --get trust_root)` without jq), anything else as JSON.
func writeEnvField(env *cmdEnv, v any, name string) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	raw, ok := fields[name]
	if !ok {
		names := make([]string, 0, len(fields))
		for k := range fields {
			names = append(names, k)
		}
		slices.Sort(names)
		return usagef("--get: no field %q (fields: %s)", name, strings.Join(names, ", "))
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	_, err = fmt.Fprintln(env.stdout, s)
	return err
}

// underGoRun tells whether exe is a binary `go run` built: <tmp>/go-build…/b001/exe/NAME, or,
// since Go 1.24 caches them, <GOCACHE>/xx/<sha256 hex>-d/NAME.
func underGoRun(exe string) bool {
	dir := filepath.Dir(exe)
	if filepath.Base(dir) == "exe" && strings.Contains(filepath.ToSlash(dir), "/go-build") {
		return true
	}
	h, ok := strings.CutSuffix(filepath.Base(dir), "-d")
	return ok && len(h) == 64 && strings.Trim(h, "0123456789abcdef") == "" &&
		len(filepath.Base(filepath.Dir(dir))) == 2 && strings.HasPrefix(h, filepath.Base(filepath.Dir(dir)))
}

// watchParent cancels the returned context once the parent process changes (it ended), checked
// every period. `go run` does not relay SIGTERM to the program it runs: without this, `kill` of
// `go run ./cmd/mssante sandbox` would leave an orphan sandbox holding the ports and the data
// directory.
func watchParent(ctx context.Context, getppid func() int, period time.Duration, onGone func()) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	parent := getppid()
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if getppid() != parent {
					onGone()
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}

func runSandbox(ctx context.Context, env *cmdEnv, o sandbox.Options) error {
	if exe, err := os.Executable(); err == nil && underGoRun(exe) {
		var cancel context.CancelFunc
		ctx, cancel = watchParent(ctx, os.Getppid, 500*time.Millisecond, func() {
			fmt.Fprintf(env.stderr, "mssante sandbox: `go run` ended\n")
		})
		defer cancel()
	}
	w, err := sandbox.Start(ctx, o)
	if err != nil {
		return err
	}
	e := w.Env()
	home := e.AutoconfigURL + "/"
	fmt.Fprintf(env.stderr, `mssante sandbox: TEST world running (identities, PKI and tokens are fictitious)
  data dir      %s
  IMAP          %s (STARTTLS)
  SMTP          %s (STARTTLS, submission)
  autoconfig    %s/mail/config-v1.1.xml?emailaddress=… (home page %s/)
  trust root    %s
  PSC emulator  %s (CIBA page %s/sandbox/ciba)
  CRL/OCSP      %s
  directory     %s
accounts:
`, w.DataDir, e.IMAP, e.SMTP, e.AutoconfigURL, e.AutoconfigURL, e.TrustRoot, e.PSC, e.PSC, e.Revocation, e.Directory)
	for _, a := range e.Accounts {
		extra := ""
		switch {
		case a.Kind == "applicative":
			extra = "cert " + a.Cert
		case a.Closed:
			extra = "CLOSED"
		case a.NationalID != "" && a.Kind != "patient":
			extra = "token: mssante sandbox token --user " + a.NationalID
		}
		fmt.Fprintf(env.stderr, "  %-15s %-45s %s\n", a.Kind, a.Address, extra)
	}
	fmt.Fprintf(env.stderr, "try: mssante sandbox env   (Ctrl-C stops)\nopen (home page, test certificate: trust %s):\n%s\n", e.TrustRoot, home)
	<-ctx.Done()
	fmt.Fprintf(env.stderr, "mssante sandbox: stopping\n")
	if err := w.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
