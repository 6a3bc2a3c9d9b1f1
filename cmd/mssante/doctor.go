package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/config"
	"github.com/mssante/mssante/internal/doctor"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// mssante doctor (issue 12 item 5): the flags of list, the checks of internal/doctor, printed.

func init() {
	register(&command{
		name:    "doctor",
		summary: "check a configured account: configuration, IGC Santé anchors, CRL cache, database, autoconfig, STARTTLS, authentication, clock",
		usage:   "doctor --account ADDR (--token-file F | --cert F --key F) [--autoconfig-url URL | --imap HOST:PORT --smtp HOST:PORT] [--trust-root PEM]… [--server-name NAME] [--profile production|test] [--data-dir DIR] [--db URL] [--json]",
		example: "mssante doctor --account dr.martin@test.mssante.fr --token-file ~/.psc-token --profile test",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "imap")
			smtp := fs.String("smtp", "", "SMTP server `HOST:PORT` (instead of autoconfig)")
			asJSON := fs.Bool("json", false, `print {"checks":[{"name","ok","verdict","detail","fix"}…],"ok":bool} instead of one line per check`)
			invalid := tolerateInvalidConfig(fs) // reported by the config check, the rest runs on flags and defaults
			conf := useConfig(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				o, err := doctorOptions(env, c, *smtp)
				if err != nil {
					return err
				}
				var ce *config.Error
				switch err := invalid(); {
				case errors.As(err, &ce):
					for _, p := range ce.Problems {
						o.ConfigProblems = append(o.ConfigProblems, p.String())
					}
				case err != nil:
					o.ConfigProblems = []string{err.Error()}
				default:
					o.ConfigFile = cfg.File()
				}
				ctx, cancel := c.deadline(ctx)
				defer cancel()
				rep := doctor.Run(ctx, o)
				if *asJSON {
					err = writeJSON(env.stdout, rep)
				} else {
					err = writeDoctor(env.stdout, rep)
				}
				if err == nil && !rep.OK {
					err = fmt.Errorf("%d check(s) failed", len(rep.Failed()))
				}
				return err
			}
		},
	})
}

// doctorOptions turns the flags into the doctor's plain values. Only a usage error stops here: a
// configuration or policy that does not work is a failed check.
func doctorOptions(env *cmdEnv, c *connFlags, smtp string) (doctor.Options, error) {
	creds, author, err := c.credentials() // a usage error, or an unreadable token or certificate file (exit 1)
	if err != nil {
		return doctor.Options{}, err
	}
	acct, err := c.options(env, creds, author)
	if err != nil {
		return doctor.Options{}, err
	}
	if smtp != "" {
		if acct.SMTP, err = lps.ParseEndpoint(smtp); err != nil {
			return doctor.Options{}, usagef("--smtp: %v", err)
		}
	}
	acct.Logger = nil // the report says it all
	profile, err := trust.ParseProfile(*c.profile)
	if err != nil {
		return doctor.Options{}, usagef("--profile: %v", err)
	}
	o := doctor.Options{Profile: profile, AnchorsDir: filepath.Join(*c.dataDir, "trust"), CRLCacheDir: filepath.Join(*c.dataDir, "crl"),
		TrustRoots: c.trustRoots, DBURL: doctorDB(c), Account: acct,
		Migrations: append(append(append(append([]store.Migration(nil), audit.Migrations...), patients.Migrations...),
			mailstore.Migrations()...), outbox.Migrations...)}
	o.Policy, o.PolicyErr = c.policy(io.Discard)
	return o, nil
}

// doctorDB is the database of the flags: --db, else MSSANTE_DB, else the data directory's.
func doctorDB(c *connFlags) string {
	if *c.db != "" {
		return *c.db
	}
	if v := os.Getenv("MSSANTE_DB"); v != "" {
		return v
	}
	return store.DefaultURL(*c.dataDir)
}

// writeDoctor prints one line per check: ✓ or ✗ (– when it did not run), the name, the verdict; the
// fix indented under a failed check.
func writeDoctor(w io.Writer, rep *doctor.Report) error {
	width := 0
	for _, ch := range rep.Checks {
		width = max(width, len(ch.Name))
	}
	var b strings.Builder
	for _, ch := range rep.Checks {
		mark := "✓"
		switch {
		case ch.Skipped:
			mark = "–"
		case !ch.OK:
			mark = "✗"
		}
		fmt.Fprintf(&b, "%s %-*s  %s\n", mark, width, ch.Name, ch.Verdict)
		if !ch.OK && !ch.Skipped {
			if ch.Detail != "" {
				fmt.Fprintf(&b, "    %s\n", ch.Detail)
			}
			fmt.Fprintf(&b, "    fix: %s\n", ch.Fix)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
