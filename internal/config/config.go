package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/store"
)

// Config is the effective configuration of one command. The tags give, for each value, its TOML
// key (`toml`, dotted by the section), its environment variable (`env`), its flag (`flag`), its
// static default (`default`) and its help (`help`, where {word} becomes the flag's argument name).
// Derived defaults (data dir, database, sandbox dir, runtime dir) are computed by Load.
type Config struct {
	DataDir       string      `toml:"data_dir" env:"MSSANTE_DATA_DIR" flag:"data-dir" help:"{directory} of the store, caches and audit trail"`
	DB            DatabaseURL `toml:"db" env:"MSSANTE_DB" flag:"db" help:"database {URL}: sqlite:PATH or postgres://… (default sqlite:<data-dir>/mssante.db)"`
	PatientDomain string      `toml:"patient_domain" env:"MSSANTE_PATIENT_DOMAIN" flag:"patient-domain" default:"patient.mssante.fr" help:"mail {domain} of patient mailboxes"`
	AutoconfigURL string      `toml:"autoconfig_url" env:"MSSANTE_AUTOCONFIG_URL" flag:"autoconfig-url" help:"autoconfig base {URL} (default https://autoconfig.<domain>)"`

	Trust    Trust    `toml:"trust"`
	Mail     Mail     `toml:"mail"`
	Message  Message  `toml:"message"`
	PDF      PDF      `toml:"pdf"`
	Annuaire Annuaire `toml:"annuaire"`
	Server   Server   `toml:"server"`
	PSC      PSC      `toml:"psc"`
	Login    Login    `toml:"login"`
	Audit    Audit    `toml:"audit"`
	Sandbox  Sandbox  `toml:"sandbox"`

	// Accounts are the [[account]] tables of the file: the mailboxes a gateway serves, or the
	// accounts a user names with --account. File only.
	Accounts []Account `toml:"account"`

	file    string            // the configuration file read, "" when none
	sources map[string]Source // TOML key → where the value came from
}

// Trust is the TLS policy of the API LPS connections (package trust).
type Trust struct {
	Profile string `toml:"profile" env:"MSSANTE_PROFILE" flag:"profile" default:"production" help:"IGC Santé {profile}: production or test"`
	// Roots REPLACE the IGC Santé anchors (test environments). A relaxation: from the file or
	// the environment it needs AllowRelaxations.
	Roots []string `toml:"roots" env:"MSSANTE_TRUST_ROOTS" flag:"trust-root" sep:"path" relax:"true" help:"PEM {file} of a root that REPLACES the IGC Santé anchors (test environments; repeatable; logged as a relaxation)"`
	// SkipRevocation disables the CRL and OCSP checks. A relaxation.
	SkipRevocation bool `toml:"skip_revocation" env:"MSSANTE_SKIP_REVOCATION" relax:"true" help:"disable the CRL and OCSP checks (a relaxation)"`
	// AllowRelaxations accepts the relaxations given by the file or the environment (a flag on
	// the command line is explicit by itself).
	AllowRelaxations bool `toml:"allow_relaxations" env:"MSSANTE_ALLOW_RELAXATIONS" help:"accept the TLS relaxations (roots, skip_revocation, psc.any_acr) set in the file or the environment"`
	// CRLRefresh is how long a cached CRL is used without a download; 0 downloads at each run
	// (the cache then serves only when the download fails, until the CRL's nextUpdate).
	CRLRefresh time.Duration `toml:"crl_refresh" env:"MSSANTE_CRL_REFRESH" default:"0s" help:"how long a cached CRL is used without a download, a Go {duration}; 0 downloads at each run"`
}

// Mail is the account of a mail command (send, list, fetch, watch, autoconfig, doctor). When
// Account names an [[account]] table, that table gives the credentials and servers unless these
// fields set them.
type Mail struct {
	Account    string `toml:"account" env:"MSSANTE_ACCOUNT" flag:"account" help:"mailbox {address}"`
	TokenFile  string `toml:"token_file" env:"MSSANTE_TOKEN_FILE" flag:"token-file" help:"{file} holding the Pro Santé Connect access token, read at each authentication (XOAUTH2)"`
	Cert       string `toml:"cert" env:"MSSANTE_CERT" flag:"cert" help:"ORG AUTH_CLI client certificate {file} (PEM), applicative mailboxes"`
	Key        string `toml:"key" env:"MSSANTE_KEY" flag:"key" help:"private key {file} of --cert (PEM)"`
	ServerName string `toml:"server_name" env:"MSSANTE_SERVER_NAME" flag:"server-name" help:"{name} the server certificate must carry (default: the server's host; for a server reached by IP address)"`
}

// Message holds the MSSanté mail settings (package message).
type Message struct {
	NIL string `toml:"nil" env:"MSSANTE_NIL" flag:"nil" default:"MSSANTE-OSS" help:"X-MSS-NIL product {reference} (the software's name)"`
}

// PDF holds the CDA to PDF/A settings (package pdfa).
type PDF struct {
	Producer string `toml:"producer" env:"MSSANTE_PDF_PRODUCER" flag:"producer" default:"mssante pdfa" help:"{name} written as the PDF producer"`
	N1AsIs   bool   `toml:"n1_as_is" env:"MSSANTE_N1_AS_IS" flag:"n1-as-is" help:"keep an N1 document's embedded PDF byte for byte even when it is not PDF/A-1 (no Ghostscript conversion)"`
	// SourceDateEpoch fixes the PDF creation date (reproducible-builds.org), seconds since 1970.
	SourceDateEpoch string `toml:"source_date_epoch" env:"SOURCE_DATE_EPOCH" help:"PDF creation date, {seconds} since 1970 (reproducible output)"`
}

// Annuaire holds the directory sources (package annuaire).
type Annuaire struct {
	Source string       `toml:"source" env:"MSSANTE_ANNUAIRE_SOURCE" flag:"source" default:"local" help:"{sources}: local, fhir, ldap, or several comma-separated"`
	FHIR   AnnuaireFHIR `toml:"fhir"`
	LDAP   AnnuaireLDAP `toml:"ldap"`
}

// AnnuaireFHIR is the Annuaire Santé FHIR API.
type AnnuaireFHIR struct {
	URL        string `toml:"url" env:"MSSANTE_FHIR_URL" flag:"fhir-url" default:"https://gateway.api.esante.gouv.fr/fhir/v2" help:"FHIR API base {URL}"`
	APIKeyFile string `toml:"api_key_file" env:"MSSANTE_FHIR_API_KEY_FILE" flag:"fhir-api-key-file" help:"{file} holding the ESANTE-API-KEY (or env MSSANTE_FHIR_API_KEY)"`
	// APIKey is the ESANTE-API-KEY from the environment only (never from the file).
	APIKey Secret `toml:"-" env:"MSSANTE_FHIR_API_KEY" help:"the ESANTE-API-KEY itself (environment only)"`
}

// AnnuaireLDAP is an LDAP directory.
type AnnuaireLDAP struct {
	URL              string   `toml:"url" env:"MSSANTE_LDAP_URL" flag:"ldap-url" help:"LDAP server {URL}"`
	BaseDN           string   `toml:"base_dn" env:"MSSANTE_LDAP_BASE_DN" flag:"ldap-base-dn" help:"LDAP base {DN}"`
	BindDN           string   `toml:"bind_dn" env:"MSSANTE_LDAP_BIND_DN" flag:"ldap-bind-dn" help:"LDAP bind {DN}, anonymous when empty"`
	BindPasswordFile string   `toml:"bind_password_file" env:"MSSANTE_LDAP_BIND_PASSWORD_FILE" flag:"ldap-bind-password-file" help:"{file} holding the LDAP bind password (or env MSSANTE_LDAP_BIND_PASSWORD)"`
	BindPassword     Secret   `toml:"-" env:"MSSANTE_LDAP_BIND_PASSWORD" help:"the LDAP bind password itself (environment only)"`
	Filter           string   `toml:"filter" env:"MSSANTE_LDAP_FILTER" flag:"ldap-filter" help:"LDAP filter {template}"`
	Attributes       []string `toml:"attributes" env:"MSSANTE_LDAP_ATTRIBUTES" flag:"ldap-attr" sep:"," help:"attribute map {field=attribute}, repeatable (last_name=sn)"`
}

// Server is the intermediate LPS server (mssante serve).
type Server struct {
	Listen      string        `toml:"listen" env:"MSSANTE_LISTEN" flag:"listen" default:"127.0.0.1:8080" help:"{address} to listen on; plain HTTP only on a loopback address"`
	TLSCert     string        `toml:"tls_cert" env:"MSSANTE_TLS_CERT" flag:"tls-cert" help:"TLS certificate chain {file} (PEM); enables HTTPS and Secure cookies"`
	TLSKey      string        `toml:"tls_key" env:"MSSANTE_TLS_KEY" flag:"tls-key" help:"TLS private key {file} (PEM) of --tls-cert"`
	PublicURL   string        `toml:"public_url" env:"MSSANTE_PUBLIC_URL" flag:"public-url" help:"external base {URL} (behind a proxy); default from --listen"`
	LogLevel    string        `toml:"log_level" env:"MSSANTE_LOG_LEVEL" flag:"log-level" default:"info" help:"{level} of the JSON logs on stderr: debug, info, warn, error"`
	IdleTimeout time.Duration `toml:"idle_timeout" env:"MSSANTE_IDLE_TIMEOUT" flag:"idle-timeout" default:"30m" help:"end a session unused this long"`
	MaxSession  time.Duration `toml:"max_session" env:"MSSANTE_MAX_SESSION" flag:"max-session" default:"12h" help:"end a session this long after login"`
}

// PSC is the Pro Santé Connect client of the server (package psc).
type PSC struct {
	Env              string   `toml:"env" env:"MSSANTE_PSC" flag:"psc" default:"bas" help:"PSC {environment}: production or bas (sandbox)"`
	Issuer           string   `toml:"issuer" env:"MSSANTE_PSC_ISSUER" flag:"psc-issuer" help:"PSC issuer {URL} (overrides --psc)"`
	DiscoveryURL     string   `toml:"discovery_url" env:"MSSANTE_PSC_DISCOVERY_URL" flag:"psc-discovery-url" help:"PSC discovery {URL} (default issuer + /.well-known/wallet-openid-configuration)"`
	ClientID         string   `toml:"client_id" env:"MSSANTE_PSC_CLIENT_ID" flag:"psc-client-id" help:"client {id} registered at PSC"`
	ClientSecretFile string   `toml:"client_secret_file" env:"MSSANTE_PSC_CLIENT_SECRET_FILE" flag:"psc-client-secret-file" help:"{file} holding the PSC client secret (never on the command line)"`
	ClientCert       string   `toml:"client_cert" env:"MSSANTE_PSC_CLIENT_CERT" flag:"psc-client-cert" help:"client certificate {file} (PEM) for mutual TLS at PSC, instead of a secret"`
	ClientKey        string   `toml:"client_key" env:"MSSANTE_PSC_CLIENT_KEY" flag:"psc-client-key" help:"private key {file} (PEM) of --psc-client-cert"`
	Scopes           string   `toml:"scopes" env:"MSSANTE_PSC_SCOPES" flag:"psc-scopes" help:"{scopes} asked at login, space-separated (default openid scope_all)"`
	NationalIDClaim  string   `toml:"national_id_claim" env:"MSSANTE_PSC_NATIONAL_ID_CLAIM" flag:"psc-national-id-claim" default:"SubjectNameID" help:"userinfo {claim} of the national id (absent: preferred_username, then sub)"`
	MailboxClaims    []string `toml:"mailbox_claims" env:"MSSANTE_PSC_MAILBOX_CLAIMS" flag:"psc-mailbox-claim" sep:"," help:"userinfo {claim} giving the professional's mailboxes (repeatable; default email and mailboxes)"`
	// AnyACR accepts a login whatever acr the provider reports. A relaxation, refused with
	// Env production.
	AnyACR bool `toml:"any_acr" env:"MSSANTE_PSC_ANY_ACR" flag:"psc-any-acr" relax:"true" help:"accept a login whatever acr the provider reports (test providers; refused with --psc production)"`
}

// Login is the client side of the intermediate server (mssante login, watch --server).
type Login struct {
	Server     string `toml:"server" env:"MSSANTE_SERVER" flag:"server" help:"intermediate LPS server {URL}"`
	NationalID string `toml:"national_id" env:"MSSANTE_NATIONAL_ID" flag:"national-id" help:"national {id} (IDNPS) to authenticate by CIBA; without it, a browser login with a user code"`
	Channel    string `toml:"channel" env:"MSSANTE_CIBA_CHANNEL" flag:"channel" default:"MOBILE" help:"where PSC asks for approval: MOBILE (e-CPS app) or CARD (CPS card)"`
	ServerCA   string `toml:"server_ca" env:"MSSANTE_SERVER_CA" flag:"ca-file" help:"PEM {file} of the CA of the server certificate (default: system roots)"`
	RuntimeDir string `toml:"runtime_dir" env:"MSSANTE_RUNTIME_DIR" flag:"runtime-dir" help:"{directory} of the token links (default $XDG_RUNTIME_DIR/mssante)"`
}

// Audit is the audit trail (package audit).
type Audit struct {
	Retention time.Duration `toml:"retention" env:"MSSANTE_AUDIT_RETENTION" default:"4392h" help:"how long audit events are kept, a Go {duration} (default 183 days)"`
}

// Sandbox is the offline MSSanté world (mssante sandbox).
type Sandbox struct {
	Dir string `toml:"dir" env:"MSSANTE_SANDBOX_DIR" flag:"data-dir" help:"sandbox {directory} (default <data-dir>/sandbox)"`
}

// Account is one [[account]] table: a mailbox, its credentials (a token file, or a certificate
// and its key for an applicative mailbox) and optional server overrides.
type Account struct {
	Address       string `toml:"address" json:"address"`
	Family        string `toml:"family" json:"family,omitempty"` // personal or applicative; default from the credentials
	TokenFile     string `toml:"token_file" json:"token_file,omitempty"`
	Cert          string `toml:"cert" json:"cert,omitempty"`
	Key           string `toml:"key" json:"key,omitempty"`
	IMAP          string `toml:"imap" json:"imap,omitempty"` // HOST:PORT instead of autoconfig
	SMTP          string `toml:"smtp" json:"smtp,omitempty"`
	AutoconfigURL string `toml:"autoconfig_url" json:"autoconfig_url,omitempty"`
	ServerName    string `toml:"server_name" json:"server_name,omitempty"`
}

// Families of an account.
const (
	FamilyPersonal    = "personal"
	FamilyApplicative = "applicative"
)

// EffectiveFamily is Family, else applicative with a certificate, else personal.
func (a Account) EffectiveFamily() string {
	switch {
	case a.Family != "":
		return a.Family
	case a.Cert != "":
		return FamilyApplicative
	}
	return FamilyPersonal
}

// File is the configuration file that was read, "" when none.
func (c *Config) File() string { return c.file }

// Source says where the value of key (a TOML key such as "trust.profile") came from.
func (c *Config) Source(key string) Source {
	if s, ok := c.sources[key]; ok {
		return s
	}
	return Source{Kind: FromDefault}
}

// Account returns the [[account]] table of address.
func (c *Config) Account(address string) (Account, bool) {
	for _, a := range c.Accounts {
		if a.Address == address {
			return a, true
		}
	}
	return Account{}, false
}

// MailAccount is the account of a mail command: Mail.Account (else the only [[account]]), its
// [[account]] table when there is one, with the credentials and server name of Mail when they
// are set by a flag, the environment or the file's [mail] table.
func (c *Config) MailAccount() Account {
	addr := c.Mail.Account
	if addr == "" && len(c.Accounts) == 1 {
		addr = c.Accounts[0].Address
	}
	a, ok := c.Account(addr)
	if !ok {
		a = Account{Address: addr}
	}
	if c.Source("mail.token_file").Kind != FromDefault || c.Source("mail.cert").Kind != FromDefault {
		a.TokenFile, a.Cert, a.Key = c.Mail.TokenFile, c.Mail.Cert, c.Mail.Key
	} else if c.Source("mail.key").Kind != FromDefault {
		a.Key = c.Mail.Key
	}
	if c.Source("mail.server_name").Kind != FromDefault {
		a.ServerName = c.Mail.ServerName
	}
	if a.AutoconfigURL == "" || c.Source("autoconfig_url").Kind > FromFile {
		a.AutoconfigURL = c.AutoconfigURL
	}
	return a
}

// DefaultDB is the database URL used without --db: sqlite:<dataDir>/mssante.db (store.DefaultURL).
func DefaultDB(dataDir string) DatabaseURL {
	return DatabaseURL("sqlite:" + filepath.Join(dataDir, "mssante.db"))
}

// DatabaseURL is the URL of the store (sqlite:PATH or postgres://…). Printed, its password is
// hidden (store.Redact, as in the store's own errors); string(u) is the URL itself, for store.Open.
type DatabaseURL string

func (u DatabaseURL) String() string                { return store.Redact(string(u)) }
func (u DatabaseURL) MarshalText() ([]byte, error)  { return []byte(u.String()), nil }
func (u DatabaseURL) Format(f fmt.State, verb rune) { fmt.Fprint(f, u.String()) }

// Dialect is "sqlite" or "postgres" (or "" for an unknown scheme, refused by Load).
func (u DatabaseURL) Dialect() string {
	switch s := string(u); {
	case strings.HasPrefix(s, "sqlite:"):
		return "sqlite"
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return "postgres"
	}
	return ""
}

// Epoch is the fixed PDF creation time of SOURCE_DATE_EPOCH; ok is false when unset.
func (p PDF) Epoch() (t time.Time, ok bool) {
	if p.SourceDateEpoch == "" {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(p.SourceDateEpoch, 10, 64)
	if err != nil {
		return time.Time{}, false // Validate reported it
	}
	return time.Unix(sec, 0).UTC(), true
}

// CRLRefreshOption is CRLRefresh as trust.Options.CRLRefresh wants it: negative for "download
// at every check".
func (t Trust) CRLRefreshOption() time.Duration {
	if t.CRLRefresh == 0 {
		return -1
	}
	return t.CRLRefresh
}

// Secret is a value that is never printed: String, MarshalText and MarshalJSON give "(set)" or
// "" . Reveal gives the value to the code that uses it.
type Secret struct{ v string }

// NewSecret wraps v.
func NewSecret(v string) Secret { return Secret{v} }

// Reveal returns the secret itself, for the one call that needs it.
func (s Secret) Reveal() string { return s.v }

// IsSet reports whether the secret is not empty.
func (s Secret) IsSet() bool { return s.v != "" }

func (s Secret) redacted() string {
	if s.v == "" {
		return ""
	}
	return "(set)"
}

func (s Secret) String() string                { return s.redacted() }
func (s Secret) GoString() string              { return fmt.Sprintf("config.Secret(%q)", s.redacted()) }
func (s Secret) MarshalText() ([]byte, error)  { return []byte(s.redacted()), nil }
func (s Secret) MarshalJSON() ([]byte, error)  { return []byte(strconv.Quote(s.redacted())), nil }
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.redacted()) }
