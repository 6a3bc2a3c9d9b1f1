package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mssante/mssante/internal/config"
	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/lps"
)

// mssante watch: a long-running mail session (issue 4 acceptance). It keeps an IMAP IDLE session
// open on one mailbox and prints one JSON line per new message and per event of the session:
//
//	{"event":"watching","account":…,"mailbox":…,"server":…,"messages":N}
//	{"event":"mail","uid":…,"from":…,"subject":…,"date":…,"size":…,"flags":[…]}
//	{"event":"token-renewed","expires_at":…}
//	{"event":"reconnected","server":…}        the operator closed the session; it was reopened
//	{"event":"disconnected","server":…,"reason":…}  the operator stays unreachable: retried with back-off
//	{"event":"session-ended","reason":…}      exit 1, with a French message on stderr
//	{"event":"stopped"}                        Ctrl-C: exit 0
//
// The token comes either from a token file read at each authentication (the token link of
// `mssante login`: a renewal is seen when the link gives another token, the end of the session
// when the link disappears, checked every second), or from a session with the intermediate LPS
// server that watch opens itself (--server, CIBA with --national-id or a browser user code): the
// access token is asked of the server at each authentication, and the server's event stream says
// token-renewed and session-ended; at session-ended the IMAP session is closed at once (ECO.1.2.6).
// A session closed by the operator is reopened with the current token (ECO.1.2.7). No token is
// written anywhere (ECO.1.2.5).

// watchLine is one JSON line of watch on stdout.
type watchLine struct {
	Event     string     `json:"event"`
	Time      time.Time  `json:"time"`
	Account   string     `json:"account,omitempty"`
	Mailbox   string     `json:"mailbox,omitempty"`
	Server    string     `json:"server,omitempty"`
	Messages  *uint32    `json:"messages,omitempty"`
	UID       uint32     `json:"uid,omitempty"`
	From      string     `json:"from,omitempty"`
	Subject   string     `json:"subject,omitempty"`
	Date      *time.Time `json:"date,omitempty"`
	Size      int64      `json:"size,omitempty"`
	Flags     []string   `json:"flags,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	// Login by CIBA or browser (--server): what the professional must do.
	BindingMessage  string `json:"binding_message,omitempty"`
	UserCode        string `json:"user_code,omitempty"`
	VerificationURL string `json:"verification_url,omitempty"`
}

// watchPoll is how often the token file is checked for a renewal or the end of the session.
var watchPoll = time.Second

// watchReidle is how long one IDLE command lasts before it is renewed.
var watchReidle = 10 * time.Minute

func init() {
	register(&command{
		name:    "watch",
		summary: "keep an IMAP IDLE session open and print new mail and session events as JSON lines",
		usage: "watch --account ADDR (--token-file F | --server URL [--national-id ID [--channel MOBILE|CARD]] [--ca-file PEM] | --cert F --key F) " +
			"[--autoconfig-url URL | --imap HOST:PORT] [--trust-root PEM]… [--profile production|test] [--mailbox INBOX] [--timeout D] [--data-dir DIR]",
		example: "mssante watch --account dr.martin@test.mssante.fr --token-file \"$XDG_RUNTIME_DIR/mssante/dr.martin@test.mssante.fr.token\" --imap imap.test.mssante.fr:143",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "imap")
			w := &watchFlags{
				conn:    c,
				mailbox: fs.String("mailbox", "INBOX", "`mailbox` to watch"),
			}
			onConfig(fs, func(cfg *config.Config) {
				l := &cfg.Login
				w.server, w.nationalID, w.channel, w.caFile = &l.Server, &l.NationalID, &l.Channel, &l.ServerCA
			}, "login.server", "login.national_id", "login.channel", "login.server_ca")
			reword(fs, "server", "intermediate LPS server `URL`: log in there and take the tokens from it")
			reword(fs, "national-id", "with --server: national `id` to authenticate by CIBA; without it, a browser login with a user code")
			reword(fs, "channel", "with --national-id: MOBILE (e-CPS app) or CARD (CPS card)")
			reword(fs, "ca-file", "with --server: PEM `file` of the CA of the server certificate (default: system roots)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				if *w.server != "" && (*c.tokenFile != "" || *c.certFile != "") {
					return usagef("--server excludes --token-file and --cert")
				}
				// --timeout bounds each connection; given explicitly, it also ends the watch.
				fs.Visit(func(f *flag.Flag) { w.until = w.until || f.Name == "timeout" })
				return runWatch(ctx, env, w)
			}
		},
	})
}

type watchFlags struct {
	conn                                         *connFlags
	mailbox, server, nationalID, channel, caFile *string
	until                                        bool // --timeout given: the watch ends after it
}

// watcher prints the lines of one running watch.
type watcher struct {
	env     *cmdEnv
	account string
	mailbox string

	outMu sync.Mutex
}

func (w *watcher) emit(l watchLine) {
	l.Time = time.Now().UTC().Truncate(time.Second)
	w.outMu.Lock()
	defer w.outMu.Unlock()
	_ = writeJSONLine(w.env.stdout, l)
}

// event prints an event of mailbox.Watch.
func (w *watcher) event(ev mailbox.WatchEvent) {
	l := watchLine{Event: ev.Kind, Server: ev.Server, Reason: ev.Reason}
	switch ev.Kind {
	case "watching":
		n := ev.Messages
		l.Account, l.Mailbox, l.Messages = w.account, w.mailbox, &n
	case "mail":
		m := ev.Mail
		date := m.Date
		l = watchLine{Event: "mail", Account: w.account, Mailbox: w.mailbox, UID: m.UID, From: m.From,
			Subject: m.Subject, Date: &date, Size: m.Size, Flags: m.Flags}
	}
	w.emit(l)
}

func runWatch(ctx context.Context, env *cmdEnv, f *watchFlags) error {
	c := f.conn
	w := &watcher{env: env, account: *c.account, mailbox: *f.mailbox}
	if err := c.checkAccount(); err != nil {
		return err
	}
	if f.until && *c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *c.timeout)
		defer cancel()
	}
	// sessCtx ends with the professional's session: the IMAP session is then closed at once.
	sessCtx, endSession := context.WithCancelCause(ctx)
	defer endSession(nil)

	var o mailbox.Options
	if *f.server != "" {
		a, err := watchLogin(ctx, w, f)
		if err != nil {
			return err
		}
		defer func() {
			// Ctrl-C or a failure: log out here and at PSC, unless the session already ended.
			var se *mailbox.SessionEnded
			if !errors.As(context.Cause(sessCtx), &se) {
				a.Logout()
			}
		}()
		if o, err = c.options(env, mailbox.Credentials{Tokens: lps.TokenSourceFunc(a.TokenFunc(*c.account))}, a.nationalID); err != nil {
			return err
		}
		go func() {
			reason, err := a.Follow(sessCtx, func(kind string) {
				if kind == "token-renewed" {
					l := watchLine{Event: kind}
					if tok, exp, err := a.Token(sessCtx, *c.account); err == nil {
						clear(tok)
						l.ExpiresAt = &exp
					}
					w.emit(l)
				}
			})
			if err == nil && reason != "" {
				endSession(&mailbox.SessionEnded{Reason: reason})
			}
		}()
	} else {
		creds, author, err := c.credentials()
		if err != nil {
			return err
		}
		if o, err = c.options(env, creds, author); err != nil {
			return err
		}
		if *c.tokenFile != "" {
			go mailbox.FollowTokenFile(sessCtx, *c.tokenFile, watchPoll, func(exp time.Time) {
				l := watchLine{Event: "token-renewed"}
				if !exp.IsZero() {
					l.ExpiresAt = &exp
				}
				w.emit(l)
			}, func(e *mailbox.SessionEnded) { endSession(e) })
		}
	}
	acct, done, err := c.openWith(ctx, env, o)
	if err != nil {
		return err
	}
	defer done()
	err = acct.Watch(sessCtx, *f.mailbox, &mailbox.WatchOptions{OnEvent: w.event, Reidle: watchReidle,
		DialTimeout: max(*c.timeout, 10*time.Second)})
	var se *mailbox.SessionEnded
	if errors.As(context.Cause(sessCtx), &se) {
		w.emit(watchLine{Event: "session-ended", Reason: se.Reason})
		return se
	}
	if ctx.Err() != nil {
		l := watchLine{Event: "stopped"}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			l.Reason = "timeout"
		}
		w.emit(l)
		return nil
	}
	return err
}

// watchLogin logs in at the intermediate server (CIBA or browser user code) and checks that the
// account is one of the session's mailboxes.
func watchLogin(ctx context.Context, w *watcher, f *watchFlags) (*agent, error) {
	a, err := newAgent(w.env, *f.server, *f.caFile, func(l loginLine) {
		w.emit(watchLine{Event: "pending", BindingMessage: l.BindingMessage, UserCode: l.UserCode,
			VerificationURL: l.VerificationURL})
	})
	if err != nil {
		return nil, err
	}
	if err := a.login(ctx, *f.nationalID, *f.channel); err != nil {
		return nil, err
	}
	me, err := a.Me(ctx)
	if err != nil {
		a.Logout()
		return nil, err
	}
	if !me.HasMailbox(w.account) {
		a.Logout()
		return nil, fmt.Errorf("%s is not a mailbox of this professional (%s)", w.account, strings.Join(me.Mailboxes, ", "))
	}
	a.nationalID = me.NationalID
	return a, nil
}
