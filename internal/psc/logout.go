package psc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Logout ends the professional's session at PSC: it revokes the refresh token at the revocation
// endpoint (RFC 7009) and posts it to the end_session endpoint (Keycloak's back-channel logout),
// each when the discovery document advertises it. It succeeds when one of them does: after it, a
// refresh is refused. The tokens are not zeroed: the caller (the Holder) does it.
func (c *Client) Logout(ctx context.Context, t *Tokens) error {
	if t == nil || len(t.Refresh) == 0 {
		return errors.New("psc: logout: no refresh token")
	}
	if c.meta.EndSessionEndpoint == "" && c.meta.RevocationEndpoint == "" {
		return errors.New("psc: logout: no end_session or revocation endpoint")
	}
	var errs []error
	ok := false
	if ep := c.meta.RevocationEndpoint; ep != "" {
		err := c.postOK(ctx, "revoke", ep,
			url.Values{"token": {string(t.Refresh)}, "token_type_hint": {"refresh_token"}})
		ok = ok || err == nil
		errs = append(errs, err)
	}
	if ep := c.meta.EndSessionEndpoint; ep != "" {
		form := url.Values{"refresh_token": {string(t.Refresh)}}
		if len(t.IDToken) > 0 {
			form.Set("id_token_hint", string(t.IDToken))
		}
		err := c.postOK(ctx, "logout", ep, form)
		ok = ok || err == nil
		errs = append(errs, err)
	}
	if ok {
		return nil
	}
	return errors.Join(errs...)
}

func (c *Client) postOK(ctx context.Context, name, endpoint string, form url.Values) error {
	body, status, err := c.postForm(ctx, endpoint, form)
	if err != nil {
		return fmt.Errorf("psc: %s: %w", name, err)
	}
	if status != http.StatusOK && status != http.StatusNoContent {
		return decodeError(name, status, body)
	}
	return nil
}
