package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

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

// watchReidle is how long one IDLE command lasts before it is renewed (RFC 2177: under 29 min); the
// mailbox is checked for new messages at each renewal too.
var watchReidle = 10 * time.Minute

func init() {
	register(&command{
		name:    "watch",
		summary: "keep an IMAP IDLE session open and print new mail and session events as JSON lines",
		usage: "watch --account ADDR (--token-file F | --server URL [--national-id ID [--channel MOBILE|CARD]] [--ca-file PEM] | --cert F --key F) " +
			"[--autoconfig-url URL | --imap HOST:PORT] [--trust-root PEM]… [--profile production|test] [--mailbox INBOX] [--data-dir DIR]",
		example: "mssante watch --account dr.martin@test.mssante.fr --token-file \"$XDG_RUNTIME_DIR/mssante/dr.martin@test.mssante.fr.token\" --imap imap.test.mssante.fr:143",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "imap")
			w := &watchFlags{
				conn:       c,
				mailbox:    fs.String("mailbox", "INBOX", "`mailbox` to watch"),
				server:     fs.String("server", envOr("MSSANTE_SERVER", ""), "intermediate LPS server `URL`: log in there and take the tokens from it (env MSSANTE_SERVER)"),
				nationalID: fs.String("national-id", envOr("MSSANTE_NATIONAL_ID", ""), "with --server: national `id` to authenticate by CIBA; without it, a browser login with a user code"),
				channel:    fs.String("channel", "MOBILE", "with --national-id: MOBILE (e-CPS app) or CARD (CPS card)"),
				caFile:     fs.String("ca-file", envOr("MSSANTE_SERVER_CA", ""), "with --server: PEM `file` of the CA of the server certificate (default: system roots)"),
			}
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				if *w.server != "" && (*c.tokenFile != "" || *c.certFile != "") {
					return usagef("--server excludes --token-file and --cert")
				}
				return runWatch(ctx, env, w)
			}
		},
	})
}

type watchFlags struct {
	conn                                         *connFlags
	mailbox, server, nationalID, channel, caFile *string
}

// watcher is one running watch.
type watcher struct {
	env     *cmdEnv
	account string
	mailbox string
	server  string // IMAP endpoint, for the lines

	outMu sync.Mutex
}

func (w *watcher) emit(l watchLine) {
	l.Time = time.Now().UTC().Truncate(time.Second)
	w.outMu.Lock()
	defer w.outMu.Unlock()
	_ = writeJSONLine(w.env.stdout, l)
}

// sessionEndedError ends watch with exit 1: the professional's session has ended.
type sessionEndedError struct{ reason string }

func (e *sessionEndedError) Error() string {
	return fmt.Sprintf("session ended (%s): log in again (session Pro Santé Connect terminée, reconnectez-vous)", e.reason)
}

// reopenWatcher turns the lps REOPEN events into "reconnected" lines, and passes every event on to
// the audit trail.
type reopenWatcher struct {
	next lps.Recorder
	w    *watcher
}

func (r *reopenWatcher) Record(ctx context.Context, ev lps.Event) {
	if r.next != nil {
		r.next.Record(ctx, ev)
	}
	if ev.Action == lps.ActionConnect && ev.Err == nil && strings.HasPrefix(ev.Request, "REOPEN") {
		r.w.emit(watchLine{Event: "reconnected", Server: r.w.server})
	}
}

func runWatch(ctx context.Context, env *cmdEnv, f *watchFlags) error {
	c := f.conn
	w := &watcher{env: env, account: *c.account, mailbox: *f.mailbox}
	if *c.account == "" {
		return usagef("--account is required")
	}
	// sessCtx ends with the professional's session: the IMAP session is then closed at once.
	sessCtx, endSession := context.WithCancelCause(ctx)
	defer endSession(nil)

	var (
		auth   lps.Auth
		author string
		err    error
		a      *agent
	)
	if *f.server != "" {
		a, err = watchLogin(ctx, w, f)
		if err != nil {
			return err
		}
		defer func() {
			// Ctrl-C or a failure: log out here and at PSC, unless the session already ended.
			var se *sessionEndedError
			if !errors.As(context.Cause(sessCtx), &se) {
				a.logout()
			}
		}()
		account := *c.account
		auth = lps.Auth{Method: lps.AuthXOAUTH2, Address: account, Tokens: lps.TokenSourceFunc(func(ctx context.Context) (string, error) {
			tok, _, err := a.token(ctx, account)
			if err != nil {
				return "", err
			}
			s := string(tok)
			clear(tok)
			return s, nil
		})}
		author = a.nationalID
		go func() {
			reason, err := a.follow(sessCtx, func(kind string) {
				if kind == "token-renewed" {
					l := watchLine{Event: kind}
					if _, exp, err := a.token(sessCtx, account); err == nil {
						l.ExpiresAt = &exp
					}
					w.emit(l)
				}
			})
			if err == nil && reason != "" {
				endSession(&sessionEndedError{reason: reason})
			}
		}()
	} else {
		if auth, author, err = c.auth(); err != nil {
			return err
		}
		if *c.tokenFile != "" {
			go watchTokenFile(sessCtx, w, *c.tokenFile, endSession)
		}
	}

	t, err := c.openWith(ctx, env, auth, author)
	if err != nil {
		return err
	}
	defer t.close()
	t.opts.Recorder = &reopenWatcher{next: t.opts.Recorder, w: w}

	err = w.run(sessCtx, c, t)
	if cause := context.Cause(sessCtx); cause != nil {
		var se *sessionEndedError
		if errors.As(cause, &se) {
			w.emit(watchLine{Event: "session-ended", Reason: se.reason})
			return se
		}
	}
	if ctx.Err() != nil {
		w.emit(watchLine{Event: "stopped"})
		return nil
	}
	return err
}

// watchLogin logs in at the intermediate server (CIBA or browser user code) and checks that the
// account is one of the session's mailboxes.
func watchLogin(ctx context.Context, w *watcher, f *watchFlags) (*agent, error) {
	u, err := url.Parse(*f.server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, usagef("--server: %q is not an http(s) URL", *f.server)
	}
	hc, err := agentHTTPClient(*f.caFile)
	if err != nil {
		return nil, err
	}
	a := &agent{base: strings.TrimSuffix(u.String(), "/"), http: hc, onPending: func(l loginLine) {
		w.emit(watchLine{Event: "pending", BindingMessage: l.BindingMessage, UserCode: l.UserCode,
			VerificationURL: l.VerificationURL})
	}}
	if *f.nationalID != "" {
		err = a.loginCIBA(ctx, w.env, *f.nationalID, strings.ToUpper(*f.channel))
	} else {
		err = a.loginBrowser(ctx, w.env)
	}
	if err != nil {
		return nil, err
	}
	var me struct {
		NationalID string   `json:"national_id"`
		Mailboxes  []string `json:"mailboxes"`
	}
	if err := a.getJSON(ctx, "/api/v1/me", &me); err != nil {
		a.logout()
		return nil, err
	}
	if !slices.ContainsFunc(me.Mailboxes, func(m string) bool { return strings.EqualFold(m, w.account) }) {
		a.logout()
		return nil, fmt.Errorf("%s is not a mailbox of this professional (%s)", w.account, strings.Join(me.Mailboxes, ", "))
	}
	a.nationalID = me.NationalID
	return a, nil
}

// watchTokenFile follows a token file: a new token is a renewal, a missing file (the login agent
// removed its link, or ended) the end of the session. Only a hash of the token is kept.
func watchTokenFile(ctx context.Context, w *watcher, file string, end context.CancelCauseFunc) {
	var last [sha256.Size]byte
	if tok, err := readToken(file); err == nil {
		last = sha256.Sum256([]byte(tok))
	}
	tick := time.NewTicker(watchPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		tok, err := readToken(file)
		if errors.Is(err, fs.ErrNotExist) {
			end(&sessionEndedError{reason: "token-file-removed"})
			return
		}
		if err != nil {
			continue
		}
		if sum := sha256.Sum256([]byte(tok)); sum != last {
			last = sum
			l := watchLine{Event: "token-renewed"}
			if exp, ok := tokenExpiry(tok); ok {
				l.ExpiresAt = &exp
			}
			w.emit(l)
		}
	}
}

// tokenExpiry reads the exp claim of a JWT access token (not verified: for display only).
func tokenExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}, false
	}
	n, err := claims.Exp.Int64()
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

// run opens the IMAP session, selects the mailbox and idles until ctx ends. Each change announced
// during IDLE ends that IDLE command; the new messages are then listed and IDLE resumes.
func (w *watcher) run(ctx context.Context, c *connFlags, t *transport) error {
	dial := func() (*lps.IMAPClient, error) {
		dctx, cancel := context.WithTimeout(ctx, max(*c.timeout, 10*time.Second))
		defer cancel()
		ep, err := c.endpoint(dctx, t, "imap")
		if err != nil {
			return nil, err
		}
		t.setServer(ep)
		w.server = ep.String()
		ic, err := lps.DialIMAP(dctx, ep, t.auth, t.opts)
		if err != nil {
			return nil, c.refused(ep, err)
		}
		return ic, nil
	}
	ic, err := dial()
	if err != nil {
		return err
	}
	// Close the session as soon as the professional's session ends (ECO.1.2.6), whatever it is
	// doing.
	stop := context.AfterFunc(ctx, func() { _ = ic.Close() })
	defer stop()
	defer ic.Close()

	st, err := ic.Select(ctx, w.mailbox)
	if err != nil {
		return err
	}
	lastUID := uint32(0)
	if uids, err := ic.Search(ctx, lps.Criteria{}); err == nil && len(uids) > 0 {
		lastUID = slices.Max(uids)
	} else if err != nil {
		return err
	}
	n := st.Messages
	w.emit(watchLine{Event: "watching", Account: w.account, Mailbox: w.mailbox, Server: w.server, Messages: &n})

	backoff := time.Second
	for ctx.Err() == nil {
		idleCtx, stopIdle := context.WithTimeout(ctx, watchReidle)
		// A new message count ends this IDLE; a timeout renews it. Both check the mailbox.
		err := ic.Idle(idleCtx, func(u lps.Update) {
			if u.Messages > 0 {
				stopIdle()
			}
		})
		stopIdle()
		if err == nil && ctx.Err() == nil {
			lastUID, err = w.announce(ctx, ic, lastUID)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			backoff = time.Second
			continue
		}
		if permanentIMAP(err) {
			return fmt.Errorf("IMAP session to %s: %w", w.server, err)
		}
		// The operator is unreachable for longer than lps's own retries (a restart): wait and
		// reopen while the professional's session lasts (ECO.1.2.7, ECO.1.2.3).
		w.emit(watchLine{Event: "disconnected", Server: w.server, Reason: err.Error()})
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, watchMaxBackoff)
	}
	return nil
}

// watchMaxBackoff bounds the wait between two reopening attempts.
var watchMaxBackoff = 30 * time.Second

// permanentIMAP reports the errors that reopening cannot cure: authentication or TLS policy
// refused, no STARTTLS, session closed here.
func permanentIMAP(err error) bool {
	for _, e := range []error{lps.ErrAuth, lps.ErrTLSPolicy, lps.ErrNoSTARTTLS, lps.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// announce prints the messages whose UID is above last and returns the highest UID seen.
func (w *watcher) announce(ctx context.Context, ic *lps.IMAPClient, last uint32) (uint32, error) {
	uids, err := ic.Search(ctx, lps.Criteria{})
	if err != nil {
		return last, err
	}
	uids = slices.DeleteFunc(uids, func(u uint32) bool { return u <= last })
	if len(uids) == 0 {
		return last, nil
	}
	slices.Sort(uids)
	sums, err := ic.Summaries(ctx, uids)
	if err != nil {
		return last, err
	}
	slices.SortFunc(sums, func(a, b lps.Summary) int { return int(int64(a.UID) - int64(b.UID)) })
	for _, s := range sums {
		date := s.Date
		w.emit(watchLine{Event: "mail", Account: w.account, Mailbox: w.mailbox, UID: s.UID,
			From: strings.Join(s.From, ", "), Subject: s.Subject, Date: &date, Size: s.Size, Flags: s.Flags})
		last = max(last, s.UID)
	}
	return max(last, uids[len(uids)-1]), nil
}
