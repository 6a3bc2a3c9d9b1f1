// Package doctor diagnoses one configured mailbox account: it runs every check an administrator
// or integrator would run by hand when "it does not work" — configuration, IGC Santé anchors,
// CRL cache, database, autoconfig, IMAP and SMTP STARTTLS under the TLS policy, authentication,
// clock — and returns one report whose lines each carry a verdict and, when the check failed,
// the fix. It is the library of `mssante doctor`; cmd/mssante validates the configuration
// (internal/config is read by cmd only) and passes plain values here.
//
// Checks, in report order (stable names, for programs reading the JSON):
//
//	config         the configuration validated by cmd (Options.ConfigProblems)
//	trust.anchors  the IGC Santé anchors of the profile in <data-dir>/trust (or the --trust-root relaxation)
//	trust.crl      the persisted CRL cache (<data-dir>/crl): present, nextUpdate not passed (ECO.1.1.7)
//	db             the database reachable without being created, and migrated (internal/store)
//	autoconfig     the servers found by autoconfig (ECO.1.1.9), unless both are given
//	imap.starttls  TCP and STARTTLS to the IMAP server under the policy (ECO.1.0.2, ECO.1.1.x)
//	smtp.starttls  the same for SMTP submission (ECO.1.0.1)
//	auth.imap      authentication (XOAUTH2 or certificate), NOOP, LOGOUT
//	auth.smtp      authentication, NOOP, QUIT
//	clock          the local clock against the Date header of the autoconfig HTTPS answer, else of
//	               the CRL distribution point of a trusted certificate (more than MaxSkew fails)
//
// A check that cannot run because an earlier one failed is "skipped: …"; the report's failure is
// carried by the earlier check.
//
// Diagnostics are in English (the audience is administrators); the server answers quoted in
// Detail are as received.
package doctor

import (
	"context"
	"time"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/trust"
)

// Check names.
const (
	CheckConfig       = "config"
	CheckAnchors      = "trust.anchors"
	CheckCRL          = "trust.crl"
	CheckDB           = "db"
	CheckAutoconfig   = "autoconfig"
	CheckIMAPStartTLS = "imap.starttls"
	CheckSMTPStartTLS = "smtp.starttls"
	CheckIMAPAuth     = "auth.imap"
	CheckSMTPAuth     = "auth.smtp"
	CheckClock        = "clock"
)

// DefaultMaxSkew is the clock difference beyond which the clock check fails: tokens, certificates
// and CRLs are all checked against the local clock.
const DefaultMaxSkew = 2 * time.Minute

// Check is one line of the report.
type Check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail,omitempty"`
	Fix     string `json:"fix,omitempty"`
	// Skipped: the check did not run (an earlier one failed, or it does not apply); OK then says
	// whether that counts as a pass.
	Skipped bool `json:"skipped,omitempty"`
}

// Report is the result of Run: every check, in order, and whether all passed.
type Report struct {
	Checks []Check `json:"checks"`
	OK     bool    `json:"ok"`
}

// Failed returns the checks that failed and were not skipped.
func (r *Report) Failed() []Check {
	var f []Check
	for _, c := range r.Checks {
		if !c.OK && !c.Skipped {
			f = append(f, c)
		}
	}
	return f
}

// Check returns the check named name (zero Check when absent).
func (r *Report) Check(name string) Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return Check{}
}

// Options are what doctor checks, as plain values.
type Options struct {
	// ConfigFile is the configuration file read ("" when none); ConfigProblems the problems cmd's
	// validation found (empty: valid).
	ConfigFile     string
	ConfigProblems []string

	// Profile is the IGC Santé profile; AnchorsDir and CRLCacheDir the trust directories of the
	// data directory. TrustRoots are the --trust-root certificates that replace the anchors (a
	// relaxation; empty: the anchors are used).
	Profile     trust.Profile
	AnchorsDir  string
	CRLCacheDir string
	TrustRoots  []string
	// Policy is the TLS policy built from the above; PolicyErr why it could not be (the STARTTLS
	// and authentication checks are then skipped).
	Policy    *trust.Policy
	PolicyErr error
	// SkipRevocation says the policy checks no revocation (a relaxation).
	SkipRevocation bool

	// DBURL is the database; Migrations every migration of the program; Required the packages
	// whose tables the account's commands need at once (default: audit).
	DBURL      string
	Migrations []store.Migration
	Required   []string

	// Account are the mailbox options (address, credentials, servers, autoconfig URL); Policy is
	// set from Options.Policy. Servers given in Account.IMAP and Account.SMTP skip autoconfig.
	Account mailbox.Options
	// Commands names the commands the fixes suggest (default "mssante").
	Commands string

	// MaxSkew is the tolerated clock difference (DefaultMaxSkew when zero).
	MaxSkew time.Duration
	// Now is the local clock (time.Now when nil).
	Now func() time.Time
}

// Run runs every check and returns the report. It never returns an error of its own: each
// problem is a failed check.
func Run(ctx context.Context, o Options) *Report {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = DefaultMaxSkew
	}
	if len(o.Required) == 0 {
		o.Required = []string{"audit"}
	}
	if o.Commands == "" {
		o.Commands = "mssante"
	}
	r := &run{o: o}
	checks := []Check{
		r.config(),
		r.anchors(),
		{Name: CheckCRL}, // after the connections, which fill the cache
		r.db(ctx),
	}
	conn := r.connections(ctx)
	checks = append(checks, conn...)
	checks[2] = r.crl()
	checks = append(checks, r.clock(ctx))
	rep := &Report{Checks: checks, OK: true}
	for _, c := range checks {
		if !c.OK {
			rep.OK = false
		}
	}
	return rep
}

type run struct {
	o Options
	// clockURL is the autoconfig URL answered during the run, for the clock check.
	clockURL string
	// autoconfigFailed: autoconfig failed (the clock check is then skipped); autoconfigUsed: it
	// answered.
	autoconfigFailed, autoconfigUsed bool
	// tlsAccepted: a server passed STARTTLS, which downloads the CRLs.
	tlsAccepted bool
}

func pass(name, verdict, detail string) Check {
	return Check{Name: name, OK: true, Verdict: verdict, Detail: detail}
}

func fail(name, verdict, detail, fix string) Check {
	return Check{Name: name, Verdict: verdict, Detail: detail, Fix: fix}
}

func skipped(name, why string) Check {
	return Check{Name: name, Skipped: true, Verdict: "skipped: " + why}
}
