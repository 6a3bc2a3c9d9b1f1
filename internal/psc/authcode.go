package psc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/url"
	"time"

	"golang.org/x/oauth2"
)

// AuthRequest is one authorization code request. The caller keeps it (in the server-side session,
// never in a cookie) until the callback. Its fields are secrets of the login in progress.
type AuthRequest struct {
	URL      string    // where to send the browser
	State    string    // returned unchanged on the callback (CSRF protection)
	Nonce    string    // must come back in the ID token
	Verifier string    // PKCE code verifier, sent at the exchange
	Created  time.Time // to expire abandoned logins
}

// String hides the verifier.
func (r AuthRequest) String() string { return "psc.AuthRequest{" + r.URL + "}" }

// AuthCodeURL starts an authorization code login: PKCE S256, a random state and nonce, the
// configured scopes and acr_values. No I/O.
func (c *Client) AuthCodeURL() (*AuthRequest, error) {
	if c.cfg.RedirectURL == "" {
		return nil, fmt.Errorf("psc: config: redirect URL is required for the code flow")
	}
	r := &AuthRequest{State: randomString(24), Nonce: randomString(24),
		Verifier: oauth2.GenerateVerifier(), Created: c.cfg.now()}
	r.URL = c.oauth2Config().AuthCodeURL(r.State,
		oauth2.S256ChallengeOption(r.Verifier),
		oauth2.SetAuthURLParam("nonce", r.Nonce),
		oauth2.SetAuthURLParam("acr_values", c.cfg.acr()))
	return r, nil
}

func (c *Client) oauth2Config() *oauth2.Config {
	return &oauth2.Config{
		ClientID:    c.cfg.ClientID,
		RedirectURL: c.cfg.RedirectURL,
		Scopes:      c.cfg.scopes(),
		Endpoint: oauth2.Endpoint{AuthURL: c.meta.AuthorizationEndpoint, TokenURL: c.meta.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// Exchange completes a code login: it checks state against req, exchanges the code with the PKCE
// verifier and verifies the ID token (signature, issuer, audience, expiry, nonce, acr).
func (c *Client) Exchange(ctx context.Context, req *AuthRequest, code, state string) (*Tokens, error) {
	if req == nil || subtle.ConstantTimeCompare([]byte(state), []byte(req.State)) != 1 || state == "" {
		return nil, ErrState
	}
	if code == "" {
		return nil, fmt.Errorf("psc: callback without code")
	}
	t, err := c.token(ctx, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {c.cfg.RedirectURL},
		"code_verifier": {req.Verifier},
	})
	if err != nil {
		return nil, err
	}
	if t.Claims, err = c.VerifyIDToken(ctx, t.IDToken, req.Nonce); err != nil {
		t.Zero()
		return nil, err
	}
	return t, nil
}

// VerifyIDToken verifies an ID token: signature by a key of the JWKS, issuer, audience (the client
// id), expiry, nonce (when not empty) and acr (the configured ACR).
func (c *Client) VerifyIDToken(ctx context.Context, raw []byte, nonce string) (*IDClaims, error) {
	return c.verifyIDToken(ctx, raw, nonce, true)
}

// verifyIDToken is VerifyIDToken; checkACR is false for the ID tokens of a refresh, whose acr
// Keycloak may report differently (the login's acr was checked; the Holder checks the subject).
func (c *Client) verifyIDToken(ctx context.Context, raw []byte, nonce string, checkACR bool) (*IDClaims, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: missing", ErrInvalidIDToken)
	}
	idt, err := c.verifier.Verify(ctx, string(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidIDToken, err)
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("%w: nonce mismatch", ErrInvalidIDToken)
	}
	var cl IDClaims
	var extra struct {
		AuthTime int64 `json:"auth_time"`
	}
	if err := idt.Claims(&cl); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidIDToken, err)
	}
	_ = idt.Claims(&extra)
	if checkACR && !c.cfg.AnyACR && cl.ACR != c.cfg.acr() {
		return nil, fmt.Errorf("%w: acr %q, want %q", ErrInvalidIDToken, cl.ACR, c.cfg.acr())
	}
	if extra.AuthTime > 0 {
		cl.AuthTime = time.Unix(extra.AuthTime, 0)
	}
	return &cl, nil
}

// Refresh exchanges a refresh token for new tokens. A refusal (invalid_grant: expired, revoked,
// session ended at PSC) matches ErrRefreshRefused. An ID token in the answer is verified (without
// nonce nor acr: the Holder checks that its subject did not change).
func (c *Client) Refresh(ctx context.Context, refresh []byte) (*Tokens, error) {
	if len(refresh) == 0 {
		return nil, fmt.Errorf("%w: no refresh token", ErrRefreshRefused)
	}
	t, err := c.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {string(refresh)}})
	if err != nil {
		return nil, err
	}
	if len(t.IDToken) > 0 {
		if t.Claims, err = c.verifyIDToken(ctx, t.IDToken, "", false); err != nil {
			t.Zero()
			return nil, err
		}
	}
	return t, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
