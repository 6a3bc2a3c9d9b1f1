package oidcinterop_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/server"
)

const genericSubject = "5f0c7d1e-qa-camille"

// genericLoginConsent is a login and consent application that behaves like a plain OpenID Connect
// deployment, not like PSC: it sets no acr (Hydra then reports "0"), the subject is a UUID-like
// id, and the claims carry no SubjectNameID, only preferred_username, names and email.
func genericLoginConsent(t *testing.T, h **hydra) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		(*h).call(t, http.MethodPut, "/admin/oauth2/auth/requests/login/accept?login_challenge="+
			url.QueryEscape(r.URL.Query().Get("login_challenge")), map[string]any{"subject": genericSubject}, &out)
		http.Redirect(w, r, out.RedirectTo, http.StatusFound)
	})
	mux.HandleFunc("/consent", func(w http.ResponseWriter, r *http.Request) {
		ch := url.QueryEscape(r.URL.Query().Get("consent_challenge"))
		var req struct {
			RequestedScope    []string `json:"requested_scope"`
			RequestedAudience []string `json:"requested_access_token_audience"`
		}
		(*h).call(t, http.MethodGet, "/admin/oauth2/auth/requests/consent?consent_challenge="+ch, nil, &req)
		claims := map[string]any{"preferred_username": nationalID, "given_name": "Camille", "family_name": "TESTARD",
			"email": "camille.testard@test.mssante.fr"}
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		(*h).call(t, http.MethodPut, "/admin/oauth2/auth/requests/consent/accept?consent_challenge="+ch,
			map[string]any{"grant_scope": req.RequestedScope, "grant_access_token_audience": req.RequestedAudience,
				"session": map[string]any{"id_token": claims, "access_token": claims}}, &out)
		http.Redirect(w, r, out.RedirectTo, http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// QA issue 4, with Hydra as a generic provider (not the emulator) behind the intermediate server:
// discovery from the issuer alone (standard name), an ID token without acr eidas1 refused by
// default and accepted with AnyACR, the national id taken from preferred_username when
// SubjectNameID is absent, mailboxes from email, a refresh token thanks to offline_access chosen
// from the discovery document, renewals, and a revocation at the provider ending the session
// within one refresh interval (ECO.1.2.6): the thick client's event stream says session-ended.
func TestHydra_genericProviderThroughServer(t *testing.T) {
	var h *hydra
	app := genericLoginConsent(t, &h)
	const ttl = 6 * time.Second
	h = startHydra(t, app.URL, "TTL_ACCESS_TOKEN=6s")

	var handler http.Handler = http.NotFoundHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	defer ts.Close()
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	h.call(t, http.MethodPost, "/admin/clients", map[string]any{
		"client_name": "mssante-generic", "client_secret": "generic-secret-0123456789",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"scope": "openid offline_access", "redirect_uris": []string{ts.URL + "/auth/callback"},
		"token_endpoint_auth_method": "client_secret_basic",
	}, &client)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := psc.Config{Issuer: h.public, ClientID: client.ClientID, ClientSecret: []byte(client.ClientSecret),
		RedirectURL: ts.URL + "/auth/callback", ScopesFromDiscovery: true}

	// Default: the acr Hydra reports ("0") is refused.
	strict, err := psc.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strict.Scopes(), " "); got != "openid offline_access" {
		t.Fatalf("scopes %q", got)
	}
	req, _ := strict.AuthCodeURL()
	handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}) // the callback
	cb := browseTo(t, req.URL, ts.URL+"/auth/callback")
	if _, err := strict.Exchange(ctx, req, cb.Get("code"), cb.Get("state")); !errors.Is(err, psc.ErrInvalidIDToken) ||
		!strings.Contains(err.Error(), "acr") {
		t.Fatalf("exchange with acr 0: %v", err)
	}

	cfg.AnyACR = true
	c, err := psc.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedLog{}
	srv, err := server.New(server.Options{PSC: c, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	handler = srv.Handler()

	// A thick client logs in through a browser (device code), then follows the events.
	var start struct {
		Handle   string `json:"handle"`
		UserCode string `json:"user_code"`
	}
	postJSON(t, ts.URL+"/auth/device/start", "", &start)
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := b.PostForm(ts.URL+"/auth/device", url.Values{"user_code": {start.UserCode}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Connexion réussie") {
		t.Fatalf("device login page:\n%s\nlogs:\n%s", page, logs.String())
	}
	var poll struct {
		Status  string `json:"status"`
		Session string `json:"session"`
	}
	postJSON(t, ts.URL+"/auth/device/poll", start.Handle, &poll)
	if poll.Status != "ok" || poll.Session == "" {
		t.Fatalf("poll %+v", poll)
	}
	var me server.Professional
	getJSON(t, ts.URL+"/api/v1/me", poll.Session, &me)
	if me.NationalID != nationalID || len(me.Mailboxes) != 1 || me.Mailboxes[0] != "camille.testard@test.mssante.fr" {
		t.Fatalf("me = %+v", me)
	}
	if strings.Contains(logs.String(), "no refresh token") {
		t.Fatal("no refresh token from Hydra")
	}

	events := make(chan string, 16)
	go func() {
		defer close(events)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+poll.Session)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			for _, line := range strings.Split(string(buf[:n]), "\n") {
				if data, ok := strings.CutPrefix(line, "data: "); ok {
					var ev struct{ Kind, Reason string }
					if json.Unmarshal([]byte(data), &ev) == nil {
						events <- ev.Kind + " " + ev.Reason
					}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	wait := func(prefix string, within time.Duration) {
		t.Helper()
		timeout := time.After(within)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("event stream closed before %s", prefix)
				}
				if strings.HasPrefix(ev, prefix) {
					return
				}
			case <-timeout:
				t.Fatalf("no %s event within %s\nlogs:\n%s", prefix, within, logs.String())
			}
		}
	}
	wait("token-renewed", 2*ttl)

	// The provider revokes the professional's grants (the refresh token with them).
	revoked := time.Now()
	req2, _ := http.NewRequest(http.MethodDelete, h.admin+"/admin/oauth2/auth/sessions/consent?subject="+genericSubject+"&all=true", nil)
	if resp, err := http.DefaultClient.Do(req2); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke consent: %v %v", resp, err)
	}
	wait("session-ended refresh-refused", 2*ttl)
	d := time.Since(revoked)
	t.Logf("session ended %s after the revocation at Hydra (access token lifetime %s)", d.Round(time.Millisecond), ttl)
	if d > ttl {
		t.Errorf("session ended %s after the revocation: more than one refresh interval", d)
	}
}

// browseTo follows the redirects of a login like a browser up to the callback prefix.
func browseTo(t *testing.T, start, callback string) url.Values {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var cb *url.URL
	hc := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), callback) {
			cb = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := hc.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if cb == nil {
		t.Fatalf("login did not reach the callback: %s %s", resp.Status, resp.Request.URL)
	}
	return cb.Query()
}

func postJSON(t *testing.T, u, bearer string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	do(t, req, out)
}

func getJSON(t *testing.T, u, bearer string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	do(t, req, out)
}

func do(t *testing.T, req *http.Request, out any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("%s %s: %s %s", req.Method, req.URL, resp.Status, body)
	}
}
