package psc_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/pscemu"
)

const (
	camille     = "899700000018"
	camilleMail = "camille.testard@test.mssante.fr"
	redirectURL = "http://127.0.0.1:9/callback" // never contacted: the test browser stops there
	testSecret  = "s3cret-de-test"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startEmu(t *testing.T, o pscemu.Options) *pscemu.Server {
	t.Helper()
	if o.ClientSecret == "" {
		o.ClientSecret = testSecret
	}
	s, err := pscemu.Start(context.Background(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newClient(t *testing.T, emu *pscemu.Server) *psc.Client {
	t.Helper()
	c, err := psc.New(ctxT(t), psc.Config{Issuer: emu.Issuer, DiscoveryURL: emu.DiscoveryURL(),
		ClientID: emu.ClientID(), ClientSecret: []byte(testSecret), RedirectURL: redirectURL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// browse plays the browser: it opens the login URL, clicks the professional and returns the
// callback query.
func browse(t *testing.T, loginURL, nationalID string) url.Values {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirectURL) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := hc.Get(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	m := regexp.MustCompile(`href="([^"]*pro=` + nationalID + `[^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no login link for %s in the page:\n%s", nationalID, page)
	}
	u, _ := url.Parse(loginURL)
	link, err := u.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.Get(link.String())
	if err != nil {
		t.Fatal(err)
	}
	_ = readAll(t, resp)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirectURL) {
		t.Fatalf("login click: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	return loc.Query()
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer func() { _ = resp.Body.Close() }()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// login runs the code flow for a professional.
func login(t *testing.T, c *psc.Client, nationalID string) *psc.Tokens {
	t.Helper()
	req, err := c.AuthCodeURL()
	if err != nil {
		t.Fatal(err)
	}
	q := browse(t, req.URL, nationalID)
	tok, err := c.Exchange(ctxT(t), req, q.Get("code"), q.Get("state"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// ECO.1.2.1: the access token used for XOAUTH2 comes from a PSC login, here the code flow with PKCE.
func TestCodeFlow_PKCEEndToEnd(t *testing.T) {
	emu := startEmu(t, pscemu.Options{})
	c := newClient(t, emu)
	req, err := c.AuthCodeURL()
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(req.URL)
	q := u.Query()
	for k, want := range map[string]string{"code_challenge_method": "S256", "acr_values": "eidas1",
		"scope": "openid scope_all", "response_type": "code", "client_id": "mssante-test",
		"state": req.State, "nonce": req.Nonce, "redirect_uri": redirectURL} {
		if q.Get(k) != want {
			t.Errorf("authorization URL %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if q.Get("code_challenge") == "" || strings.Contains(req.URL, req.Verifier) {
		t.Errorf("challenge missing or verifier sent: %s", req.URL)
	}
	cb := browse(t, req.URL, camille)
	tok, err := c.Exchange(ctxT(t), req, cb.Get("code"), cb.Get("state"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Claims.SubjectNameID != camille || tok.Claims.ACR != "eidas1" || tok.Claims.FamilyName != "TESTARD" {
		t.Errorf("claims %+v", tok.Claims)
	}
	if len(tok.Refresh) == 0 || time.Until(tok.Expiry) < time.Minute || time.Until(tok.RefreshExpiry) < 5*time.Minute {
		t.Errorf("tokens %v", tok)
	}
	ui, err := c.UserInfo(ctxT(t), tok.Access)
	if err != nil {
		t.Fatal(err)
	}
	if ui.SubjectNameID != camille || ui.GivenName != "Camille" || ui.Email != camilleMail ||
		!strings.Contains(string(ui.SubjectRefPro), "exercices") || ui.Raw["otherIds"] == nil {
		t.Errorf("userinfo %+v", ui)
	}
	// The code is single-use.
	if _, err := c.Exchange(ctxT(t), req, cb.Get("code"), cb.Get("state")); err == nil {
		t.Error("a code was accepted twice")
	}
}

func TestExchange_rejectsStateNonceAndVerifier(t *testing.T) {
	emu := startEmu(t, pscemu.Options{})
	c := newClient(t, emu)
	for _, tc := range []struct {
		name   string
		tamper func(r *psc.AuthRequest, state *string)
		want   error
	}{
		{"state", func(_ *psc.AuthRequest, s *string) { *s += "x" }, psc.ErrState},
		{"nonce", func(r *psc.AuthRequest, _ *string) { r.Nonce = "other" }, psc.ErrInvalidIDToken},
		{"verifier", func(r *psc.AuthRequest, _ *string) { r.Verifier = strings.Repeat("a", 43) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := c.AuthCodeURL()
			if err != nil {
				t.Fatal(err)
			}
			cb := browse(t, req.URL, camille)
			state := cb.Get("state")
			tc.tamper(req, &state)
			_, err = c.Exchange(ctxT(t), req, cb.Get("code"), state)
			var oe *psc.OAuthError
			switch {
			case err == nil:
				t.Fatal("accepted")
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("error %v, want %v", err, tc.want)
			case tc.want == nil && (!errors.As(err, &oe) || oe.Code != "invalid_grant"):
				t.Fatalf("error %v, want invalid_grant", err)
			}
		})
	}
}

func TestNew_discoveryAtPSCPathAndIssuerCheck(t *testing.T) {
	emu := startEmu(t, pscemu.Options{})
	// Default discovery URL: issuer + the PSC name.
	if _, err := psc.New(ctxT(t), psc.Config{Issuer: emu.Issuer, ClientID: "mssante-test"}); err != nil {
		t.Fatal(err)
	}
	_, err := psc.New(ctxT(t), psc.Config{Issuer: emu.Issuer + "-other", DiscoveryURL: emu.DiscoveryURL(),
		ClientID: "mssante-test"})
	if err == nil || !strings.Contains(err.Error(), "issuer") {
		t.Fatalf("issuer mismatch accepted: %v", err)
	}
	if _, err := psc.New(ctxT(t), psc.Config{Issuer: "http://psc.example.org/auth/realms/esante-wallet", ClientID: "x"}); err == nil ||
		!strings.Contains(err.Error(), "loopback") {
		t.Errorf("plain http issuer off loopback: %v", err)
	}
	for _, name := range []string{"production", "bas"} {
		cfg, err := psc.Preset(name)
		if err != nil || !strings.HasSuffix(cfg.Issuer, "/auth/realms/esante-wallet") {
			t.Errorf("preset %s: %+v %v", name, cfg, err)
		}
	}
	if _, err := psc.Preset("recette"); err == nil {
		t.Error("unknown preset accepted")
	}
}

func TestRefresh_rotatesAndRefusesOldToken(t *testing.T) {
	emu := startEmu(t, pscemu.Options{})
	c := newClient(t, emu)
	tok := login(t, c, camille)
	nt, err := c.Refresh(ctxT(t), tok.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	if string(nt.Access) == string(tok.Access) || nt.Claims == nil || nt.Claims.SubjectNameID != camille {
		t.Errorf("refresh gave %v claims %+v", nt, nt.Claims)
	}
	_, err = c.Refresh(ctxT(t), tok.Refresh)
	if !errors.Is(err, psc.ErrRefreshRefused) {
		t.Fatalf("reused refresh token: %v", err)
	}
	if strings.Contains(err.Error(), string(tok.Refresh)) {
		t.Fatal("the error shows the token")
	}
}

func TestClientAuth_wrongSecretRefused(t *testing.T) {
	emu := startEmu(t, pscemu.Options{})
	c, err := psc.New(ctxT(t), psc.Config{Issuer: emu.Issuer, ClientID: emu.ClientID(),
		ClientSecret: []byte("wrong"), RedirectURL: redirectURL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.StartCIBA(ctxT(t), psc.CIBARequest{LoginHint: camille})
	var oe *psc.OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_client" || oe.Status != http.StatusUnauthorized {
		t.Fatalf("error %v", err)
	}
}

func pendingFor(t *testing.T, emu *pscemu.Server, binding string) pscemu.Pending {
	t.Helper()
	for _, p := range emu.Pending() {
		if p.BindingMessage == binding {
			return p
		}
	}
	t.Fatalf("no pending CIBA request with binding %q", binding)
	return pscemu.Pending{}
}

func TestCIBA_approve(t *testing.T) {
	emu := startEmu(t, pscemu.Options{})
	c := newClient(t, emu)
	a, err := c.StartCIBA(ctxT(t), psc.CIBARequest{LoginHint: camille, Channel: psc.ChannelCard})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9]{2}$`).MatchString(a.BindingMessage) || a.Interval != time.Second {
		t.Errorf("auth %v", a)
	}
	p := pendingFor(t, emu, a.BindingMessage)
	if p.NationalID != camille || p.Channel != "CARD" {
		t.Errorf("pending %+v", p)
	}
	if _, err := c.PollCIBAOnce(ctxT(t), a); !errors.Is(err, psc.ErrAuthorizationPending) {
		t.Fatalf("first poll: %v", err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = emu.Approve(p.AuthReqID)
	}()
	tok, err := c.PollCIBA(ctxT(t), a)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Claims == nil || tok.Claims.SubjectNameID != camille || len(tok.Refresh) == 0 {
		t.Errorf("tokens %v claims %+v", tok, tok.Claims)
	}
}

func TestCIBA_deniedAndUnknownUser(t *testing.T) {
	emu := startEmu(t, pscemu.Options{})
	c := newClient(t, emu)
	a, err := c.StartCIBA(ctxT(t), psc.CIBARequest{LoginHint: camille, BindingMessage: "42"})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Deny(pendingFor(t, emu, "42").AuthReqID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PollCIBA(ctxT(t), a); !errors.Is(err, psc.ErrAccessDenied) {
		t.Fatalf("denied: %v", err)
	}
	_, err = c.StartCIBA(ctxT(t), psc.CIBARequest{LoginHint: "899700000999"})
	var oe *psc.OAuthError
	if !errors.As(err, &oe) || oe.Code != "unknown_user_id" {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := c.StartCIBA(ctxT(t), psc.CIBARequest{LoginHint: camille, Channel: "SMS"}); err == nil {
		t.Fatal("channel SMS accepted")
	}
}

func TestCIBA_slowDownAddsFiveSeconds(t *testing.T) {
	emu := startEmu(t, pscemu.Options{CIBAInterval: 2 * time.Second})
	c := newClient(t, emu)
	a, err := c.StartCIBA(ctxT(t), psc.CIBARequest{LoginHint: camille})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PollCIBAOnce(ctxT(t), a); !errors.Is(err, psc.ErrAuthorizationPending) {
		t.Fatalf("first poll: %v", err)
	}
	if _, err := c.PollCIBAOnce(ctxT(t), a); !errors.Is(err, psc.ErrSlowDown) {
		t.Fatalf("second poll at once: %v", err)
	}
}

func TestCIBA_expired(t *testing.T) {
	emu := startEmu(t, pscemu.Options{CIBAExpiresIn: time.Second})
	c := newClient(t, emu)
	a, err := c.StartCIBA(ctxT(t), psc.CIBARequest{LoginHint: camille})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := c.PollCIBAOnce(ctxT(t), a); !errors.Is(err, psc.ErrExpiredToken) {
		t.Fatalf("poll after expiry: %v", err)
	}
}

// ECO.1.2.6: PSC logout kills the refresh token; the Holder's next refresh is refused and the
// session ends: subscribers are told, mail sessions closed, no token given any more.
func TestLogout_refreshRefusedEndsHolder(t *testing.T) {
	emu := startEmu(t, pscemu.Options{})
	c := newClient(t, emu)
	tok := login(t, c, camille)
	logoutCopy := &psc.Tokens{Refresh: append([]byte(nil), tok.Refresh...)}
	h := psc.NewHolder(tok, c, nil)
	events := h.Subscribe()
	mail := &fakeMail{closed: make(chan struct{})}
	h.Register(mail)
	if err := c.Logout(ctxT(t), logoutCopy); err != nil {
		t.Fatal(err)
	}
	if err := h.Refresh(ctxT(t)); !errors.Is(err, psc.ErrSessionEnded) {
		t.Fatalf("refresh after logout: %v", err)
	}
	ev := <-events
	if ev.Kind != psc.EventSessionEnded || ev.Reason != psc.ReasonRefreshRefused {
		t.Errorf("event %+v", ev)
	}
	if _, ok := <-events; ok {
		t.Error("channel still open after session-ended")
	}
	select {
	case <-mail.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("mail session not closed")
	}
	if _, err := h.Token(ctxT(t)); !errors.Is(err, psc.ErrSessionEnded) {
		t.Errorf("Token after end: %v", err)
	}
}

// Holder.Logout ends the session at PSC: the emulator's introspection then says inactive.
func TestHolderLogout_endsAtPSC(t *testing.T) {
	emu := startEmu(t, pscemu.Options{})
	c := newClient(t, emu)
	tok := login(t, c, camille)
	access := append([]byte(nil), tok.Access...)
	if !introspectActive(t, emu, access) {
		t.Fatal("fresh access token inactive")
	}
	h := psc.NewHolder(tok, c, nil)
	if err := h.Logout(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if h.Reason() != psc.ReasonLogout || introspectActive(t, emu, access) {
		t.Errorf("reason %q, still active at PSC", h.Reason())
	}
}

func introspectActive(t *testing.T, emu *pscemu.Server, token []byte) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, emu.URL+pscemu.RealmPath+"/protocol/openid-connect/token/introspect",
		strings.NewReader(url.Values{"token": {string(token)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(emu.ClientID(), testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	active := strings.Contains(body, `"active":true`)
	if active && !strings.Contains(body, `"SubjectNameID":"`+camille+`"`) {
		t.Errorf("introspection of an access token without SubjectNameID: %s", body)
	}
	return active
}

type fakeMail struct{ closed chan struct{} }

func (m *fakeMail) Close() error { close(m.closed); return nil }
