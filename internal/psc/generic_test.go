package psc_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/psc"
)

// genericProvider serves a discovery document at the standard name only, as Hydra does.
func genericProvider(t *testing.T, scopes []string) *httptest.Server {
	t.Helper()
	var ts *httptest.Server
	ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != psc.StandardDiscoveryPath {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": ts.URL, "authorization_endpoint": ts.URL + "/oauth2/auth",
			"token_endpoint": ts.URL + "/oauth2/token", "jwks_uri": ts.URL + "/jwks.json", "scopes_supported": scopes})
	}))
	t.Cleanup(ts.Close)
	return ts
}

// QA issue 4: with only an issuer, a provider that does not serve PSC's wallet-openid-configuration
// is discovered at the standard name; the scopes of a generic provider come from its discovery
// document (offline_access for a refresh token, scope_all only when listed); CIBA is reported as
// unsupported.
func TestNew_genericProviderDiscoveryAndScopes(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		supported, want []string
	}{
		{[]string{"openid", "offline", "offline_access"}, []string{"openid", "offline_access"}},
		{[]string{"openid", "scope_all", "offline_access"}, []string{"openid", "scope_all", "offline_access"}},
		{[]string{"openid", "offline_access", "email", "roles", "profile"}, []string{"openid", "profile", "email", "offline_access"}},
		{nil, []string{"openid", "scope_all"}},
	} {
		ts := genericProvider(t, c.supported)
		cl, err := psc.New(ctx, psc.Config{Issuer: ts.URL, ClientID: "c", ScopesFromDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		if cl.DiscoveryURL() != ts.URL+psc.StandardDiscoveryPath {
			t.Errorf("discovered at %s", cl.DiscoveryURL())
		}
		if got := cl.Scopes(); !slices.Equal(got, c.want) {
			t.Errorf("scopes for %v: %v, want %v", c.supported, got, c.want)
		}
		if _, err := cl.StartCIBA(ctx, psc.CIBARequest{LoginHint: "899700000018"}); !errors.Is(err, psc.ErrCIBAUnsupported) {
			t.Errorf("StartCIBA: %v", err)
		}
	}
	// Without ScopesFromDiscovery (PSC), the default scopes stay.
	ts := genericProvider(t, []string{"openid", "offline_access"})
	cl, err := psc.New(ctx, psc.Config{Issuer: ts.URL, ClientID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cl.Scopes(), psc.DefaultScopes) {
		t.Errorf("scopes %v", cl.Scopes())
	}
	// An explicit discovery URL is not second-guessed; a 404 names the URL.
	_, err = psc.New(ctx, psc.Config{Issuer: ts.URL, ClientID: "c", DiscoveryURL: ts.URL + "/nope"})
	if err == nil || !strings.Contains(err.Error(), ts.URL+"/nope") || !strings.Contains(err.Error(), "404") {
		t.Errorf("explicit discovery URL 404: %v", err)
	}
	// The issuer given with a trailing slash that the provider does not write is the same issuer.
	cl, err = psc.New(ctx, psc.Config{Issuer: ts.URL + "/", ClientID: "c"})
	if err != nil || cl.Config().Issuer != ts.URL {
		t.Errorf("issuer with a trailing slash: %v", err)
	}
	// Another issuer is refused, and the message names both.
	_, err = psc.New(ctx, psc.Config{Issuer: ts.URL + "/realms/x", ClientID: "c", DiscoveryURL: ts.URL + psc.StandardDiscoveryPath})
	if err == nil || !strings.Contains(err.Error(), ts.URL+"/realms/x") {
		t.Errorf("other issuer: %v", err)
	}
	// Neither name: both are named.
	none := httptest.NewServer(http.NotFoundHandler())
	defer none.Close()
	_, err = psc.New(ctx, psc.Config{Issuer: none.URL, ClientID: "c"})
	if err == nil || !strings.Contains(err.Error(), psc.DiscoveryPath) || !strings.Contains(err.Error(), psc.StandardDiscoveryPath) {
		t.Errorf("no discovery document: %v", err)
	}
}
