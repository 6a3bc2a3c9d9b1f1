package pscemu_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mssante/mssante/internal/pscemu"
)

const (
	camille  = "899700000018"
	redirect = "http://127.0.0.1:9/cb"
	secret   = "emu-secret"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func start(t *testing.T, o pscemu.Options) *pscemu.Server {
	t.Helper()
	o.ClientSecret = secret
	s, err := pscemu.Start(context.Background(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func post(t *testing.T, u string, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth("mssante-test", secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

func oc(s *pscemu.Server, p string) string {
	return s.URL + pscemu.RealmPath + "/protocol/openid-connect" + p
}

// codeLogin runs the code flow and returns the token answer.
func codeLogin(t *testing.T, s *pscemu.Server) map[string]any {
	t.Helper()
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {"mssante-test"}, "redirect_uri": {redirect},
		"scope": {"openid scope_all"}, "state": {"st"}, "nonce": {"no"}, "acr_values": {"eidas1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	_, page := get(t, s.URL+"/wallet/auth?"+q.Encode())
	m := regexp.MustCompile(`href="([^"]*pro=` + camille + `[^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("login page:\n%s", page)
	}
	resp, _ := get(t, s.URL+html.UnescapeString(m[1]))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Query().Get("state") != "st" || loc.Query().Get("code") == "" {
		t.Fatalf("callback %q", resp.Header.Get("Location"))
	}
	status, tok := post(t, oc(s, "/token"), url.Values{"grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}}, true)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	return tok
}

func TestDiscoveryAndLoginPage(t *testing.T) {
	s := start(t, pscemu.Options{})
	resp, body := get(t, s.DiscoveryURL())
	var d map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &d) != nil {
		t.Fatalf("discovery: %s %s", resp.Status, body)
	}
	if d["issuer"] != s.Issuer || !strings.HasSuffix(s.DiscoveryURL(), "/auth/realms/esante-wallet/.well-known/wallet-openid-configuration") ||
		d["backchannel_authentication_endpoint"] == nil || d["introspection_endpoint"] == nil {
		t.Errorf("discovery %v", d)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"mssante-test"}, "redirect_uri": {redirect},
		"scope": {"openid"}, "code_challenge": {"x"}, "code_challenge_method": {"S256"}}
	_, page := get(t, s.URL+"/wallet/auth?"+q.Encode())
	for _, p := range pscemu.DefaultProfessionals {
		for _, want := range append([]string{p.NationalID, p.FamilyName}, p.Mailboxes...) {
			if !strings.Contains(page, html.EscapeString(want)) {
				t.Errorf("login page lacks %q", want)
			}
		}
	}
	// PKCE is required.
	q.Del("code_challenge")
	resp, _ = get(t, s.URL+"/wallet/auth?"+q.Encode())
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "error=invalid_request") {
		t.Errorf("no PKCE: %s %q", resp.Status, loc)
	}
}

// The access token is an RS256 JWT verifiable with the JWKS, with the claims an operator uses.
func TestAccessTokenClaimsAndIntrospection(t *testing.T) {
	s := start(t, pscemu.Options{})
	tok := codeLogin(t, s)
	_, jwksBody := get(t, oc(s, "/certs"))
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(jwksBody), &jwks); err != nil || len(jwks.Keys) != 1 || jwks.Keys[0].KeyID != "k1" {
		t.Fatalf("jwks %s", jwksBody)
	}
	parsed, err := jwt.ParseSigned(tok["access_token"].(string), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := parsed.Claims(jwks.Keys[0].Key, &c); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"SubjectNameID": camille, "email": "camille.testard@test.mssante.fr",
		"acr": "eidas1", "azp": "mssante-test", "iss": s.Issuer, "preferred_username": camille} {
		if c[k] != want {
			t.Errorf("claim %s = %v, want %v", k, c[k], want)
		}
	}
	if tok["expires_in"].(float64) != 120 || tok["refresh_expires_in"].(float64) != 350 {
		t.Errorf("lifetimes %v %v", tok["expires_in"], tok["refresh_expires_in"])
	}
	_, in := post(t, oc(s, "/token/introspect"), url.Values{"token": {tok["access_token"].(string)}}, true)
	if in["active"] != true || in["SubjectNameID"] != camille {
		t.Errorf("introspection of the access token %v", in)
	}
	_, in = post(t, oc(s, "/token/introspect"), url.Values{"token": {tok["refresh_token"].(string)}}, true)
	if in["active"] != true || in["SubjectNameID"] != nil {
		t.Errorf("introspection of the refresh token %v", in)
	}
	if status, _ := post(t, oc(s, "/token/introspect"), url.Values{"token": {"x"}}, false); status != http.StatusUnauthorized {
		t.Errorf("introspection without client auth: %d", status)
	}
}

// Refresh tokens rotate, expire when idle and stop at the maximum session lifetime.
func TestRefreshLifetimes(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := start(t, pscemu.Options{Now: clk.Now, RefreshTTL: time.Minute, SessionMax: 3 * time.Minute})
	refresh := func(rt string) (int, map[string]any) {
		return post(t, oc(s, "/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, true)
	}
	tok := codeLogin(t, s)
	rt := tok["refresh_token"].(string)
	for i := 0; i < 3; i++ {
		clk.Advance(50 * time.Second)
		status, nt := refresh(rt)
		if status != http.StatusOK {
			t.Fatalf("refresh %d: %d %v", i, status, nt)
		}
		if status, _ := refresh(rt); status != http.StatusBadRequest {
			t.Fatalf("a used refresh token was accepted again")
		}
		rt = nt["refresh_token"].(string)
	}
	clk.Advance(31 * time.Second) // 181 s after login: past SessionMax
	if status, v := refresh(rt); status != http.StatusBadRequest || v["error"] != "invalid_grant" {
		t.Fatalf("refresh after the maximum session lifetime: %d %v", status, v)
	}
	tok = codeLogin(t, s)
	clk.Advance(61 * time.Second)
	if status, _ := refresh(tok["refresh_token"].(string)); status != http.StatusBadRequest {
		t.Fatal("idle refresh token accepted")
	}
}

// The sandbox page lists pending CIBA requests and approves them over HTTP.
func TestSandboxCIBAPage(t *testing.T) {
	s := start(t, pscemu.Options{})
	status, a := post(t, oc(s, "/ext/ciba/auth"), url.Values{"scope": {"openid scope_all"}, "login_hint": {camille},
		"binding_message": {"07"}, "channel": {"MOBILE"}, "acr_values": {"eidas1"}}, true)
	if status != http.StatusOK {
		t.Fatalf("ciba: %d %v", status, a)
	}
	_, page := get(t, s.URL+"/sandbox/ciba")
	if !strings.Contains(page, camille) || !strings.Contains(page, "<strong>07</strong>") {
		t.Fatalf("sandbox page:\n%s", page)
	}
	id := a["auth_req_id"].(string)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/sandbox/ciba/"+url.PathEscape(id)+"/approve", nil)
	resp, err := noFollow.Do(req)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	status, tok := post(t, oc(s, "/token"), url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {id}}, true)
	if status != http.StatusOK || tok["access_token"] == nil {
		t.Fatalf("poll after approval: %d %v", status, tok)
	}
	if len(s.Pending()) != 0 {
		t.Error("request still pending")
	}
}

// FuzzTokenEndpoint posts arbitrary forms: the emulator answers JSON with 200, 400 or 401, never
// panics.
func FuzzTokenEndpoint(f *testing.F) {
	s, err := pscemu.Start(context.Background(), &pscemu.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	h := s.Handler()
	f.Add("grant_type=refresh_token&refresh_token=x&client_id=mssante-test")
	f.Add("grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba&auth_req_id=&client_id=mssante-test")
	f.Add("grant_type=authorization_code&code=%00&code_verifier=&client_id=mssante-test")
	f.Add("client_id=mssante-test&grant_type=password")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, form string) {
		req := httptest.NewRequest(http.MethodPost, pscemu.RealmPath+"/protocol/openid-connect/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 && w.Code != 400 && w.Code != 401 {
			t.Fatalf("status %d for %q", w.Code, form)
		}
		if w.Code == 200 && !strings.Contains(form, "mssante-test") {
			t.Fatalf("tokens without client id: %q", form)
		}
	})
}
