package psc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// defaultExpiresIn is the access token lifetime assumed when the token endpoint gives none
// (seconds): shorter than PSC's, so that the Holder renews in time.
const defaultExpiresIn = 60

// maxResponse bounds every response body read from PSC.
const maxResponse = 1 << 20

// Metadata is the part of the discovery document mssante uses.
type Metadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	BackchannelEndpoint   string   `json:"backchannel_authentication_endpoint"`
	BackchannelModes      []string `json:"backchannel_token_delivery_modes_supported"`
	ACRValuesSupported    []string `json:"acr_values_supported"`
	ScopesSupported       []string `json:"scopes_supported"`
	SigningAlgs           []string `json:"id_token_signing_alg_values_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

// Client talks to one PSC environment. It is safe for concurrent use.
type Client struct {
	cfg      Config
	meta     Metadata
	verifier *oidc.IDTokenVerifier
	// discoveredAt is the URL the discovery document was read from.
	discoveredAt string
	sleep        func(ctx context.Context, d time.Duration) error // CIBA polling; tests replace it
}

// New fetches the discovery document (I/O) and returns a client. The document's issuer must equal
// cfg.Issuer.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, sleep: sleepCtx}
	if err := c.discover(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Metadata returns the discovery document as read by New.
func (c *Client) Metadata() Metadata { return c.meta }

// Config returns the configuration (the client secret included: do not print it).
func (c *Client) Config() Config { return c.cfg }

func (c *Client) discover(ctx context.Context) error {
	where := c.cfg.discoveryURL()
	body, status, err := c.fetchDiscovery(ctx, where)
	if err == nil && status == http.StatusNotFound && c.cfg.DiscoveryURL == "" {
		// Not PSC's name: a generic provider serves the standard one.
		zero(body)
		where = strings.TrimSuffix(c.cfg.Issuer, "/") + StandardDiscoveryPath
		body, status, err = c.fetchDiscovery(ctx, where)
		if err == nil && status == http.StatusNotFound {
			return fmt.Errorf("psc: discovery: HTTP 404 at %s and at %s (set the discovery URL)",
				c.cfg.discoveryURL(), where)
		}
	}
	if err != nil {
		return fmt.Errorf("psc: discovery %s: %w", where, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("psc: discovery %s: %w", where, &OAuthError{Endpoint: "discovery", Status: status})
	}
	if err := json.Unmarshal(body, &c.meta); err != nil {
		return fmt.Errorf("psc: discovery %s: %w", where, err)
	}
	c.discoveredAt = where
	m := &c.meta
	if m.Issuer != c.cfg.Issuer {
		if m.Issuer == "" || strings.TrimSuffix(m.Issuer, "/") != strings.TrimSuffix(c.cfg.Issuer, "/") {
			return fmt.Errorf("psc: discovery %s: issuer %q, want %q", where, m.Issuer, c.cfg.Issuer)
		}
		// Only a trailing slash differs: the provider's spelling is the one its tokens carry.
		c.cfg.Issuer = m.Issuer
	}
	if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" || m.JWKSURI == "" {
		return errors.New("psc: discovery: authorization, token or jwks endpoint missing")
	}
	if len(c.cfg.Scopes) == 0 && c.cfg.ScopesFromDiscovery {
		c.cfg.Scopes = scopesFor(m.ScopesSupported)
	}
	algs := m.SigningAlgs
	if len(algs) == 0 {
		algs = []string{oidc.RS256}
	}
	kctx := oidc.ClientContext(context.WithoutCancel(ctx), c.cfg.httpClient())
	keys := oidc.NewRemoteKeySet(kctx, m.JWKSURI)
	c.verifier = oidc.NewVerifier(m.Issuer, keys, &oidc.Config{
		ClientID: c.cfg.ClientID, SupportedSigningAlgs: algs, Now: c.cfg.now,
	})
	return nil
}

func (c *Client) fetchDiscovery(ctx context.Context, where string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	return c.do(req)
}

// DiscoveryURL is where the discovery document was read.
func (c *Client) DiscoveryURL() string { return c.discoveredAt }

// Scopes are the scopes asked at login.
func (c *Client) Scopes() []string { return slices.Clone(c.cfg.scopes()) }

// scopesFor chooses the scopes of a generic provider from its scopes_supported (Config.ScopesFromDiscovery).
func scopesFor(supported []string) []string {
	out := []string{"openid"}
	if len(supported) == 0 || slices.Contains(supported, "scope_all") {
		out = append(out, "scope_all")
	}
	// profile and email carry the names and the mailbox at a generic provider.
	for _, sc := range []string{"profile", "email", "offline_access"} {
		if slices.Contains(supported, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// do sends req and reads a bounded body.
func (c *Client) do(req *http.Request) ([]byte, int, error) {
	resp, err := c.cfg.httpClient().Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if len(body) > maxResponse {
		zero(body)
		return nil, resp.StatusCode, errors.New("response too large")
	}
	return body, resp.StatusCode, nil
}

// postForm sends an authenticated form to endpoint: client_secret_basic when a secret is
// configured, otherwise client_id in the form (mutual TLS by the HTTP client).
func (c *Client) postForm(ctx context.Context, endpoint string, form url.Values) ([]byte, int, error) {
	if len(c.cfg.ClientSecret) == 0 {
		form.Set("client_id", c.cfg.ClientID)
	}
	enc := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(enc))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if len(c.cfg.ClientSecret) > 0 {
		// RFC 6749 section 2.3.1: both parts are form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(string(c.cfg.ClientSecret)))
	}
	return c.do(req)
}

// tokenResponse is the token endpoint's answer. Tokens are read as raw JSON so that they land in
// byte slices that can be zeroed.
type tokenResponse struct {
	AccessToken      json.RawMessage `json:"access_token"`
	RefreshToken     json.RawMessage `json:"refresh_token"`
	IDToken          json.RawMessage `json:"id_token"`
	TokenType        string          `json:"token_type"`
	ExpiresIn        int64           `json:"expires_in"`
	RefreshExpiresIn int64           `json:"refresh_expires_in"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// rawString returns the bytes of a JSON string without quotes, copied; tokens never contain
// escapes (base64url and dots), a token that does is refused.
func rawString(m json.RawMessage) ([]byte, error) {
	if len(m) == 0 || string(m) == "null" {
		return nil, nil
	}
	if len(m) < 2 || m[0] != '"' || m[len(m)-1] != '"' || bytes.ContainsAny(m[1:len(m)-1], "\\\"") {
		return nil, errors.New("token is not a plain JSON string")
	}
	return bytes.Clone(m[1 : len(m)-1]), nil
}

// token posts a grant to the token endpoint and returns the tokens, with the raw response zeroed.
func (c *Client) token(ctx context.Context, form url.Values) (*Tokens, error) {
	grant := form.Get("grant_type")
	body, status, err := c.postForm(ctx, c.meta.TokenEndpoint, form)
	defer zero(body)
	if err != nil {
		return nil, fmt.Errorf("psc: token (%s): %w", grant, err)
	}
	return parseTokenResponse(body, status, grant, c.cfg.now())
}

// parseTokenResponse reads a token endpoint answer (RFC 6749 sections 5.1 and 5.2). The caller
// zeroes body.
func parseTokenResponse(body []byte, status int, grant string, now time.Time) (*Tokens, error) {
	var tr tokenResponse
	jerr := json.Unmarshal(body, &tr)
	defer func() { zero(tr.AccessToken); zero(tr.RefreshToken); zero(tr.IDToken) }()
	if status != http.StatusOK || tr.Error != "" {
		return nil, oauthError("token", status, grant, tr.Error, tr.ErrorDescription)
	}
	if jerr != nil {
		return nil, fmt.Errorf("psc: token (%s): invalid JSON answer", grant)
	}
	if !strings.EqualFold(tr.TokenType, "bearer") {
		return nil, fmt.Errorf("psc: token (%s): token type %q, want Bearer", grant, tr.TokenType)
	}
	t := &Tokens{IssuedAt: now}
	var err error
	for _, f := range []struct {
		dst *[]byte
		src json.RawMessage
	}{{&t.Access, tr.AccessToken}, {&t.Refresh, tr.RefreshToken}, {&t.IDToken, tr.IDToken}} {
		if *f.dst, err = rawString(f.src); err != nil {
			t.Zero()
			return nil, fmt.Errorf("psc: token (%s): %w", grant, err)
		}
	}
	if len(t.Access) == 0 {
		t.Zero()
		return nil, fmt.Errorf("psc: token (%s): no access token", grant)
	}
	if tr.ExpiresIn < 0 || tr.ExpiresIn > 1<<31 || tr.RefreshExpiresIn < 0 || tr.RefreshExpiresIn > 1<<31 {
		t.Zero()
		return nil, fmt.Errorf("psc: token (%s): invalid lifetime", grant)
	}
	if tr.ExpiresIn == 0 {
		tr.ExpiresIn = defaultExpiresIn
	}
	t.Expiry = now.Add(time.Duration(tr.ExpiresIn) * time.Second)
	if tr.RefreshExpiresIn > 0 {
		t.RefreshExpiry = now.Add(time.Duration(tr.RefreshExpiresIn) * time.Second)
	}
	return t, nil
}

func oauthError(endpoint string, status int, grant, code, desc string) *OAuthError {
	if len(desc) > 200 {
		desc = desc[:200]
	}
	return &OAuthError{Endpoint: endpoint, Status: status, Code: code, Description: desc,
		Err: sentinelFor(grant, code)}
}

// decodeError reads an OAuth error body of a non-token endpoint.
func decodeError(endpoint string, status int, body []byte) *OAuthError {
	var v struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &v)
	return oauthError(endpoint, status, "", v.Error, v.ErrorDescription)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
