package serverapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Pending is what the professional must do to approve a login: check the binding message on the
// e-CPS app or the CPS card (CIBA), or type the user code at the verification URL (browser).
type Pending struct {
	Channel         string // CIBA: MOBILE or CARD
	BindingMessage  string
	UserCode        string
	VerificationURL string
	ExpiresIn       int
}

// Client is one thick-client session with the intermediate server. It is not safe for concurrent
// logins; Token, Follow and Logout may run concurrently once logged in.
type Client struct {
	base   string
	http   *http.Client
	handle string // the bearer session handle: memory only, never printed
	// OnPending is called when the login waits for the professional (nil: nothing).
	OnPending func(Pending)
	// Now gives the time of the login deadlines (time.Now when nil).
	Now func() time.Time
}

// ErrSessionGone: the server no longer knows the session (401).
var ErrSessionGone = errors.New("session unknown to the server")

// NewClient returns a client of the server at base (an http(s) URL). It does no I/O.
func NewClient(base string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", base)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(u.String(), "/"), http: hc}, nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) pending(p Pending) {
	if c.OnPending != nil {
		c.OnPending(p)
	}
}

// LoginCIBA starts a CIBA login for nationalID on channel (MOBILE or CARD), reports the binding
// message through OnPending and polls until the professional answers.
func (c *Client) LoginCIBA(ctx context.Context, nationalID, channel string) error {
	var start CIBAStartAnswer
	in := CIBAStartRequest{NationalID: nationalID, Channel: channel, Client: "agent"}
	if err := c.postJSON(ctx, "/auth/ciba/start", in, &start, http.StatusOK); err != nil {
		return err
	}
	c.handle = start.Handle
	c.pending(Pending{Channel: channel, BindingMessage: start.BindingMessage, ExpiresIn: start.ExpiresIn})
	deadline := c.now().Add(time.Duration(start.ExpiresIn) * time.Second)
	return c.poll(ctx, "/auth/ciba/poll", time.Duration(max(start.Interval, 1))*time.Second, deadline)
}

// LoginBrowser asks for a user code, reports it through OnPending, and polls until the browser
// login made for this client completes.
func (c *Client) LoginBrowser(ctx context.Context) error {
	var start DeviceStartAnswer
	if err := c.postJSON(ctx, "/auth/device/start", nil, &start, http.StatusOK); err != nil {
		return err
	}
	c.handle = start.Handle
	c.pending(Pending{UserCode: start.UserCode, VerificationURL: start.VerificationURL, ExpiresIn: start.ExpiresIn})
	deadline := c.now().Add(time.Duration(start.ExpiresIn) * time.Second)
	return c.poll(ctx, "/auth/device/poll", time.Duration(max(start.Interval, 1))*time.Second, deadline)
}

// poll asks path every interval until the login completes (the session handle replaces the
// pre-login one), fails, or deadline passes.
func (c *Client) poll(ctx context.Context, path string, interval time.Duration, deadline time.Time) error {
	for {
		if c.now().After(deadline) {
			return errors.New("authentication request expired: run login again")
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		var poll PollAnswer
		if err := c.postJSON(ctx, path, nil, &poll, 0); err != nil {
			return err
		}
		switch poll.Status {
		case "ok":
			if poll.Session == "" {
				return errors.New("server gave no session handle")
			}
			c.handle = poll.Session
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

// Me returns the logged-in professional.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var me Me
	if err := c.getJSON(ctx, "/api/v1/me", &me); err != nil {
		return nil, err
	}
	return &me, nil
}

// Token fetches the current access token of a mailbox into a byte slice the caller zeroes.
func (c *Client) Token(ctx context.Context, mailbox string) ([]byte, time.Time, error) {
	body, status, err := c.do(ctx, http.MethodGet, "/api/v1/mailboxes/"+url.PathEscape(mailbox)+"/token", nil)
	defer clear(body)
	if err != nil {
		return nil, time.Time{}, err
	}
	if status != http.StatusOK {
		return nil, time.Time{}, serverError(status, body)
	}
	// Decoded by hand so that the token lands in a slice zeroed here, not in a string.
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

// TokenFunc gives the current access token of mailbox, asked of the server at each call: an
// lps.TokenSourceFunc for the mail sessions.
func (c *Client) TokenFunc(mailbox string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		tok, _, err := c.Token(ctx, mailbox)
		if err != nil {
			return "", err
		}
		s := string(tok)
		clear(tok)
		return s, nil
	}
}

// Follow reads the event stream until the session ends (it returns the reason) or ctx is done,
// calling onEvent with "ready" (the stream is open) and "token-renewed". A broken stream is
// reopened with back-off.
func (c *Client) Follow(ctx context.Context, onEvent func(kind string)) (string, error) {
	backoff := time.Second
	for {
		reason, err := c.stream(ctx, onEvent)
		switch {
		case reason != "":
			return reason, nil
		case errors.Is(err, ErrSessionGone):
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

// stream reads one event stream connection.
func (c *Client) stream(ctx context.Context, onEvent func(kind string)) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/events", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.handle)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return "", ErrSessionGone
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
		var ev Event
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

// Logout ends the session at the server (and so at PSC), best effort.
func (c *Client) Logout() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, _ = c.do(ctx, http.MethodPost, "/auth/logout", nil)
	c.handle = ""
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	body, status, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return serverError(status, body)
	}
	return json.Unmarshal(body, v)
}

// postJSON posts in and decodes the answer; want 0 accepts any status with a JSON body.
func (c *Client) postJSON(ctx context.Context, path string, in, v any, want int) error {
	var rd io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		rd = bytes.NewReader(b)
	}
	body, status, err := c.do(ctx, http.MethodPost, path, rd)
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
func (c *Client) do(ctx context.Context, method, path string, body io.Reader) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.handle != "" {
		req.Header.Set("Authorization", "Bearer "+c.handle)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("server %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return b, resp.StatusCode, err
}

// serverError turns an error answer of the server into an error with its French message.
func serverError(status int, body []byte) error {
	var v Error
	if json.Unmarshal(body, &v) == nil && v.Message != "" {
		return fmt.Errorf("server: HTTP %d %s: %s", status, v.Error, v.Message)
	}
	return fmt.Errorf("server: HTTP %d", status)
}
