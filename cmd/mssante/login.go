package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mssante/mssante/lps"
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
			c := &loginFlags{
				server:     fs.String("server", envOr("MSSANTE_SERVER", ""), "intermediate LPS server `URL` (env MSSANTE_SERVER)"),
				nationalID: fs.String("national-id", envOr("MSSANTE_NATIONAL_ID", ""), "national `id` (IDNPS, \"8\"+RPPS) to authenticate by CIBA; without it, log in in a browser with a user code"),
				channel:    fs.String("channel", "MOBILE", "where PSC asks for approval: MOBILE (e-CPS app) or CARD (CPS card)"),
				runtimeDir: fs.String("runtime-dir", defaultRuntimeDir(), "`directory` of the token links (default $XDG_RUNTIME_DIR/mssante)"),
				caFile:     fs.String("ca-file", envOr("MSSANTE_SERVER_CA", ""), "PEM `file` of the CA that signed the server certificate (default: system roots)"),
			}
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

// defaultRuntimeDir is $XDG_RUNTIME_DIR/mssante (a per-user tmpfs), else <tmp>/mssante-<uid>.
func defaultRuntimeDir() string {
	if v := os.Getenv("XDG_RUNTIME_DIR"); v != "" {
		return filepath.Join(v, "mssante")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("mssante-%d", os.Getuid()))
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

// agent is the client side of one session with the intermediate server.
type agent struct {
	base   string
	http   *http.Client
	handle string // the bearer session handle: memory only, never printed
	// nationalID is the professional's, once logged in (for the audit trail).
	nationalID string
	// onPending, when set, prints the "pending" line of a login instead of the agent's format
	// (mssante watch).
	onPending func(loginLine)
}

// pending prints the line that tells the professional how to approve the login.
func (a *agent) pending(env *cmdEnv, l loginLine) {
	if a.onPending != nil {
		a.onPending(l)
		return
	}
	_ = writeJSONLine(env.stdout, l)
}

func runLogin(ctx context.Context, env *cmdEnv, c *loginFlags) error {
	u, err := url.Parse(*c.server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return usagef("--server: %q is not an http(s) URL", *c.server)
	}
	hc, err := agentHTTPClient(*c.caFile)
	if err != nil {
		return err
	}
	a := &agent{base: strings.TrimSuffix(u.String(), "/"), http: hc}
	if *c.nationalID != "" {
		err = a.loginCIBA(ctx, env, *c.nationalID, strings.ToUpper(*c.channel))
	} else {
		err = a.loginBrowser(ctx, env)
	}
	if err != nil {
		return err
	}
	var me struct {
		NationalID string   `json:"national_id"`
		GivenName  string   `json:"given_name"`
		FamilyName string   `json:"family_name"`
		Mailboxes  []string `json:"mailboxes"`
	}
	if err := a.getJSON(ctx, "/api/v1/me", &me); err != nil {
		a.logout()
		return err
	}
	boxes := me.Mailboxes
	if len(c.mailboxes) > 0 {
		boxes = slices.DeleteFunc(slices.Clone(c.mailboxes), func(m string) bool {
			return !slices.ContainsFunc(me.Mailboxes, func(x string) bool { return strings.EqualFold(x, m) })
		})
	}
	if len(boxes) == 0 {
		a.logout()
		return errors.New("no mailbox of this session to publish")
	}
	links, err := newTokenLinks(*c.runtimeDir, boxes)
	if err != nil {
		a.logout()
		return err
	}
	defer links.close()
	exp, err := a.publish(ctx, links)
	if err != nil {
		a.logout()
		return err
	}
	_ = writeJSONLine(env.stdout, loginLine{Status: "logged_in", NationalID: me.NationalID, GivenName: me.GivenName,
		FamilyName: me.FamilyName, TokenFiles: links.paths(), ExpiresAt: &exp})
	fmt.Fprintf(env.stderr, "Connecté : %s %s. Jetons publiés dans %s (Ctrl-C pour se déconnecter).\n",
		me.GivenName, me.FamilyName, *c.runtimeDir)
	reason, err := a.follow(ctx, a.republish(ctx, env, links))
	if ctx.Err() != nil {
		links.close()
		a.logout()
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

// loginCIBA starts a CIBA login, shows the binding message and polls until the professional
// answers. The session handle is kept in a.handle.
func (a *agent) loginCIBA(ctx context.Context, env *cmdEnv, nationalID, channel string) error {
	var start struct {
		Handle         string `json:"handle"`
		BindingMessage string `json:"binding_message"`
		Interval       int    `json:"interval"`
		ExpiresIn      int    `json:"expires_in"`
	}
	in := map[string]string{"national_id": nationalID, "channel": channel, "client": "agent"}
	if err := a.postJSON(ctx, "/auth/ciba/start", in, &start, http.StatusOK); err != nil {
		return err
	}
	a.handle = start.Handle
	where := map[string]string{"CARD": "avec votre carte CPS", "MOBILE": "sur votre application e-CPS"}[channel]
	fmt.Fprintf(env.stderr, "Code de vérification : %s — validez la demande %s.\n", start.BindingMessage, where)
	a.pending(env, loginLine{Status: "pending", BindingMessage: start.BindingMessage, ExpiresIn: start.ExpiresIn})
	deadline := time.Now().Add(time.Duration(start.ExpiresIn) * time.Second)
	return a.poll(ctx, "/auth/ciba/poll", time.Duration(max(start.Interval, 1))*time.Second, deadline)
}

// poll asks path every interval until the login completes (the session handle replaces the
// pre-login one), fails, or deadline passes.
func (a *agent) poll(ctx context.Context, path string, interval time.Duration, deadline time.Time) error {
	for {
		if time.Now().After(deadline) {
			return errors.New("authentication request expired: run login again")
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		var poll struct {
			Status   string `json:"status"`
			Session  string `json:"session"`
			Interval int    `json:"interval"`
		}
		if err := a.postJSON(ctx, path, nil, &poll, 0); err != nil {
			return err
		}
		switch poll.Status {
		case "ok":
			if poll.Session == "" {
				return errors.New("server gave no session handle")
			}
			a.handle = poll.Session
			return nil
		case "pending":
			interval = time.Duration(max(poll.Interval, 1)) * time.Second
		case "denied":
			return errors.New("authentication refused")
		case "expired":
			return errors.New("authentication request expired: run login again")
		default:
			return fmt.Errorf("authentication failed (%s)", poll.Status)
		}
	}
}

// loginBrowser asks for a user code, shows where to type it, and polls until the browser login
// made for this client completes.
func (a *agent) loginBrowser(ctx context.Context, env *cmdEnv) error {
	var start struct {
		Handle          string `json:"handle"`
		UserCode        string `json:"user_code"`
		VerificationURL string `json:"verification_url"`
		Interval        int    `json:"interval"`
		ExpiresIn       int    `json:"expires_in"`
	}
	if err := a.postJSON(ctx, "/auth/device/start", nil, &start, http.StatusOK); err != nil {
		return err
	}
	a.handle = start.Handle
	fmt.Fprintf(env.stderr, "Ouvrez %s dans votre navigateur et saisissez le code %s, puis connectez-vous avec Pro Santé Connect.\n",
		start.VerificationURL, start.UserCode)
	a.pending(env, loginLine{Status: "pending", UserCode: start.UserCode,
		VerificationURL: start.VerificationURL, ExpiresIn: start.ExpiresIn})
	deadline := time.Now().Add(time.Duration(start.ExpiresIn) * time.Second)
	return a.poll(ctx, "/auth/device/poll", time.Duration(max(start.Interval, 1))*time.Second, deadline)
}

// publish fetches the current token of every mailbox and swaps its link; it returns the
// earliest expiry.
func (a *agent) publish(ctx context.Context, links *tokenLinks) (time.Time, error) {
	var earliest time.Time
	for _, box := range links.mailboxes() {
		tok, exp, err := a.token(ctx, box)
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

// token fetches the current access token of a mailbox. The answer is decoded so that the token
// lands in a byte slice the caller zeroes.
func (a *agent) token(ctx context.Context, mailbox string) ([]byte, time.Time, error) {
	body, status, err := a.do(ctx, http.MethodGet, "/api/v1/mailboxes/"+url.PathEscape(mailbox)+"/token", nil)
	defer clear(body)
	if err != nil {
		return nil, time.Time{}, err
	}
	if status != http.StatusOK {
		return nil, time.Time{}, serverError(status, body)
	}
	var v struct {
		AccessToken json.RawMessage `json:"access_token"`
		ExpiresAt   time.Time       `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, time.Time{}, errors.New("token answer: invalid JSON")
	}
	defer clear(v.AccessToken)
	tok := bytes.Trim(v.AccessToken, `"`)
	if len(tok) == 0 || bytes.ContainsAny(tok, "\\\" \r\n") {
		return nil, time.Time{}, errors.New("token answer: no usable access token")
	}
	return bytes.Clone(tok), v.ExpiresAt, nil
}

// errSessionGone: the server no longer knows the session (401).
var errSessionGone = errors.New("session unknown to the server")

// follow reads the event stream until the session ends (it returns the reason) or ctx is done,
// calling onEvent with "ready" (the stream is open) and "token-renewed". A broken stream is
// reopened.
func (a *agent) follow(ctx context.Context, onEvent func(kind string)) (string, error) {
	backoff := time.Second
	for {
		reason, err := a.stream(ctx, onEvent)
		switch {
		case reason != "":
			return reason, nil
		case errors.Is(err, errSessionGone):
			return "unknown-session", nil
		case ctx.Err() != nil:
			return "", ctx.Err()
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 30*time.Second)
	}
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

// stream reads one event stream connection.
func (a *agent) stream(ctx context.Context, onEvent func(kind string)) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/api/v1/events", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+a.handle)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := a.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return "", errSessionGone
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("events: HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Kind   string `json:"kind"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal([]byte(data), &ev) != nil {
			continue
		}
		switch ev.Kind {
		case "session-ended":
			return ev.Reason, nil
		case "ready", "token-renewed":
			onEvent(ev.Kind)
		}
	}
	return "", sc.Err()
}

// logout ends the session at the server (and so at PSC), best effort.
func (a *agent) logout() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, _ = a.do(ctx, http.MethodPost, "/auth/logout", nil)
	a.handle = ""
}

func (a *agent) getJSON(ctx context.Context, path string, v any) error {
	body, status, err := a.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return serverError(status, body)
	}
	return json.Unmarshal(body, v)
}

// postJSON posts in and decodes the answer; want 0 accepts any status with a JSON body.
func (a *agent) postJSON(ctx context.Context, path string, in, v any, want int) error {
	var rd io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		rd = bytes.NewReader(b)
	}
	body, status, err := a.do(ctx, http.MethodPost, path, rd)
	if err != nil {
		return err
	}
	if (want != 0 && status != want) || status >= 500 || status == http.StatusUnauthorized {
		return serverError(status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: invalid answer", path)
	}
	return nil
}

// do sends one request with the session handle and reads a bounded body.
func (a *agent) do(ctx context.Context, method, path string, body io.Reader) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.handle != "" {
		req.Header.Set("Authorization", "Bearer "+a.handle)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("server %s: %w", a.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return b, resp.StatusCode, err
}

// serverError turns an error answer of the server into an error with its French message.
func serverError(status int, body []byte) error {
	var v struct{ Error, Message string }
	if json.Unmarshal(body, &v) == nil && v.Message != "" {
		return fmt.Errorf("server: HTTP %d %s: %s", status, v.Error, v.Message)
	}
	return fmt.Errorf("server: HTTP %d", status)
}

// tokenSource gives the current access token of mailbox, asked of the server at each
// authentication.
func (a *agent) tokenSource(mailbox string) lps.TokenSource {
	return lps.TokenSourceFunc(func(ctx context.Context) (string, error) {
		tok, _, err := a.token(ctx, mailbox)
		if err != nil {
			return "", err
		}
		s := string(tok)
		clear(tok)
		return s, nil
	})
}
