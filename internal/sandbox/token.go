package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/mssante/mssante/internal/pscemu"
)

// ErrNotRunning means the sandbox of the data directory does not answer: it is not started.
var ErrNotRunning = errors.New("the sandbox is not running: start it with `mssante sandbox` (same --data-dir)")

// Token is a sandbox access token: a TEST token of the PSC emulator, valid only in the sandbox.
type Token struct {
	AccessToken string
	ExpiresIn   time.Duration
}

// String never shows the token.
func (t Token) String() string { return fmt.Sprintf("sandbox token (%s)", t.ExpiresIn) }

// FetchToken obtains a fresh access token for the professional nationalID from the RUNNING
// sandbox of dataDir, over loopback HTTP: a CIBA request to its PSC emulator, approved on the
// emulator's sandbox page (as the professional would on the e-CPS app), then the token poll. The
// emulator's signing key never leaves its process; nothing is written to disk.
func FetchToken(ctx context.Context, dataDir, nationalID string) (Token, error) {
	c, err := LoadConfig(dataDir)
	if err != nil {
		return Token{}, err
	}
	known := false
	for _, p := range c.Professionals {
		known = known || p.NationalID == nationalID
	}
	if !known {
		var ids []string
		for _, p := range c.Professionals {
			ids = append(ids, p.NationalID+" ("+p.GivenName+" "+p.FamilyName+")")
		}
		return Token{}, fmt.Errorf("unknown test professional %q; the sandbox has: %s", nationalID, strings.Join(ids, ", "))
	}
	return cibaToken(ctx, "http://"+c.PSC, SandboxClientID, nationalID)
}

// cibaToken runs an auto-approved CIBA login of nationalID at the PSC emulator of base URL, for
// the public client clientID.
func cibaToken(ctx context.Context, base, clientID, nationalID string) (Token, error) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
		// The approval answers with a redirect to the sandbox page: not needed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	oc := base + pscemu.RealmPath + "/protocol/openid-connect"
	var auth struct {
		AuthReqID string `json:"auth_req_id"`
	}
	if err := postForm(ctx, hc, oc+"/ext/ciba/auth", url.Values{"client_id": {clientID},
		"scope": {"openid scope_all"}, "login_hint": {nationalID}, "binding_message": {"00"},
		"channel": {"MOBILE"}, "acr_values": {"eidas1"}}, &auth); err != nil {
		return Token{}, err
	}
	if err := postForm(ctx, hc, base+"/sandbox/ciba/"+url.PathEscape(auth.AuthReqID)+"/approve", nil, nil); err != nil {
		return Token{}, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := postForm(ctx, hc, oc+"/token", url.Values{"client_id": {clientID},
		"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {auth.AuthReqID}}, &tok); err != nil {
		return Token{}, err
	}
	if tok.AccessToken == "" {
		return Token{}, errors.New("sandbox PSC emulator: no access token in the answer")
	}
	return Token{AccessToken: tok.AccessToken, ExpiresIn: time.Duration(tok.ExpiresIn) * time.Second}, nil
}

// postForm posts form and decodes a JSON answer into out (when not nil). A 3xx is a success.
// Errors carry the OAuth error code, never a token.
func postForm(ctx context.Context, hc *http.Client, u string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return ErrNotRunning
		}
		return fmt.Errorf("sandbox PSC emulator: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error string `json:"error"`
			Desc  string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		return fmt.Errorf("sandbox PSC emulator: %s %s: %s", resp.Status, e.Error, e.Desc)
	}
	if out == nil || resp.StatusCode >= 300 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("sandbox PSC emulator: answer: %w", err)
	}
	return nil
}
