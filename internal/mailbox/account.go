package mailbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/mssante/mssante/autoconfig"
	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// Credentials are how the account authenticates: a Pro Santé Connect token source (personal and
// organisational mailboxes, XOAUTH2) or an ORG AUTH_CLI client certificate (applicative mailboxes,
// certificate + PLAIN). Exactly one is set.
type Credentials struct {
	// Tokens gives the current access token at each authentication (TokenFile, a psc.Holder, the
	// intermediate server's agent…). The token is never kept (ECO.1.2.5).
	Tokens lps.TokenSource
	// Certificate is the client certificate with its private key (LoadClientCertificate).
	Certificate *tls.Certificate
}

// AuditTrail receives the account's functional traces (ECO.4.1.1); *audit.Trail implements it.
type AuditTrail interface {
	Append(ctx context.Context, e audit.Event) (audit.Event, error)
}

// PatientDirectory is the software's known patients (*patients.Store implements it): Read matches
// received mail against them and Send resolves patient recipients through them.
type PatientDirectory interface {
	ByMatricule(ctx context.Context, matricule string) ([]patients.Patient, error)
	Get(ctx context.Context, id int64) (patients.Patient, error)
}

// Options build an Account. They are plain values so that cmd can fill them from flags or from
// the configuration file alike.
type Options struct {
	// Address is the mailbox address (required).
	Address string
	// Family is the mailbox family; empty means applicative with a certificate, else personal.
	Family autoconfig.Family
	// Credentials are required for every operation that talks to the operator; Discover works
	// without.
	Credentials Credentials
	// Author is the audit author; empty means the token's preferred_username (or sub), the
	// certificate's OU, else Address.
	Author string
	// SMTP and IMAP are the servers; a zero Endpoint is discovered through autoconfig
	// (ECO.1.1.9) at AutoconfigURL (empty: https://autoconfig.<domain>).
	SMTP, IMAP    lps.Endpoint
	AutoconfigURL string
	// Policy is the TLS policy (IGC Santé anchors, revocation). Required to dial; Discover uses
	// the public roots without it.
	Policy *trust.Policy
	// ServerName is the name the server certificates must carry; empty means the endpoint's host.
	ServerName string
	// Audit receives one event per operation (nil: none).
	Audit AuditTrail
	// Recorder, when set, also receives the lps events (after Audit).
	Recorder lps.Recorder
	// Patients are the known patients (nil: none known).
	Patients PatientDirectory
	// PatientDomain is the patients' mail domain; ins.DefaultPatientDomain when empty.
	PatientDomain string
	// NIL is the X-MSS-NIL product reference of composed mail (message.DefaultNIL when empty).
	NIL string
	// Logger receives state changes and audit failures; nil discards.
	Logger *slog.Logger
	// Now gives the time (audit, token expiry, derogation); time.Now when nil.
	Now func() time.Time
	// Trace receives the redacted protocol dialogue (lps.Options.Trace); nil: none.
	Trace io.Writer
}

// Account is one MSSanté mailbox (BAL) and the sessions open on it. Its methods are safe for
// concurrent use; operations on one kind of session are serialised. Close ends the sessions.
type Account struct {
	o      Options
	auth   lps.Auth
	author string
	log    *slog.Logger

	discMu  sync.Mutex
	servers *autoconfig.Servers // discovered, cached

	mu       sync.Mutex // the IMAP session
	imap     *lps.IMAPClient
	imapEP   lps.Endpoint
	selected string

	smtpMu sync.Mutex // the SMTP session
	smtp   *lps.SMTPClient
	smtpEP lps.Endpoint
}

// ErrNoCredentials: the operation talks to the operator and the account has no credentials.
var ErrNoCredentials = errors.New("mailbox: no credentials (token source or client certificate)")

// ErrNoPolicy: the operation dials and the account has no TLS policy.
var ErrNoPolicy = errors.New("mailbox: no TLS policy")

// New checks the options and returns the account. It does no I/O.
func New(o Options) (*Account, error) {
	if _, err := mail.ParseAddress(o.Address); err != nil || strings.ContainsAny(o.Address, "<> ") || !strings.Contains(o.Address, "@") {
		return nil, fmt.Errorf("account: %q is not a mailbox address", o.Address)
	}
	c := o.Credentials
	if c.Tokens != nil && c.Certificate != nil {
		return nil, errors.New("account: a token source and a client certificate are exclusive")
	}
	if o.Family == "" {
		o.Family = autoconfig.FamilyPersonal
		if c.Certificate != nil {
			o.Family = autoconfig.FamilyApplicative
		}
	}
	if _, err := autoconfig.ParseFamily(string(o.Family)); err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Account{o: o, log: o.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.auth = lps.Auth{Address: o.Address}
	switch {
	case c.Tokens != nil:
		a.auth.Method, a.auth.Tokens = lps.AuthXOAUTH2, c.Tokens
	case c.Certificate != nil:
		a.auth.Method, a.auth.Certificate = lps.AuthCertPlain, c.Certificate
	}
	a.author = firstNonEmpty(o.Author, defaultAuthor(c, o.Address))
	return a, nil
}

// defaultAuthor is the certificate's OU (the organisation id), else the address. A token's author
// is read by TokenAuthor, which the caller passes as Options.Author.
func defaultAuthor(c Credentials, address string) string {
	if c.Certificate != nil && len(c.Certificate.Certificate) > 0 {
		if leaf, err := x509.ParseCertificate(c.Certificate.Certificate[0]); err == nil && len(leaf.Subject.OrganizationalUnit) > 0 {
			return leaf.Subject.OrganizationalUnit[0]
		}
	}
	return address
}

// Address is the mailbox address.
func (a *Account) Address() string { return a.o.Address }

// Family is the mailbox family.
func (a *Account) Family() autoconfig.Family { return a.o.Family }

// Author is the audit author of the account's operations.
func (a *Account) Author() string { return a.author }

// Close ends the open sessions (LOGOUT, QUIT).
func (a *Account) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.smtpMu.Lock()
	defer a.smtpMu.Unlock()
	var errs []error
	if a.imap != nil {
		errs = append(errs, a.imap.Close())
		a.imap, a.selected = nil, ""
	}
	if a.smtp != nil {
		errs = append(errs, a.smtp.Close())
		a.smtp = nil
	}
	return errors.Join(errs...)
}

// lpsOptions are the session options for a server: the TLS policy, the audit recorder naming the
// server, the logger.
func (a *Account) lpsOptions(ep lps.Endpoint, extra lps.Recorder) (*lps.Options, error) {
	if a.auth.Method == 0 {
		return nil, ErrNoCredentials
	}
	if a.o.Policy == nil {
		return nil, ErrNoPolicy
	}
	return &lps.Options{TLS: a.o.Policy.ClientConfig(a.o.ServerName, nil), Recorder: a.recorder(ep, extra),
		ClassifyTLSError: trust.ClassifyHandshakeError, Logger: a.log, Now: a.o.Now, Trace: a.o.Trace}, nil
}

// endpoint resolves the server of protocol ("smtp" or "imap") and the login autoconfig gives.
func (a *Account) endpoint(ctx context.Context, protocol string) (lps.Endpoint, lps.Auth, error) {
	auth := a.auth
	given := a.o.SMTP
	if protocol == "imap" {
		given = a.o.IMAP
	}
	if given.Host != "" {
		return given, auth, nil
	}
	servers, err := a.discover(ctx)
	if err != nil {
		return lps.Endpoint{}, auth, err
	}
	s := servers.SMTP
	if protocol == "imap" {
		s = servers.IMAP
	}
	// The operator's <username> (placeholders substituted) is the login; MSSanté operators give
	// the address itself (ECO.1.2.1, ECO.1.3.1).
	if s.Username != "" && s.Username != auth.Address {
		auth.Login = s.Username
	}
	ep, err := StartTLSEndpoint(s)
	return ep, auth, err
}

// connectError is the error of a connection the server or the policy refused, with a hint when
// the certificate does not carry the name the server was reached by, and the likely causes of a
// refused authentication (AuthFailure).
func (a *Account) connectError(ep lps.Endpoint, err error) error {
	if errors.Is(err, lps.ErrAuth) {
		return a.authFailure(ep, err)
	}
	var re *trust.RefusalError
	if errors.As(err, &re) && re.Rule == trust.RuleHostname && a.o.ServerName == "" {
		return fmt.Errorf("connection to %s refused: %w (give the name in the certificate with --server-name)", ep, err)
	}
	return fmt.Errorf("connection to %s refused: %w", ep, err)
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
