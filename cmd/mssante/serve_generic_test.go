package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// QA issue 4: `serve --psc-issuer` of a provider that is not PSC (standard discovery name only,
// no CIBA) starts: discovery falls back to /.well-known/openid-configuration, the scopes come from
// the provider's list (offline_access for refresh tokens), the log says what was chosen;
// --psc-any-acr is logged as a relaxation and refused with the production PSC; a thick client
// asking for CIBA is told it is not offered (exit 1, French message), not that PSC refused.
func TestServe_genericProvider(t *testing.T) {
	var ts *httptest.Server
	ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": ts.URL, "authorization_endpoint": ts.URL + "/oauth2/auth",
			"token_endpoint": ts.URL + "/oauth2/token", "jwks_uri": ts.URL + "/jwks.json",
			"scopes_supported": []string{"openid", "offline", "offline_access"}})
	}))
	defer ts.Close()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	writeTestFile(t, secret, []byte("generic-secret\n"))
	s := startServe(t, "--listen", "127.0.0.1:0", "--psc-issuer", ts.URL, "--psc-client-id", "mssante",
		"--psc-client-secret-file", secret, "--psc-any-acr", "--psc-mailbox-claim", "email", "--data-dir", dir)
	logs := s.stderr.String()
	for _, want := range []string{`"psc_discovery":"` + ts.URL + `/.well-known/openid-configuration"`,
		`"psc_scopes":"openid offline_access"`, `"psc_ciba":false`, "acr check off"} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve log lacks %s:\n%s", want, logs)
		}
	}
	_, errOut, code := runMain(t, "login", "--server", s.ready.URL, "--national-id", "899700000018",
		"--runtime-dir", filepath.Join(dir, "run"))
	if code != 1 || !strings.Contains(errOut, "ciba_unsupported") || !strings.Contains(errOut, "navigateur") {
		t.Fatalf("login by CIBA at a provider without CIBA: exit %d %s", code, errOut)
	}

	if _, errOut, code := runMain(t, "serve", "--listen", "127.0.0.1:0", "--psc", "production", "--psc-client-id", "mssante",
		"--psc-client-secret-file", secret, "--psc-any-acr", "--data-dir", dir); code != 2 || !strings.Contains(errOut, "eidas1") {
		t.Fatalf("--psc-any-acr with production: exit %d %s", code, errOut)
	}
}
