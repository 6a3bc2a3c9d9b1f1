package pscemu

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// RealmPath is the path of the emulated Keycloak realm.
const RealmPath = "/auth/realms/esante-wallet"

// DiscoveryPath is the PSC discovery name, under RealmPath.
const DiscoveryPath = "/.well-known/wallet-openid-configuration"

// Professional is a test identity offered on the login page and by CIBA.
type Professional struct {
	NationalID string   // SubjectNameID: "8" + RPPS for RPPS holders
	GivenName  string   // given_name
	FamilyName string   // family_name
	Mailboxes  []string // personal mailboxes; the first one is the "email" claim
	Profession string   // profession code (SubjectRole "code^1.2.250.1.213.1.1.5.5"); default "10" (médecin)
}

// DefaultProfessionals are invented identities with mailboxes in test.mssante.fr (the domain of
// internal/peertest).
var DefaultProfessionals = []Professional{
	{NationalID: "899700000018", GivenName: "Camille", FamilyName: "TESTARD",
		Mailboxes: []string{"camille.testard@test.mssante.fr"}, Profession: "10"},
	{NationalID: "899700000026", GivenName: "Hélène", FamilyName: "ESSAI-FICTIF",
		Mailboxes: []string{"helene.essai@test.mssante.fr", "cabinet.essai@test.mssante.fr"}, Profession: "60"},
}

// Options configure the emulator; the zero value works.
type Options struct {
	// Addr to listen on; default "127.0.0.1:0".
	Addr string
	// TLS, when set, makes the emulator serve HTTPS (set ClientCAs and ClientAuth to accept
	// tls_client_auth).
	TLS *tls.Config
	// Issuer is the "iss" of the tokens and discovery document. Default: the server URL +
	// RealmPath. Set it to emulate a deployment behind a proxy, or to match an operator's
	// configured issuer.
	Issuer string
	// ClientID of the single registered client; default "mssante-test".
	ClientID string
	// ClientSecret expected with client_secret_basic or client_secret_post. Empty: the client
	// is public (client_id alone is enough).
	ClientSecret string
	// RedirectURIs allowed; empty allows any http(s) URI.
	RedirectURIs []string
	// Key signs the tokens (RS256); default a new 2048-bit key. KeyID is its "kid" (default "k1").
	Key   *rsa.PrivateKey
	KeyID string
	// Token lifetimes: AccessTTL (default 120 s), RefreshTTL, the idle lifetime of a refresh
	// token (default 350 s), SessionMax, after which no refresh is accepted (default 1 h).
	AccessTTL, RefreshTTL, SessionMax time.Duration
	// CIBA: lifetime of a request (default 120 s) and poll interval (default 1 s, whole seconds).
	CIBAExpiresIn, CIBAInterval time.Duration
	// Professionals on the login page; default DefaultProfessionals.
	Professionals []Professional
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives one line per grant (never a token); nil discards.
	Logger *slog.Logger
}

// Server is a running emulator.
type Server struct {
	// URL is the base URL ("http://127.0.0.1:port"); Issuer the issuer.
	URL    string
	Issuer string

	o      Options
	srv    *http.Server
	ln     net.Listener
	signer jose.Signer
	jwks   jose.JSONWebKeySet

	mu       sync.Mutex
	authReqs map[string]*authReq  // login page requests
	codes    map[string]*grant    // authorization codes
	sessions map[string]*session  // sid → session
	refresh  map[string]string    // refresh token → sid
	ciba     map[string]*cibaAuth // auth_req_id → request
}

// Start listens and serves until ctx ends or Close is called.
func Start(ctx context.Context, o *Options) (*Server, error) {
	s := &Server{authReqs: map[string]*authReq{}, codes: map[string]*grant{},
		sessions: map[string]*session{}, refresh: map[string]string{}, ciba: map[string]*cibaAuth{}}
	if o != nil {
		s.o = *o
	}
	if err := s.defaults(); err != nil {
		return nil, err
	}
	addr := s.o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pscemu: %w", err)
	}
	scheme := "http"
	if s.o.TLS != nil {
		ln = tls.NewListener(ln, s.o.TLS)
		scheme = "https"
	}
	s.ln = ln
	s.URL = scheme + "://" + ln.Addr().String()
	s.Issuer = s.o.Issuer
	if s.Issuer == "" {
		s.Issuer = s.URL + RealmPath
	}
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	context.AfterFunc(ctx, func() { _ = s.Close() })
	return s, nil
}

func (s *Server) defaults() error {
	o := &s.o
	if o.ClientID == "" {
		o.ClientID = "mssante-test"
	}
	if o.KeyID == "" {
		o.KeyID = "k1"
	}
	if o.Key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return fmt.Errorf("pscemu: %w", err)
		}
		o.Key = k
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.AccessTTL, 120*time.Second)
	def(&o.RefreshTTL, 350*time.Second)
	def(&o.SessionMax, time.Hour)
	def(&o.CIBAExpiresIn, 120*time.Second)
	def(&o.CIBAInterval, time.Second)
	if o.Professionals == nil {
		o.Professionals = DefaultProfessionals
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	jwk := jose.JSONWebKey{Key: o.Key, KeyID: o.KeyID, Algorithm: string(jose.RS256), Use: "sig"}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jwk},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return fmt.Errorf("pscemu: %w", err)
	}
	s.signer = signer
	s.jwks = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}}
	return nil
}

// Close stops the server.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// DiscoveryURL is where the PSC discovery document is served.
func (s *Server) DiscoveryURL() string { return s.URL + RealmPath + DiscoveryPath }

// PublicKey is the token signing key, for an operator that validates tokens locally.
func (s *Server) PublicKey() *rsa.PublicKey { return &s.o.Key.PublicKey }

// KeyID is the "kid" of the signing key; ClientID the registered client ("azp" of the tokens).
func (s *Server) KeyID() string    { return s.o.KeyID }
func (s *Server) ClientID() string { return s.o.ClientID }

func (s *Server) now() time.Time {
	if s.o.Now != nil {
		return s.o.Now()
	}
	return time.Now()
}

func (s *Server) professional(id string) *Professional {
	for i := range s.o.Professionals {
		if s.o.Professionals[i].NationalID == id {
			return &s.o.Professionals[i]
		}
	}
	return nil
}

// Handler serves the realm, the login page and the sandbox page.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	oc := RealmPath + "/protocol/openid-connect"
	m.HandleFunc("GET "+RealmPath+DiscoveryPath, s.discovery)
	m.HandleFunc("GET "+RealmPath+"/.well-known/openid-configuration", s.discovery)
	m.HandleFunc("GET /wallet/auth", s.authorize)
	m.HandleFunc("GET /wallet/auth/login", s.login)
	m.HandleFunc("POST "+oc+"/token", s.tokenEndpoint)
	m.HandleFunc("GET "+oc+"/certs", s.certs)
	m.HandleFunc(oc+"/userinfo", s.userinfo)
	m.HandleFunc("POST "+oc+"/token/introspect", s.introspect)
	m.HandleFunc(oc+"/logout", s.logout)
	m.HandleFunc("POST "+oc+"/revoke", s.revoke)
	m.HandleFunc("POST "+oc+"/ext/ciba/auth", s.cibaAuth)
	m.HandleFunc("GET /sandbox/ciba", s.sandboxCIBA)
	m.HandleFunc("POST /sandbox/ciba/{id}/{decision}", s.sandboxDecide)
	return m
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	oc := s.URL + RealmPath + "/protocol/openid-connect"
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                     s.Issuer,
		"authorization_endpoint":                     s.URL + "/wallet/auth",
		"token_endpoint":                             oc + "/token",
		"userinfo_endpoint":                          oc + "/userinfo",
		"jwks_uri":                                   oc + "/certs",
		"end_session_endpoint":                       oc + "/logout",
		"revocation_endpoint":                        oc + "/revoke",
		"introspection_endpoint":                     oc + "/token/introspect",
		"backchannel_authentication_endpoint":        oc + "/ext/ciba/auth",
		"backchannel_token_delivery_modes_supported": []string{"poll"},
		"grant_types_supported": []string{"authorization_code", "refresh_token",
			"urn:openid:params:grant-type:ciba"},
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"acr_values_supported":                  []string{"eidas1"},
		"scopes_supported":                      []string{"openid", "scope_all", "offline_access"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post",
			"tls_client_auth"},
		"claims_supported": []string{"sub", "SubjectNameID", "preferred_username", "given_name",
			"family_name", "email", "SubjectRefPro", "SubjectRole", "acr"},
	})
}

func (s *Server) certs(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.jwks)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// clientAuth checks the client authentication of a token-like request and returns an error
// description, or "".
func (s *Server) clientAuth(r *http.Request) string {
	id, secret, basic := r.BasicAuth()
	if basic {
		if strings.Contains(id, "%") || strings.Contains(secret, "%") {
			id, secret = unescape(id), unescape(secret)
		}
	} else {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != s.o.ClientID {
		return "unknown client"
	}
	if s.o.ClientSecret == "" {
		return ""
	}
	if secret == "" && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return "" // tls_client_auth: the TLS layer verified the certificate against ClientCAs
	}
	if secret != s.o.ClientSecret {
		return "bad client credentials"
	}
	return ""
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

var errNotFound = errors.New("pscemu: unknown request")
