package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/config"
	"github.com/mssante/mssante/internal/serverapi"
)

// mssante login: the thick client of the intermediate LPS server (Figure 2 of the referential).
//
// Model (decided for issue 4): login is a long-running AGENT. It logs the professional in by CIBA
// with --national-id (the e-CPS app or the CPS card approves; the binding message is shown here),
// or else by a browser login made for it (it shows a user code to type on the server's
// /auth/device page, then the professional logs in at PSC in any browser), keeps the session
// handle in memory only, and publishes the current PSC access token of each mailbox as a "token
// link" <runtime-dir>/<address>.token: a symbolic link to /proc/<agent pid>/fd/<n>, an anonymous
// in-memory file (memfd, mode 0400) holding the token. Nothing is written to disk: the link's
// target names a file descriptor, the token lives in the agent's memory, and only the same user
// (ptrace read access to the agent) can open it. At each "token-renewed" event the agent fetches
// the new token, writes it to a new memfd and swaps the link atomically; at "session-ended" it
// removes the links and exits 1; on Ctrl-C it logs out (here and at PSC) and exits 0.
//
// The mail commands need no change: they read --token-file (or MSSANTE_TOKEN_FILE) at each
// authentication, so
//
//	mssante login --server https://lps.example --national-id 899700000018 &
//	mssante list --account camille.testard@test.mssante.fr \
//	    --token-file "$XDG_RUNTIME_DIR/mssante/camille.testard@test.mssante.fr.token" …
//
// always authenticates with the current token, and fails cleanly once the session has ended.
// `mssante watch` (watch.go) is the long-running mail command: it keeps IMAP IDLE open with the
// token link, or logs in at the server itself (--server) and follows the event stream.

func init() {
	register(&command{
		name:    "login",
		summary: "log in to an intermediate LPS server (CIBA or browser) and serve the current token to the mail commands",
		usage:   "login --server URL [--national-id ID [--channel MOBILE|CARD]] [--mailbox ADDR]… [--runtime-dir DIR] [--ca-file PEM]",
		example: "mssante login --server https://lps.example.fr --national-id 899700000018 --channel MOBILE",
		flags: func(fs *flag.FlagSet) runFunc {
			c := &loginFlags{}
			onConfig(fs, func(cfg *config.Config) {
				l := &cfg.Login
				c.server, c.nationalID, c.channel, c.runtimeDir, c.caFile = &l.Server, &l.NationalID, &l.Channel, &l.RuntimeDir, &l.ServerCA
			}, "login.server", "login.national_id", "login.channel", "login.runtime_dir", "login.server_ca")
			reword(fs, "national-id", "national `id` (IDNPS, \"8\"+RPPS) to authenticate by CIBA; without it, log in in a browser with a user code")
			reword(fs, "ca-file", "PEM `file` of the CA that signed the server certificate (default: system roots)")
			fs.Var(&c.mailboxes, "mailbox", "publish the token of this mailbox only (repeatable; default all the session's mailboxes)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("login takes no arguments")
				}
				if *c.server == "" {
					return usagef("--server is required")
				}
				return runLogin(ctx, env, c)
			}
		},
	})
}

type loginFlags struct {
	server, nationalID, channel, runtimeDir, caFile *string
	mailboxes                                       stringList
}

// loginLine is one JSON line of the agent on stdout.
type loginLine struct {
	Status          string            `json:"status"`                     // "pending", "logged_in", "token-renewed", "session-ended", "logged_out"
	BindingMessage  string            `json:"binding_message,omitempty"`  // CIBA
	UserCode        string            `json:"user_code,omitempty"`        // browser login
	VerificationURL string            `json:"verification_url,omitempty"` // browser login
	ExpiresIn       int               `json:"expires_in,omitempty"`
	NationalID      string            `json:"national_id,omitempty"`
	GivenName       string            `json:"given_name,omitempty"`
	FamilyName      string            `json:"family_name,omitempty"`
	TokenFiles      map[string]string `json:"token_files,omitempty"` // mailbox → token link
	ExpiresAt       *time.Time        `json:"expires_at,omitempty"`  // access token expiry
	Reason          string            `json:"reason,omitempty"`
}

// agent is the client side of one session with the intermediate server (internal/serverapi),
// with what the commands print.
type agent struct {
	*serverapi.Client
	// nationalID is the professional's, once logged in (for the audit trail).
	nationalID string
}

// newAgent builds the client of --server; onPending, when set, prints the "pending" line of a
// login instead of the agent's format (mssante watch).
func newAgent(env *cmdEnv, server, caFile string, onPending func(loginLine)) (*agent, error) {
	hc, err := agentHTTPClient(caFile)
	if err != nil {
		return nil, err
	}
	c, err := serverapi.NewClient(server, hc)
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	c.OnPending = func(p serverapi.Pending) {
		if p.BindingMessage != "" {
			where := map[string]string{"CARD": "avec votre carte CPS", "MOBILE": "sur votre application e-CPS"}[p.Channel]
			fmt.Fprintf(env.stderr, "Code de vérification : %s — validez la demande %s.\n", p.BindingMessage, where)
		} else {
			fmt.Fprintf(env.stderr, "Ouvrez %s dans votre navigateur et saisissez le code %s, puis connectez-vous avec Pro Santé Connect.\n",
				p.VerificationURL, p.UserCode)
		}
		l := loginLine{Status: "pending", BindingMessage: p.BindingMessage, UserCode: p.UserCode,
			VerificationURL: p.VerificationURL, ExpiresIn: p.ExpiresIn}
		if onPending != nil {
			onPending(l)
			return
		}
		_ = writeJSONLine(env.stdout, l)
	}
	return &agent{Client: c}, nil
}

// login logs in by CIBA with nationalID, else by a browser user code.
func (a *agent) login(ctx context.Context, nationalID, channel string) error {
	if nationalID != "" {
		return a.LoginCIBA(ctx, nationalID, strings.ToUpper(channel))
	}
	return a.LoginBrowser(ctx)
}

func runLogin(ctx context.Context, env *cmdEnv, c *loginFlags) error {
	a, err := newAgent(env, *c.server, *c.caFile, nil)
	if err != nil {
		return err
	}
	if err := a.login(ctx, *c.nationalID, *c.channel); err != nil {
		return err
	}
	me, err := a.Me(ctx)
	if err != nil {
		a.Logout()
		return err
	}
	boxes := me.Mailboxes
	if len(c.mailboxes) > 0 {
		boxes = slices.DeleteFunc(slices.Clone(c.mailboxes), func(m string) bool { return !me.HasMailbox(m) })
	}
	if len(boxes) == 0 {
		a.Logout()
		return errors.New("no mailbox of this session to publish")
	}
	links, err := newTokenLinks(*c.runtimeDir, boxes)
	if err != nil {
		a.Logout()
		return err
	}
	defer links.close()
	exp, err := a.publish(ctx, links)
	if err != nil {
		a.Logout()
		return err
	}
	_ = writeJSONLine(env.stdout, loginLine{Status: "logged_in", NationalID: me.NationalID, GivenName: me.GivenName,
		FamilyName: me.FamilyName, TokenFiles: links.paths(), ExpiresAt: &exp})
	fmt.Fprintf(env.stderr, "Connecté : %s %s. Jetons publiés dans %s (Ctrl-C pour se déconnecter).\n",
		me.GivenName, me.FamilyName, *c.runtimeDir)
	reason, err := a.Follow(ctx, a.republish(ctx, env, links))
	if ctx.Err() != nil {
		links.close()
		a.Logout()
		_ = writeJSONLine(env.stdout, loginLine{Status: "logged_out"})
		return nil
	}
	if err != nil {
		return err
	}
	links.close()
	_ = writeJSONLine(env.stdout, loginLine{Status: "session-ended", Reason: reason})
	return fmt.Errorf("session ended (%s): log in again", reason)
}

// agentHTTPClient trusts the system roots, or only caFile when given.
func agentHTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr}, nil
}

// publish fetches the current token of every mailbox and swaps its link; it returns the
// earliest expiry.
func (a *agent) publish(ctx context.Context, links *tokenLinks) (time.Time, error) {
	var earliest time.Time
	for _, box := range links.mailboxes() {
		tok, exp, err := a.Token(ctx, box)
		if err != nil {
			return earliest, err
		}
		err = links.update(box, tok)
		clear(tok)
		if err != nil {
			return earliest, err
		}
		if earliest.IsZero() || exp.Before(earliest) {
			earliest = exp
		}
	}
	return earliest, nil
}

// republish is the login agent's event handler: it publishes the current tokens at "ready" and
// "token-renewed", and prints a line at each renewal.
func (a *agent) republish(ctx context.Context, env *cmdEnv, links *tokenLinks) func(kind string) {
	return func(kind string) {
		exp, err := a.publish(ctx, links)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(env.stderr, "mssante login: publishing the token: %v\n", err)
			}
			return
		}
		if kind == "token-renewed" {
			_ = writeJSONLine(env.stdout, loginLine{Status: "token-renewed", ExpiresAt: &exp})
		}
	}
}
