package operator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-smtp"

	"github.com/mssante/mssante/trust"
)

// Kind is the kind of a mailbox, as the MSSanté directory classifies them.
type Kind int

const (
	// KindPersonal is a professional's own mailbox (BAL personnelle): XOAUTH2, one national id.
	KindPersonal Kind = iota + 1
	// KindOrganisational is a shared mailbox of a service (BAL organisationnelle): XOAUTH2, the
	// national ids of its members.
	KindOrganisational
	// KindApplicative is a software's mailbox (BAL applicative): ORG AUTH_CLI client certificate
	// whose OU is Account.OrgID, then PLAIN with the address.
	KindApplicative
	// KindPatient is a patient mailbox of the patient domain (Mon espace santé): it receives, it
	// never logs in through this operator.
	KindPatient
)

// String returns "personal", "organisational", "applicative" or "patient".
func (k Kind) String() string {
	switch k {
	case KindPersonal:
		return "personal"
	case KindOrganisational:
		return "organisational"
	case KindApplicative:
		return "applicative"
	case KindPatient:
		return "patient"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for k := KindPersonal; k <= KindPatient; k++ {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown mailbox kind %q", s)
}

// Account is a mailbox of the operator.
type Account struct {
	// Address is the mailbox address (compared case-insensitively).
	Address string
	Kind    Kind
	// NationalIDs are the Pro Santé Connect SubjectNameID values of the professionals who may
	// open the mailbox with XOAUTH2: the owner of a personal mailbox, the members of an
	// organisational one.
	NationalIDs []string
	// OrgID is the organisation id that the OU of an applicative mailbox's client certificate
	// must carry.
	OrgID string
	// Closed marks a patient mailbox closed: mail to it is accepted, then bounced with Mon espace
	// santé's "Message non distribué".
	Closed bool
}

// Claims are what the operator uses of a validated access token.
type Claims struct {
	// SubjectNameID is the professional's national id (PSC claim "SubjectNameID").
	SubjectNameID string
	// Expiry is the token's "exp"; zero means the validator checked it.
	Expiry time.Time
}

// Options configure New. Certificate, ClientCAs and ValidateToken are required.
type Options struct {
	// DataDir holds the mailboxes (DataDir/mail/…); mail survives a restart. Required.
	DataDir string
	// IMAPAddr and SMTPAddr are the listening addresses; default "127.0.0.1:0" (a random port,
	// see Operator.IMAPAddr and Operator.SMTPAddr after Start).
	IMAPAddr, SMTPAddr string
	// Hostname is the server name in greetings and Received headers (default "localhost").
	Hostname string
	// ProDomain, OrgDomain and PatientDomain are the local domains: the professional domain of
	// the operator, an organisation's domain, and the domain standing for patient.mssante.fr.
	// Defaults "sandbox.mssante.test", "hopital.sandbox.mssante.test",
	// "patient.sandbox.mssante.test". Domains of Accounts are local too.
	ProDomain, OrgDomain, PatientDomain string
	// Accounts are the mailboxes; more can be added with Operator.AddAccount.
	Accounts []Account
	// Certificate is the server certificate chain and key presented by STARTTLS. Required.
	Certificate tls.Certificate
	// ClientCAs are the anchors that verify ORG AUTH_CLI client certificates (the test root);
	// ClientIntermediates the intermediates a client may leave out (the ORG CA). Client
	// certificates are requested, never required: only applicative logins need one.
	ClientCAs           *x509.CertPool
	ClientIntermediates []*x509.Certificate
	// CheckClientCert, when set, is called with a verified client chain (leaf first) before an
	// applicative login: the world plugs its CRL/OCSP check here. An error refuses the login.
	CheckClientCert func(ctx context.Context, chain []*x509.Certificate) error
	// ValidateToken validates an XOAUTH2 bearer token (signature, issuer, expiry) and returns its
	// claims. Required.
	ValidateToken func(ctx context.Context, token string) (Claims, error)
	// MaxMessageSize is the per-message limit in bytes (SIZE); default 50 MB. PatientMaxSize
	// applies to messages with a patient recipient; default 25 MB (decimal), like Mon espace santé.
	MaxMessageSize, PatientMaxSize int64
	// QuotaStorage is the storage quota of each mailbox in bytes, all folders together (IMAP
	// QUOTA, RFC 9208, root "User quota"; APPEND and COPY over it get NO [OVERQUOTA]); default
	// 1 GB.
	QuotaStorage int64
	// DisableCondStore turns IMAP CONDSTORE off (RFC 7162 not offered), for tests of clients
	// that must cope with a server without it.
	DisableCondStore bool
	// Logger receives events; nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Default limits.
const (
	DefaultMaxMessageSize = 50_000_000
	DefaultPatientMaxSize = 25_000_000
	DefaultQuotaStorage   = 1_000_000_000
)

// Operator is a running sandbox operator: IMAP and SMTP submission with STARTTLS on 127.0.0.1,
// mailboxes in DataDir. Its methods are safe for concurrent use.
type Operator struct {
	opts  Options
	log   *slog.Logger
	tls   *tls.Config
	store *store

	mu       sync.RWMutex
	accounts map[string]Account // lower-case address
	domains  map[string]bool

	imapLn, smtpLn net.Listener
	smtpPipe       *smtpPipeListener // the front's pipes to go-smtp (front.go)
	imapSrv        *imapserver.Server
	smtpSrv        *smtp.Server
	wg             sync.WaitGroup
	closeOnce      sync.Once
}

// New checks the options, opens the mailbox store in DataDir (I/O: it reads the existing
// mailboxes and creates INBOX, Sent and Trash for every account) and returns an operator that
// Start makes listen.
func New(o Options) (*Operator, error) {
	if o.DataDir == "" {
		return nil, errors.New("operator: Options.DataDir is required")
	}
	if len(o.Certificate.Certificate) == 0 || o.Certificate.PrivateKey == nil {
		return nil, errors.New("operator: Options.Certificate is required")
	}
	if o.ValidateToken == nil {
		return nil, errors.New("operator: Options.ValidateToken is required")
	}
	setDefaults(&o)
	op := &Operator{opts: o, log: o.Logger, accounts: map[string]Account{},
		domains: map[string]bool{o.ProDomain: true, o.OrgDomain: true, o.PatientDomain: true}}
	op.tls = op.serverTLS()
	st, err := openStore(o.DataDir, o.Now)
	if err != nil {
		return nil, err
	}
	op.store = st
	for _, a := range o.Accounts {
		if err := op.AddAccount(a); err != nil {
			return nil, err
		}
	}
	return op, nil
}

func setDefaults(o *Options) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.IMAPAddr, "127.0.0.1:0")
	def(&o.SMTPAddr, "127.0.0.1:0")
	def(&o.Hostname, "localhost")
	def(&o.ProDomain, "sandbox.mssante.test")
	def(&o.OrgDomain, "hopital.sandbox.mssante.test")
	def(&o.PatientDomain, "patient.sandbox.mssante.test")
	o.ProDomain, o.OrgDomain, o.PatientDomain = strings.ToLower(o.ProDomain), strings.ToLower(o.OrgDomain), strings.ToLower(o.PatientDomain)
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.QuotaStorage <= 0 {
		o.QuotaStorage = DefaultQuotaStorage
	}
	if o.PatientMaxSize <= 0 {
		o.PatientMaxSize = DefaultPatientMaxSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// serverTLS is the TLS an MSSanté operator offers (ECO.1.1.1, ECO.1.1.3): TLS 1.2 or later, the
// referential's ECDHE suites for TLS 1.2, a client certificate requested but not required.
func (op *Operator) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates:     []tls.Certificate{op.opts.Certificate},
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     trust.Suites,
		CurvePreferences: trust.Curves,
		ClientAuth:       tls.RequestClientCert,
	}
}

// AddAccount adds a mailbox (or replaces the account of the same address) and creates its
// folders INBOX, Sent and Trash when missing. Its domain becomes local.
func (op *Operator) AddAccount(a Account) error {
	addr := strings.ToLower(strings.TrimSpace(a.Address))
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr, " <>\r\n\x00/\\") {
		return fmt.Errorf("operator: account address %q: invalid", a.Address)
	}
	if a.Kind < KindPersonal || a.Kind > KindPatient {
		return fmt.Errorf("operator: account %s: unknown kind %v", addr, a.Kind)
	}
	if a.Kind == KindApplicative && a.OrgID == "" {
		return fmt.Errorf("operator: applicative account %s: OrgID is required", addr)
	}
	a.Address = addr
	if _, err := op.store.ensureUser(addr); err != nil {
		return err
	}
	op.mu.Lock()
	op.accounts[addr] = a
	op.domains[addr[at+1:]] = true
	op.mu.Unlock()
	return nil
}

// Accounts returns the accounts, in no particular order.
func (op *Operator) Accounts() []Account {
	op.mu.RLock()
	defer op.mu.RUnlock()
	out := make([]Account, 0, len(op.accounts))
	for _, a := range op.accounts {
		out = append(out, a)
	}
	return out
}

// SetClosed opens or closes a patient mailbox.
func (op *Operator) SetClosed(address string, closed bool) error {
	op.mu.Lock()
	defer op.mu.Unlock()
	a, ok := op.accounts[strings.ToLower(address)]
	if !ok {
		return fmt.Errorf("operator: no account %q", address)
	}
	a.Closed = closed
	op.accounts[a.Address] = a
	return nil
}

func (op *Operator) account(address string) (Account, bool) {
	op.mu.RLock()
	defer op.mu.RUnlock()
	a, ok := op.accounts[strings.ToLower(address)]
	return a, ok
}

func (op *Operator) isLocalDomain(address string) bool {
	at := strings.LastIndexByte(address, '@')
	if at < 0 {
		return false
	}
	op.mu.RLock()
	defer op.mu.RUnlock()
	return op.domains[strings.ToLower(address[at+1:])]
}

// isPatient reports whether address is a patient mailbox (its kind, or the patient domain).
func (op *Operator) isPatient(address string) bool {
	if a, ok := op.account(address); ok && a.Kind == KindPatient {
		return true
	}
	return strings.HasSuffix(strings.ToLower(address), "@"+op.opts.PatientDomain)
}

// Start listens on the IMAP and SMTP addresses and serves until Close or until ctx is done.
func (op *Operator) Start(ctx context.Context) error {
	imapLn, err := net.Listen("tcp", op.opts.IMAPAddr)
	if err != nil {
		return fmt.Errorf("operator: imap listen: %w", err)
	}
	smtpLn, err := net.Listen("tcp", op.opts.SMTPAddr)
	if err != nil {
		_ = imapLn.Close()
		return fmt.Errorf("operator: smtp listen: %w", err)
	}
	op.imapLn, op.smtpLn = imapLn, smtpLn
	op.startIMAP(imapLn)
	op.startSMTP(smtpLn)
	context.AfterFunc(ctx, func() { _ = op.Close() })
	op.log.Info("sandbox operator listening", "imap", op.IMAPAddr(), "smtp", op.SMTPAddr())
	return nil
}

// IMAPAddr is the bound IMAP address ("127.0.0.1:port"), empty before Start.
func (op *Operator) IMAPAddr() string { return addrOf(op.imapLn) }

// SMTPAddr is the bound SMTP submission address, empty before Start.
func (op *Operator) SMTPAddr() string { return addrOf(op.smtpLn) }

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Close stops the servers, closes the sessions and waits for them to end. Mail already accepted
// is on disk.
func (op *Operator) Close() error {
	var err error
	op.closeOnce.Do(func() {
		if op.imapSrv != nil {
			err = errors.Join(err, ignoreClosed(op.imapSrv.Close()))
		}
		if op.smtpSrv != nil {
			err = errors.Join(err, ignoreClosed(op.smtpSrv.Close()))
		}
		// The servers close only the listeners their Serve has registered: a Close right after
		// Start may come first, so close the listeners here too.
		for _, ln := range []net.Listener{op.imapLn, op.smtpLn} {
			if ln != nil {
				err = errors.Join(err, ignoreClosed(ln.Close()))
			}
		}
		if op.smtpPipe != nil {
			_ = op.smtpPipe.Close()
		}
		op.wg.Wait()
	})
	return err
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "server closed") {
		return nil
	}
	return err
}

// slogWriter turns the log.Logger lines of the emersion servers into Debug events.
type slogWriter struct {
	log   *slog.Logger
	proto string
}

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(strings.TrimSpace(string(p)), "proto", w.proto)
	return len(p), nil
}

var _ io.Writer = slogWriter{}
