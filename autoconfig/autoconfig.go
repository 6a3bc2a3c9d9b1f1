// Package autoconfig discovers the API LPS servers of an MSSanté mailbox (ECO.1.1.9): from the
// address, it GETs https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=<address>,
// parses the Thunderbird ConfigFileFormat (unknown elements ignored, size bounded, no DTD), and
// selects the IMAP and SMTP servers of the mailbox family: authentication "OAuth2" for personal
// and organisational mailboxes (Pro Santé Connect), "TLS-client-cert" for applicative ones.
// Entries whose socketType is not STARTTLS or SSL are refused.
//
// Usual sequence:
//
//	cfg, err := autoconfig.Discover(ctx, "jean.dupont@hopital.mssante.fr", autoconfig.Options{
//		HTTPClient: policy.AutoconfigHTTPClient(), // IGC Santé anchors + public roots
//	})
//	servers, err := cfg.Select(autoconfig.FamilyPersonal)
//	// servers.IMAP.Addr(), servers.SMTP.Addr(), servers.IMAP.Username …
//
// The connection test that ECO.1.1.9 asks for next is the lps package's business.
package autoconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Family is the kind of mailbox, which decides the authentication.
type Family string

const (
	// FamilyPersonal is a personal or organisational mailbox: XOAUTH2 with a Pro Santé Connect
	// token ("OAuth2" in the configuration file).
	FamilyPersonal Family = "personal"
	// FamilyApplicative is an applicative mailbox: TLS client certificate then PLAIN
	// ("TLS-client-cert").
	FamilyApplicative Family = "applicative"
)

// String returns the family name.
func (f Family) String() string { return string(f) }

// Authentication returns the ConfigFileFormat authentication value of the family.
func (f Family) Authentication() string {
	if f == FamilyApplicative {
		return "TLS-client-cert"
	}
	return "OAuth2"
}

// ParseFamily parses "personal" (also "organisational", "P", "O") or "applicative" ("APP").
func ParseFamily(s string) (Family, error) {
	switch strings.ToLower(s) {
	case "", "personal", "organisational", "organizational", "p", "o":
		return FamilyPersonal, nil
	case "applicative", "app":
		return FamilyApplicative, nil
	}
	return "", fmt.Errorf("unknown mailbox family %q (want personal or applicative)", s)
}

// Errors of Discover and Select.
var (
	// ErrNotFound means the autoconfig host answered 404: the domain publishes no configuration;
	// the user must give the servers explicitly.
	ErrNotFound = errors.New("no autoconfig document for this domain")
	// ErrNoServer means the document has no IMAP or SMTP entry for the family's authentication.
	ErrNoServer = errors.New("no server for this mailbox family")
	// ErrPlainSocket means the only entries for the family are unencrypted ("plain"): refused,
	// MSSanté requires STARTTLS or TLS.
	ErrPlainSocket = errors.New("unencrypted server entry refused (socketType must be STARTTLS or SSL)")
)

// Options configures Discover.
type Options struct {
	// BaseURL overrides the autoconfig location, for tests and the sandbox: either the full URL
	// of the document (ending in ".xml") or a base to which "/mail/config-v1.1.xml" is appended.
	// It may be http:// (explicit configuration). Default: https://autoconfig.<domain>.
	BaseURL string
	// HTTPClient fetches the document (default: 30 s timeout, system roots). The CLI passes
	// trust.Policy.AutoconfigHTTPClient (IGC Santé anchors + public roots).
	HTTPClient *http.Client
	// MaxSize bounds the document (default 1 MiB).
	MaxSize int64
}

// URL returns the autoconfig URL for address.
func URL(address string, o Options) (string, error) {
	_, domain, err := splitAddress(address)
	if err != nil {
		return "", err
	}
	base := o.BaseURL
	if base == "" {
		base = "https://autoconfig." + domain
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("invalid autoconfig url %q", base)
	}
	if !strings.HasSuffix(u.Path, ".xml") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/mail/config-v1.1.xml"
	}
	q := u.Query()
	q.Set("emailaddress", address)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Discover fetches and parses the autoconfig document of address.
func Discover(ctx context.Context, address string, o Options) (*Config, error) {
	u, err := URL(address, o)
	if err != nil {
		return nil, err
	}
	base := o.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 30 * time.Second}
	}
	client := *base
	client.CheckRedirect = refuseDowngrade
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/xml, text/xml")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("autoconfig %s: %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("autoconfig %s: %w", u, ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("autoconfig %s: http status %s", u, resp.Status)
	}
	cfg, err := Read(resp.Body, address, o.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("autoconfig %s: %w", u, err)
	}
	cfg.URL = u
	return cfg, nil
}

// refuseDowngrade follows at most 5 redirects, never from https to another scheme.
func refuseDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirect from https to %s refused", req.URL.Redacted())
	}
	return nil
}

// splitAddress returns the local part and the lower-cased domain of an e-mail address, checking
// the domain is a plain host name (it goes into a URL).
func splitAddress(address string) (local, domain string, err error) {
	at := strings.LastIndexByte(address, '@')
	if at <= 0 || at == len(address)-1 {
		return "", "", fmt.Errorf("invalid e-mail address %q", address)
	}
	local, domain = address[:at], strings.ToLower(address[at+1:])
	if len(domain) > 253 || strings.Contains(local, "\n") || strings.ContainsAny(local, "\r\x00") {
		return "", "", fmt.Errorf("invalid e-mail address %q", address)
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return "", "", fmt.Errorf("invalid domain in e-mail address %q", address)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return "", "", fmt.Errorf("invalid domain in e-mail address %q", address)
			}
		}
	}
	return local, domain, nil
}

// Server is a selected API LPS server, placeholders substituted.
type Server struct {
	Protocol       string `json:"protocol"`    // "imap" or "smtp"
	Host           string `json:"host"`        // host name
	Port           int    `json:"port"`        // TCP port
	SocketType     string `json:"socket_type"` // "STARTTLS" or "SSL"
	Authentication string `json:"authentication"`
	Username       string `json:"username"`
}

// Addr returns host:port.
func (s Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Servers are the IMAP and SMTP servers selected for a family.
type Servers struct {
	Family Family `json:"family"`
	IMAP   Server `json:"imap"`
	SMTP   Server `json:"smtp"`
}
