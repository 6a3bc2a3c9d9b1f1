package autoconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/trust"
)

const addr = "jean.dupont@operateur.mssante.test"

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// autoconfigServer serves testdata files on an HTTPS server whose certificate comes from a test
// PKI, and returns its URL and an HTTP client trusting that PKI through the trust policy.
func autoconfigServer(t *testing.T, files map[string]string, seen *string) (string, *http.Client) {
	t.Helper()
	pki := testpki.New(t, testpki.Options{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			*seen = r.URL.RequestURI()
		}
		name, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write(readTestdata(t, name))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server("127.0.0.1").TLS}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	policy, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert}, SkipRevocation: true})
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, policy.AutoconfigHTTPClient()
}

// TestDiscover_selectsFamilies: ECO.1.1.9, discovery over HTTPS, family selection, substitution.
func TestDiscover_selectsFamilies(t *testing.T) {
	var seen string
	base, client := autoconfigServer(t, map[string]string{"/mail/config-v1.1.xml": "operateur.xml"}, &seen)
	cfg, err := Discover(context.Background(), addr, Options{BaseURL: base, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	if seen != "/mail/config-v1.1.xml?emailaddress=jean.dupont%40operateur.mssante.test" {
		t.Errorf("request = %q", seen)
	}
	if cfg.DisplayName != "Opérateur MSSanté de test" || len(cfg.Incoming) != 4 || len(cfg.Outgoing) != 1 {
		t.Errorf("parsed %q, %d incoming, %d outgoing", cfg.DisplayName, len(cfg.Incoming), len(cfg.Outgoing))
	}
	if cfg.OAuth2 == nil || cfg.OAuth2.Issuer != "auth.esante.gouv.fr" {
		t.Errorf("oAuth2 = %+v", cfg.OAuth2)
	}
	tests := []struct {
		family     Family
		imap, smtp Server
	}{
		{FamilyPersonal,
			Server{"imap", "imap.operateur.mssante.test", 143, "STARTTLS", "OAuth2", addr},
			Server{"smtp", "smtp.operateur.mssante.test", 587, "STARTTLS", "OAuth2", addr}},
		{FamilyApplicative,
			Server{"imap", "imap-app.operateur.mssante.test", 993, "SSL", "TLS-client-cert", addr},
			Server{"smtp", "smtp.operateur.mssante.test", 587, "STARTTLS", "TLS-client-cert", addr}},
	}
	for _, tt := range tests {
		got, err := cfg.Select(tt.family)
		if err != nil {
			t.Fatalf("Select(%s): %v", tt.family, err)
		}
		if got.IMAP != tt.imap || got.SMTP != tt.smtp {
			t.Errorf("Select(%s) = %+v, want imap %+v smtp %+v", tt.family, got, tt.imap, tt.smtp)
		}
	}
}

func TestSelect_refusesPlainSocket(t *testing.T) {
	// ECO.1.1.9 with ECO.1.0.1: an entry without TLS is never used.
	cfg, err := Parse(readTestdata(t, "plain-only.xml"), "a@faible.mssante.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Select(FamilyPersonal); !errors.Is(err, ErrPlainSocket) {
		t.Errorf("Select(personal) error = %v, want ErrPlainSocket", err)
	}
	if _, err := cfg.Select(FamilyApplicative); !errors.Is(err, ErrNoServer) {
		t.Errorf("Select(applicative) error = %v, want ErrNoServer", err)
	}
}

func TestDiscover_errors(t *testing.T) {
	base, client := autoconfigServer(t, map[string]string{"/custom/config.xml": "operateur.xml"}, nil)
	ctx := context.Background()
	if _, err := Discover(ctx, addr, Options{BaseURL: base, HTTPClient: client}); !errors.Is(err, ErrNotFound) {
		t.Errorf("404: error = %v, want ErrNotFound", err)
	}
	if _, err := Discover(ctx, addr, Options{BaseURL: base + "/custom/config.xml", HTTPClient: client}); err != nil {
		t.Errorf("full document URL: %v", err)
	}
	// Without the test PKI root the HTTPS certificate is refused.
	if _, err := Discover(ctx, addr, Options{BaseURL: base + "/custom/config.xml"}); err == nil {
		t.Error("untrusted autoconfig certificate accepted")
	}
	if _, err := Discover(ctx, addr, Options{BaseURL: base + "/custom/config.xml", HTTPClient: client, MaxSize: 100}); err == nil {
		t.Error("oversized document accepted")
	}
}

func TestDiscover_refusesRedirectToHTTP(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(readTestdata(t, "operateur.xml"))
	}))
	defer plain.Close()
	pki := testpki.New(t, testpki.Options{})
	srv := httptest.NewUnstartedServer(http.RedirectHandler(plain.URL+"/mail/config-v1.1.xml", http.StatusFound))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server("127.0.0.1").TLS}}
	srv.StartTLS()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.RootPool()}}}
	_, err := Discover(context.Background(), addr, Options{BaseURL: srv.URL, HTTPClient: client})
	if err == nil || !strings.Contains(err.Error(), "redirect from https") {
		t.Errorf("redirect to http: error = %v", err)
	}
}

func TestURL(t *testing.T) {
	for _, tt := range []struct{ address, base, want string }{
		{"a.b@Hopital.MSSante.fr", "", "https://autoconfig.hopital.mssante.fr/mail/config-v1.1.xml?emailaddress=a.b%40Hopital.MSSante.fr"},
		{"x@d.test", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/mail/config-v1.1.xml?emailaddress=x%40d.test"},
		{"x@d.test", "https://h/a.xml", "https://h/a.xml?emailaddress=x%40d.test"},
	} {
		got, err := URL(tt.address, Options{BaseURL: tt.base})
		if err != nil || got != tt.want {
			t.Errorf("URL(%q, %q) = %q, %v; want %q", tt.address, tt.base, got, err, tt.want)
		}
	}
	for _, bad := range []string{"nobody", "@d.test", "x@", "x@evil.test/path", "x@evil.test?q", "x@-a.test", "x@a..test"} {
		if got, err := URL(bad, Options{}); err == nil {
			t.Errorf("URL(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParse_malformed(t *testing.T) {
	for name, doc := range map[string]string{
		"doctype":     `<?xml version="1.0"?><!DOCTYPE clientConfig [<!ENTITY x "y">]><clientConfig/>`,
		"wrong root":  `<config/>`,
		"no provider": `<clientConfig version="1.1"/>`,
		"bad port":    `<clientConfig><emailProvider><incomingServer type="imap"><port>99999</port></incomingServer></emailProvider></clientConfig>`,
		"entity":      `<clientConfig><emailProvider id="&x;"/></clientConfig>`,
		"empty":       ``,
	} {
		if _, err := Parse([]byte(doc), addr); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzParse: never panics; a selected server has a host without separators and a valid port.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"operateur.xml", "plain-only.xml", "ssl-first.xml"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`<clientConfig><emailProvider><incomingServer type="imap"><hostname>%EMAILLOCALPART%</hostname></incomingServer></emailProvider></clientConfig>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "x.y@d.test")
		if err != nil {
			return
		}
		for _, fam := range []Family{FamilyPersonal, FamilyApplicative} {
			s, err := cfg.Select(fam)
			if err != nil {
				continue
			}
			for _, srv := range []Server{s.IMAP, s.SMTP} {
				if srv.Host == "" || strings.ContainsAny(srv.Host, "/ @") || srv.Port < 1 || srv.Port > 65535 {
					t.Fatalf("Select(%s) gave %+v", fam, srv)
				}
				if srv.SocketType != "STARTTLS" && srv.SocketType != "SSL" {
					t.Fatalf("Select(%s) gave socket type %q", fam, srv.SocketType)
				}
			}
		}
	})
}

// TestSelect_prefersSTARTTLS: when a document lists implicit-TLS (SSL) entries before the STARTTLS
// ones, the STARTTLS entries are chosen for both families, since the API LPS is STARTTLS on 143 and
// 587 (ECO.1.0.1, ECO.1.0.2, ECO.1.1.9); POP3 and cleartext-password entries are skipped and the
// placeholders substituted, username included.
func TestSelect_prefersSTARTTLS(t *testing.T) {
	const addr = "jean.dupont@operateur.mssante.test"
	cfg, err := Parse(readTestdata(t, "ssl-first.xml"), addr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OAuth2 == nil || cfg.OAuth2.Issuer != "auth.operateur.mssante.test" {
		t.Errorf("oAuth2 block = %+v", cfg.OAuth2)
	}
	for family, user := range map[Family]string{FamilyPersonal: addr, FamilyApplicative: "jean.dupont"} {
		s, err := cfg.Select(family)
		if err != nil {
			t.Fatalf("Select(%s): %v", family, err)
		}
		if s.IMAP.SocketType != "STARTTLS" || s.IMAP.Addr() != "imap.operateur.mssante.test:143" || s.IMAP.Username != user {
			t.Errorf("Select(%s).IMAP = %+v", family, s.IMAP)
		}
		if s.SMTP.SocketType != "STARTTLS" || s.SMTP.Addr() != "smtp.operateur.mssante.test:587" || s.SMTP.Username != addr {
			t.Errorf("Select(%s).SMTP = %+v", family, s.SMTP)
		}
	}
	// Only SSL entries: they are returned (the caller refuses them with a clear message).
	sslOnly := &Config{Address: addr, Incoming: cfg.Incoming[:3], Outgoing: cfg.Outgoing[:1]}
	if s, err := sslOnly.Select(FamilyPersonal); err != nil || s.IMAP.SocketType != "SSL" || s.IMAP.Port != 993 {
		t.Errorf("Select of SSL-only entries = %+v, %v", s, err)
	}
}

// TestParse_declaredEncoding: a document declaring ISO-8859-1 is decoded (found by acceptance QA:
// hand-written operator files); an unknown encoding is an error, not a panic.
func TestParse_declaredEncoding(t *testing.T) {
	doc := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><clientConfig><emailProvider id=\"x\">" +
		"<displayName>Op\xe9rateur</displayName><incomingServer type=\"imap\"><hostname>imap.d.test</hostname>" +
		"<port>143</port><socketType>STARTTLS</socketType><authentication>OAuth2</authentication></incomingServer>" +
		"</emailProvider></clientConfig>"
	cfg, err := Parse([]byte(doc), "a@d.test")
	if err != nil || cfg.DisplayName != "Opérateur" || len(cfg.Incoming) != 1 {
		t.Fatalf("Parse(ISO-8859-1) = %+v, %v", cfg, err)
	}
	if _, err := Parse([]byte(strings.Replace(doc, "ISO-8859-1", "x-unknown-42", 1)), "a@d.test"); err == nil {
		t.Error("unknown encoding accepted")
	}
}
