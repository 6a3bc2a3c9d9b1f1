package trust

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options configures New. The zero value is the production profile with anchors nowhere, which
// New refuses: set AnchorsDir, Anchors or (test environments) ExtraRoots.
type Options struct {
	// Profile selects the IGC Santé anchors: ProfileProduction (default) or ProfileTest.
	Profile Profile
	// AnchorsDir is where `mssante trust update` stores the IGC Santé certificates
	// (<data-dir>/trust). Only certificates whose fingerprint is pinned for Profile are used.
	AnchorsDir string
	// Anchors are candidate IGC Santé certificates given in memory; like AnchorsDir, only the
	// pinned ones are kept.
	Anchors []*x509.Certificate

	// ExtraRoots, when not empty, REPLACES the IGC Santé anchors by these certificates (the
	// --trust-root of test environments). Every other check is unchanged, except that the issuing
	// intermediate is then checked against OrgIntermediates only when that is set. It is a
	// relaxation, logged at Info by New.
	ExtraRoots []*x509.Certificate
	// OrgIntermediates, with ExtraRoots, are the "ELEMENTAIRE ORGANISATIONS"-like intermediates
	// that may issue server certificates (ECO.1.1.10). Empty means any issuer chaining to
	// ExtraRoots. They are also trusted as anchors, to complete chains the server sends incomplete.
	OrgIntermediates []*x509.Certificate

	// SkipRevocation disables the CRL and OCSP checks (ECO.1.1.6). A relaxation, logged by New.
	SkipRevocation bool
	// CRLCacheDir keeps the last valid CRL of each distribution point (<data-dir>/crl), used
	// when a download fails until its nextUpdate (ECO.1.1.7). Empty keeps them in memory only.
	CRLCacheDir string
	// CRLRefresh is how long a cached CRL is used without trying a download (default 1 h). A
	// negative value downloads at every check (the cache then only serves when a download fails).
	CRLRefresh time.Duration
	// MaxCRLSize bounds a downloaded CRL (default 64 MiB).
	MaxCRLSize int64
	// OCSPMaxAge is the oldest thisUpdate accepted for an OCSP answer without nextUpdate
	// (default 48 h).
	OCSPMaxAge time.Duration

	// MaxVersion caps the TLS version: 0 allows TLS 1.3 (the default, ECO.1.1.2), tls.VersionTLS12
	// pins TLS 1.2. The minimum is always TLS 1.2 (ECO.1.1.1).
	MaxVersion uint16

	// HTTPClient fetches CRLs and OCSP answers (default: 15 s timeout, no proxy from the
	// environment is added beyond Go's default transport).
	HTTPClient *http.Client
	// Logger receives relaxations (Info) and degraded revocation checks (Warn). Nil discards.
	Logger *slog.Logger
	// Now is the clock for certificate validity, CRLs and OCSP (default time.Now).
	Now func() time.Time
}

// Policy is the TLS client policy for API LPS connections (SMTP submission, IMAP). It is safe for
// concurrent use. It never dials: it returns *tls.Config values and performs handshakes on
// connections the caller opened (after STARTTLS).
type Policy struct {
	opts    Options
	log     *slog.Logger
	roots   *x509.CertPool  // anchors: pinned roots and ORGANISATIONS intermediates, or ExtraRoots (+OrgIntermediates)
	orgFP   map[string]bool // allowed issuing intermediates; nil means any (ExtraRoots without OrgIntermediates)
	anchors []Anchor
	extra   bool
	rev     *revocationChecker
}

// Suites are the TLS 1.2 cipher suites offered (ECO.1.1.3), in order of preference. Of the
// referential's list (C030, C02F, C028, C027, 009F, 009E), Go's crypto/tls implements only these
// three: 0xC028 (ECDHE-RSA-AES256-SHA384) and the DHE suites 0x009E/0x009F do not exist in it.
// ECDSA variants are not in the referential and are not offered.
var Suites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, // 0xC030
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, // 0xC02F
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, // 0xC027
}

// Curves are the key-exchange groups offered: all ECDH groups of at least 256 bits
// ("ECDHE ≥ 256 bits", ECO.1.1.3). X25519 (~128-bit security, 255-bit field but 256-bit keys,
// equivalent to P-256) first for speed, then P-256 and P-384. No finite-field DHE (Go has none).
var Curves = []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384}

// New builds a policy. It reads AnchorsDir (I/O) and fails when the profile's pinned root and
// ORGANISATIONS intermediate are not both available and no ExtraRoots are given.
func New(o Options) (*Policy, error) {
	if o.Profile == "" {
		o.Profile = ProfileProduction
	}
	if _, err := ParseProfile(string(o.Profile)); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxVersion != 0 && o.MaxVersion < tls.VersionTLS12 {
		return nil, fmt.Errorf("MaxVersion %#x below TLS 1.2 (ECO.1.1.1)", o.MaxVersion)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	p := &Policy{opts: o, log: o.Logger, roots: x509.NewCertPool()}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(o.ExtraRoots) > 0 {
		p.extra = true
		for _, c := range o.ExtraRoots {
			p.roots.AddCert(c)
			p.log.Info("tls policy relaxed: IGC Santé anchors replaced by an explicit trust root",
				"relaxation", "trust_root", "subject", c.Subject.String(), "sha256", Fingerprint(c))
		}
		if len(o.OrgIntermediates) > 0 {
			p.orgFP = map[string]bool{}
			for _, c := range o.OrgIntermediates {
				p.roots.AddCert(c)
				p.orgFP[Fingerprint(c)] = true
			}
		}
	} else if err := p.loadIGC(); err != nil {
		return nil, err
	}
	if o.SkipRevocation {
		p.log.Info("tls policy relaxed: revocation checks disabled", "relaxation", "skip_revocation")
	} else {
		p.rev = newRevocationChecker(o, p.log)
	}
	return p, nil
}

func (p *Policy) loadIGC() error {
	var certs []*x509.Certificate
	if p.opts.AnchorsDir != "" {
		found, err := ReadCertificates(p.opts.AnchorsDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read IGC Santé anchors: %w", err)
		}
		certs = append(certs, found...)
	}
	certs = append(certs, p.opts.Anchors...)
	p.anchors = SelectPinned(certs, p.opts.Profile)
	p.orgFP = map[string]bool{}
	var haveRoot bool
	for _, a := range p.anchors {
		switch a.Pin.Role {
		case RoleRoot:
			p.roots.AddCert(a.Cert)
			haveRoot = true
		case RoleOrganisation:
			// Also an anchor, so that a server omitting its intermediate still chains; the
			// longer chain through the root is preferred when the server sends it.
			p.roots.AddCert(a.Cert)
			p.orgFP[a.Pin.SHA256] = true
		}
	}
	if !haveRoot || len(p.orgFP) == 0 {
		return fmt.Errorf("no IGC Santé %s root and ORGANISATIONS intermediate in %q: run `mssante trust update --profile %s`",
			p.opts.Profile, p.opts.AnchorsDir, p.opts.Profile)
	}
	return nil
}

// Anchors returns the pinned IGC Santé certificates in use (empty with ExtraRoots).
func (p *Policy) Anchors() []Anchor { return append([]Anchor(nil), p.anchors...) }

// ClientConfig returns a TLS client configuration for serverName (the host of the API LPS
// endpoint), presenting clientCert when not nil (applicative mailboxes). Revocation downloads
// made during the handshake use no context; prefer Handshake, which passes one.
func (p *Policy) ClientConfig(serverName string, clientCert *tls.Certificate) *tls.Config {
	return p.config(context.Background(), serverName, clientCert)
}

func (p *Policy) config(ctx context.Context, serverName string, clientCert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{
		ServerName:       serverName,
		MinVersion:       tls.VersionTLS12,
		MaxVersion:       p.opts.MaxVersion,
		CipherSuites:     Suites,
		CurvePreferences: Curves,
		Time:             p.opts.Now,
		// Go verifies the chain to the anchors, the validity at Now and the server name of the
		// config actually used (a clone may set ServerName later); VerifyConnection adds the
		// ORGANISATIONS and revocation rules. ClassifyHandshakeError names the rule of a failure.
		RootCAs: p.roots,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return p.verifyConnection(ctx, cs, serverName)
		},
		Renegotiation: tls.RenegotiateNever,
	}
	if clientCert != nil {
		cert := clientCert
		// Always present the certificate, whatever CA names the server lists.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return cfg
}

// Handshake runs the TLS client handshake on conn (a fresh TCP connection, or one just switched by
// STARTTLS) under the policy, and returns the TLS connection. On failure it returns a
// *RefusalError naming the rule when the policy refused the server (see ClassifyHandshakeError);
// conn is left open for the caller to close.
func (p *Policy) Handshake(ctx context.Context, conn net.Conn, serverName string, clientCert *tls.Certificate) (*tls.Conn, error) {
	tc := tls.Client(conn, p.config(ctx, serverName, clientCert))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, ClassifyHandshakeError(err, serverName)
	}
	return tc, nil
}

// AutoconfigHTTPClient returns an HTTPS client for the autoconfig host (ECO.1.1.9), whose
// certificate may come from IGC Santé or from the usual public authorities: it trusts the system
// roots plus the IGC Santé anchors of the profile (or ExtraRoots). TLS 1.2 minimum; no revocation
// check (public configuration data, not the API LPS).
func (p *Policy) AutoconfigHTTPClient() *http.Client {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, a := range p.anchors {
		pool.AddCert(a.Cert)
	}
	for _, c := range p.opts.ExtraRoots {
		pool.AddCert(c)
	}
	for _, c := range p.opts.OrgIntermediates {
		pool.AddCert(c)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, Time: p.opts.Now}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
