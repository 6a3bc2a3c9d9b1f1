package oidcinterop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/testkit"
)

const (
	nationalID  = "899700000018"
	redirectURL = "http://127.0.0.1:9/callback"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// buildHydra builds the Hydra tool of testdata/hydra (cached by the Go build cache after the first
// time).
// scripts/test.sh builds it once before the tests and names it in MSSANTE_HYDRA, so that the long
// cold build shows as its own step rather than inside a test's time.
func buildHydra(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("MSSANTE_HYDRA"); bin != "" {
		return testkit.RequireFile(t, bin)
	}
	goBin := testkit.LookPath(t, "go")
	testkit.LookPath(t, "gcc") // go-sqlite3 needs cgo
	bin := filepath.Join(t.TempDir(), "hydra")
	cmd := exec.Command(goBin, "build", "-tags", "sqlite", "-o", bin, "github.com/ory/hydra/v2")
	cmd.Dir = filepath.Join(testkit.ModuleRoot(t), "internal", "psc", "oidcinterop", "testdata", "hydra")
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=1")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building hydra: %v\n%s", err, out)
	}
	t.Logf("hydra built in %s", time.Since(start).Round(time.Second))
	return bin
}

type hydra struct {
	public, admin string
	logs          string
}

// startHydra runs Hydra with an in-memory database; loginApp answers its login and consent
// redirects. env entries (KEY=value) override the defaults.
func startHydra(t *testing.T, loginApp string, env ...string) *hydra {
	bin := buildHydra(t)
	pub, adm := freePort(t), freePort(t)
	h := &hydra{public: fmt.Sprintf("http://127.0.0.1:%d", pub), admin: fmt.Sprintf("http://127.0.0.1:%d", adm),
		logs: filepath.Join(t.TempDir(), "hydra.log")}
	logf, err := os.Create(h.logs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "all", "--dev")
	cmd.Env = append(os.Environ(), "DSN=memory", "LOG_LEVEL=warn", "URLS_SELF_ISSUER="+h.public,
		"URLS_LOGIN="+loginApp+"/login", "URLS_CONSENT="+loginApp+"/consent",
		fmt.Sprintf("SERVE_PUBLIC_PORT=%d", pub), fmt.Sprintf("SERVE_ADMIN_PORT=%d", adm),
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_ADMIN_HOST=127.0.0.1",
		"SECRETS_SYSTEM="+fmt.Sprintf("%x", time.Now().UnixNano())+"-interop-system-secret",
		"OAUTH2_PKCE_ENFORCED=true", "TTL_ACCESS_TOKEN=2m",
		"SQA_OPT_OUT=true")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		_ = logf.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(h.admin + "/health/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return h
			}
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(h.logs)
			t.Fatalf("hydra not ready: %v\n%s", err, data)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// call sends a JSON request to Hydra's admin API and decodes the answer into out.
func (h *hydra) call(t *testing.T, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		data, _ := json.Marshal(in)
		body = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, h.admin+path, body)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("hydra admin %s %s: %s\n%s", method, path, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// loginConsent is the login and consent application: it logs in the test professional with acr
// eidas1 and grants the requested scopes, with PSC's SubjectNameID claim.
func loginConsent(t *testing.T, h **hydra) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		(*h).call(t, http.MethodPut, "/admin/oauth2/auth/requests/login/accept?login_challenge="+
			url.QueryEscape(r.URL.Query().Get("login_challenge")),
			map[string]any{"subject": nationalID, "acr": psc.ACREidas1}, &out)
		http.Redirect(w, r, out.RedirectTo, http.StatusFound)
	})
	mux.HandleFunc("/consent", func(w http.ResponseWriter, r *http.Request) {
		ch := url.QueryEscape(r.URL.Query().Get("consent_challenge"))
		var req struct {
			RequestedScope    []string `json:"requested_scope"`
			RequestedAudience []string `json:"requested_access_token_audience"`
		}
		(*h).call(t, http.MethodGet, "/admin/oauth2/auth/requests/consent?consent_challenge="+ch, nil, &req)
		claims := map[string]any{"SubjectNameID": nationalID, "given_name": "Camille", "family_name": "TESTARD"}
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

// browse follows the redirects of a login like a browser (cookies included) up to the callback.
func browse(t *testing.T, start string) url.Values {
	t.Helper()
	return browseTo(t, start, redirectURL)
}

// Code + PKCE, ID token verification, userinfo, refresh and logout (revocation) of the PSC client
// against Hydra. ECO.1.2.1 (the token comes from an OpenID Connect login), ECO.1.2.6 (a revoked
// refresh token ends the Holder's session).
func TestHydra_codePKCERefreshLogout(t *testing.T) {
	var h *hydra
	app := loginConsent(t, &h)
	h = startHydra(t, app.URL)
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	h.call(t, http.MethodPost, "/admin/clients", map[string]any{
		"client_name": "mssante-interop", "client_secret": "interop-secret-0123456789",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"scope": "openid offline_access scope_all", "redirect_uris": []string{redirectURL},
		"token_endpoint_auth_method": "client_secret_basic",
	}, &client)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := psc.New(ctx, psc.Config{Issuer: h.public, DiscoveryURL: h.public + "/.well-known/openid-configuration",
		ClientID: client.ClientID, ClientSecret: []byte(client.ClientSecret), RedirectURL: redirectURL,
		Scopes: []string{"openid", "offline_access", "scope_all"}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.AuthCodeURL()
	if err != nil {
		t.Fatal(err)
	}
	// PKCE is enforced by Hydra: without the verifier the exchange fails.
	cb := browse(t, req.URL)
	noPKCE := *req
	noPKCE.Verifier = strings.Repeat("x", 43)
	if _, err := c.Exchange(ctx, &noPKCE, cb.Get("code"), cb.Get("state")); err == nil {
		t.Fatal("exchange with a wrong PKCE verifier accepted")
	}
	req, _ = c.AuthCodeURL()
	cb = browse(t, req.URL)
	tok, err := c.Exchange(ctx, req, cb.Get("code"), cb.Get("state"))
	if err != nil {
		data, _ := os.ReadFile(h.logs)
		t.Fatalf("exchange: %v\n%s", err, data)
	}
	if tok.Claims.SubjectNameID != nationalID || tok.Claims.ACR != "eidas1" || len(tok.Refresh) == 0 {
		t.Fatalf("claims %+v, tokens %v", tok.Claims, tok)
	}
	ui, err := c.UserInfo(ctx, tok.Access)
	if err != nil || ui.Subject != nationalID {
		t.Fatalf("userinfo %+v, %v", ui, err)
	}

	old := append([]byte(nil), tok.Refresh...)
	holder := psc.NewHolder(tok, c, nil)
	events := holder.Subscribe()
	if err := holder.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if ev := <-events; ev.Kind != psc.EventTokenRenewed {
		t.Fatalf("event %+v", ev)
	}
	access, err := holder.Token(ctx)
	if err != nil || !h.active(t, access) {
		t.Fatalf("renewed access token: %v, active %t", err, err == nil && h.active(t, access))
	}
	// Logout revokes the refresh token at Hydra; the old one was already rotated away.
	if err := holder.Logout(ctx); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if ev := <-events; ev.Kind != psc.EventSessionEnded || ev.Reason != psc.ReasonLogout {
		t.Fatalf("event %+v", ev)
	}
	if h.active(t, access) {
		t.Error("access token still active at Hydra after logout (refresh token revocation)")
	}
	if _, err := c.Refresh(ctx, old); !errors.Is(err, psc.ErrRefreshRefused) {
		t.Fatalf("refresh with the rotated token: %v", err)
	}
}

// active introspects a token at Hydra's admin API.
func (h *hydra) active(t *testing.T, token string) bool {
	t.Helper()
	resp, err := http.PostForm(h.admin+"/admin/oauth2/introspect", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var v struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v.Active
}
