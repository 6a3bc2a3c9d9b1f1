package psc

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DiscoveryPath is the name under which PSC serves its OpenID Connect discovery document, relative
// to the issuer. PSC does not use the standard openid-configuration name.
const DiscoveryPath = "/.well-known/wallet-openid-configuration"

// ACREidas1 is the authentication context every MSSanté login asks for.
const ACREidas1 = "eidas1"

// Issuers of the two PSC environments.
const (
	IssuerProduction = "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet"
	IssuerBAS        = "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet"
)

// StandardDiscoveryPath is the standard OpenID Connect discovery name, tried when the PSC name
// answers 404 and no DiscoveryURL was given (generic providers: Hydra, a Keycloak realm's default).
const StandardDiscoveryPath = "/.well-known/openid-configuration"

// DefaultScopes are asked when Config.Scopes is empty.
var DefaultScopes = []string{"openid", "scope_all"}

// Config describes a PSC environment and this software's registration there.
type Config struct {
	// Issuer is the expected "iss" of the ID tokens and of the discovery document (required).
	Issuer string
	// DiscoveryURL is where the discovery document is fetched. Default: Issuer + DiscoveryPath.
	DiscoveryURL string
	// ClientID is the client identifier given by the ANS at registration (required).
	ClientID string
	// ClientSecret authenticates the client with client_secret_basic. When empty, the client
	// authenticates with its TLS client certificate (tls_client_auth), which HTTPClient must
	// present, and sends only client_id. The caller reads it from a file or the environment.
	ClientSecret []byte
	// RedirectURL is the callback declared to the ANS, for the authorization code flow.
	RedirectURL string
	// Scopes asked; default DefaultScopes ("openid scope_all").
	Scopes []string
	// ACR is the acr_values asked and the acr required in ID tokens; default ACREidas1.
	ACR string
	// AnyACR accepts the ID token of a login whatever acr it reports (acr_values is still asked):
	// for test and generic OpenID Connect providers that do not report it (Hydra says "0"). Never
	// for PSC itself, where an MSSanté login must be eidas1.
	AnyACR bool
	// ScopesFromDiscovery, when Scopes is empty, asks "openid", "scope_all" when the provider
	// lists it (or lists no scope), and "profile", "email" and "offline_access" when the provider
	// lists them: generic providers give a refresh token only with offline_access. For PSC, leave
	// it false (DefaultScopes).
	ScopesFromDiscovery bool
	// HTTPClient is used for every request (its Transport holds the TLS policy and, for mutual
	// TLS, the client certificate). Default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Preset returns the Config of a named PSC environment: "production" or "bas" (the sandbox). The
// caller fills ClientID, ClientSecret and RedirectURL.
func Preset(name string) (Config, error) {
	switch strings.ToLower(name) {
	case "production", "prod":
		return Config{Issuer: IssuerProduction}, nil
	case "bas", "sandbox":
		return Config{Issuer: IssuerBAS}, nil
	}
	return Config{}, fmt.Errorf("psc: unknown preset %q (want production or bas)", name)
}

func (c *Config) validate() error {
	if c.Issuer == "" {
		return errors.New("psc: config: issuer is required")
	}
	if c.ClientID == "" {
		return errors.New("psc: config: client id is required")
	}
	for _, u := range []string{c.Issuer, c.DiscoveryURL} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("psc: config: invalid URL %q", u)
		}
		if p.Scheme == "http" && !loopback(p.Hostname()) {
			return fmt.Errorf("psc: config: %q: plain http is allowed only on the loopback interface", u)
		}
	}
	return nil
}

// loopback reports whether host is a loopback name or address (emulators and test providers).
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) discoveryURL() string {
	if c.DiscoveryURL != "" {
		return c.DiscoveryURL
	}
	return strings.TrimSuffix(c.Issuer, "/") + DiscoveryPath
}

func (c *Config) scopes() []string {
	if len(c.Scopes) > 0 {
		return c.Scopes
	}
	return DefaultScopes
}

func (c *Config) acr() string {
	if c.ACR != "" {
		return c.ACR
	}
	return ACREidas1
}

func (c *Config) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
