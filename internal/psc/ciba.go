package psc

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Channel is where PSC sends a CIBA request: the professional's CPS card or the e-CPS mobile app.
// PSC names the parameter "channel".
type Channel string

// The two CIBA channels of PSC.
const (
	ChannelCard   Channel = "CARD"
	ChannelMobile Channel = "MOBILE"
)

// GrantCIBA is the grant type of the CIBA token poll.
const GrantCIBA = "urn:openid:params:grant-type:ciba"

// SlowDownStep is added to the poll interval at each slow_down answer (CIBA Core section 11).
const SlowDownStep = 5 * time.Second

// CIBARequest starts a decoupled login.
type CIBARequest struct {
	// LoginHint is the professional's national id (RPPS-based IDNPS) (required).
	LoginHint string
	// Channel is CARD or MOBILE (default MOBILE).
	Channel Channel
	// BindingMessage is shown both on the device and by mssante. Default: a random two-digit
	// number "00"–"99", as PSC expects.
	BindingMessage string
}

// CIBAAuth is a pending decoupled login.
type CIBAAuth struct {
	AuthReqID      string        // secret of the pending login; do not log
	BindingMessage string        // show it to the professional
	Interval       time.Duration // minimum time between two polls
	Expires        time.Time
}

// String hides the auth_req_id.
func (a CIBAAuth) String() string {
	return fmt.Sprintf("psc.CIBAAuth{binding: %s, interval: %s}", a.BindingMessage, a.Interval)
}

// StartCIBA sends the backchannel authentication request (login_hint, binding_message, channel,
// acr_values, scope), authenticated with client_secret_basic or mutual TLS.
func (c *Client) StartCIBA(ctx context.Context, r CIBARequest) (*CIBAAuth, error) {
	if c.meta.BackchannelEndpoint == "" {
		return nil, ErrCIBAUnsupported
	}
	if r.LoginHint == "" {
		return nil, errors.New("psc: ciba: login hint (national id) is required")
	}
	if r.Channel == "" {
		r.Channel = ChannelMobile
	}
	if r.Channel != ChannelCard && r.Channel != ChannelMobile {
		return nil, fmt.Errorf("psc: ciba: channel %q, want CARD or MOBILE", r.Channel)
	}
	if r.BindingMessage == "" {
		n, err := rand.Int(rand.Reader, big.NewInt(100))
		if err != nil {
			return nil, fmt.Errorf("psc: ciba: %w", err)
		}
		r.BindingMessage = fmt.Sprintf("%02d", n.Int64())
	}
	form := url.Values{
		"scope":           {strings.Join(c.cfg.scopes(), " ")},
		"acr_values":      {c.cfg.acr()},
		"login_hint":      {r.LoginHint},
		"binding_message": {r.BindingMessage},
		"channel":         {string(r.Channel)},
	}
	body, status, err := c.postForm(ctx, c.meta.BackchannelEndpoint, form)
	if err != nil {
		return nil, fmt.Errorf("psc: ciba: %w", err)
	}
	if status != http.StatusOK {
		return nil, decodeError("ciba", status, body)
	}
	var v struct {
		AuthReqID string `json:"auth_req_id"`
		ExpiresIn int64  `json:"expires_in"`
		Interval  int64  `json:"interval"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.AuthReqID == "" || v.ExpiresIn <= 0 {
		return nil, errors.New("psc: ciba: invalid answer (auth_req_id, expires_in)")
	}
	if v.Interval <= 0 {
		v.Interval = 5 // CIBA Core section 7.3 default
	}
	return &CIBAAuth{AuthReqID: v.AuthReqID, BindingMessage: r.BindingMessage,
		Interval: time.Duration(v.Interval) * time.Second,
		Expires:  c.cfg.now().Add(time.Duration(v.ExpiresIn) * time.Second)}, nil
}

// PollCIBAOnce asks the token endpoint once. While the professional has not answered, the error
// matches ErrAuthorizationPending (or ErrSlowDown); ErrExpiredToken and ErrAccessDenied are final.
func (c *Client) PollCIBAOnce(ctx context.Context, a *CIBAAuth) (*Tokens, error) {
	t, err := c.token(ctx, url.Values{"grant_type": {GrantCIBA}, "auth_req_id": {a.AuthReqID}})
	if err != nil {
		return nil, err
	}
	if len(t.IDToken) > 0 {
		if t.Claims, err = c.VerifyIDToken(ctx, t.IDToken, ""); err != nil {
			t.Zero()
			return nil, err
		}
	}
	return t, nil
}

// PollCIBA polls until the professional answers, the request expires or ctx ends. It waits
// a.Interval between polls and adds SlowDownStep to it at each slow_down (a.Interval is updated).
func (c *Client) PollCIBA(ctx context.Context, a *CIBAAuth) (*Tokens, error) {
	for {
		if err := c.sleep(ctx, a.Interval); err != nil {
			return nil, err
		}
		t, err := c.PollCIBAOnce(ctx, a)
		switch {
		case err == nil:
			return t, nil
		case errors.Is(err, ErrSlowDown):
			a.Interval += SlowDownStep
		case errors.Is(err, ErrAuthorizationPending):
		default:
			return nil, err
		}
		if !c.cfg.now().Before(a.Expires) {
			return nil, ErrExpiredToken
		}
	}
}
