package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
)

// Default listening addresses, shared by `mssante sandbox` and `mssante serve --sandbox` (one
// world, one lock): ports that need no root, stable across restarts (the certificates carry the
// revocation URL), in one block of their own, 25xxx, away from the ports development tools take
// (1143 and 1025 of mail bridges, 8080, 18080…) and below the ephemeral range.
const (
	DefaultIMAPAddr  = "127.0.0.1:25143"
	DefaultSMTPAddr  = "127.0.0.1:25587"
	DefaultHTTPSAddr = "127.0.0.1:25443" // autoconfig
	DefaultHTTPAddr  = "127.0.0.1:25080" // CRL and OCSP
	DefaultPSCAddr   = "127.0.0.1:25081" // Pro Santé Connect emulator
)

// Default domains: the operator's professional domain, an organisation's domain, and the domain
// standing for Mon espace santé's patient.mssante.fr.
const (
	DefaultProDomain     = "sandbox.mssante.test"
	DefaultOrgDomain     = "hopital.sandbox.mssante.test"
	DefaultPatientDomain = "patient.sandbox.mssante.test"
)

// configFile is the world description in the data directory, written on the first start and
// updated with the bound addresses at each start. `mssante sandbox env` and `sandbox token` read it.
const configFile = "sandbox.json"

// Config is the persisted description of a sandbox world (<data-dir>/sandbox.json).
type Config struct {
	Version int `json:"version"`
	// Addresses actually bound at the last start.
	IMAP  string `json:"imap"`
	SMTP  string `json:"smtp"`
	HTTPS string `json:"https"`
	HTTP  string `json:"http"`
	PSC   string `json:"psc"`
	// Domains.
	ProDomain     string `json:"pro_domain"`
	OrgDomain     string `json:"org_domain"`
	PatientDomain string `json:"patient_domain"`
	// Seeded is set once the seed mails were delivered.
	Seeded        bool           `json:"seeded"`
	Accounts      []Account      `json:"accounts"`
	Professionals []Professional `json:"professionals"`
	Patients      []Patient      `json:"patients"`
}

// Account is a mailbox of the sandbox, as `sandbox env` prints it.
type Account struct {
	Address string `json:"address"`
	// Kind is personal, organisational, applicative or patient.
	Kind string `json:"kind"`
	// NationalID is the Pro Santé Connect id (SubjectNameID) of the professional who opens a
	// personal mailbox, or of the first member of an organisational one; the INS matricule of a
	// patient mailbox's holder; empty for an applicative mailbox.
	NationalID string `json:"national_id"`
	// NationalIDs are all the professionals who may open the mailbox with XOAUTH2.
	NationalIDs []string `json:"national_ids,omitempty"`
	// OrgID is the organisation id (OU of the client certificate) of an applicative mailbox.
	OrgID string `json:"org_id,omitempty"`
	// Cert and Key are the client certificate (leaf then intermediate) and key files of an
	// applicative mailbox.
	Cert string `json:"cert"`
	Key  string `json:"key"`
	// Closed marks a closed patient mailbox (mail to it bounces).
	Closed bool `json:"closed"`
	// Name is a display name.
	Name string `json:"name,omitempty"`
}

// Professional is a test professional of the PSC emulator.
type Professional struct {
	NationalID string   `json:"national_id"`
	GivenName  string   `json:"given_name"`
	FamilyName string   `json:"family_name"`
	Profession string   `json:"profession"`
	Mailboxes  []string `json:"mailboxes"`
}

// Patient is a test patient. INS is empty for the patient without a qualified identity.
type Patient struct {
	BirthName  string `json:"birth_name"`
	GivenNames string `json:"given_names"`
	UsedName   string `json:"used_name,omitempty"`
	BirthDate  string `json:"birth_date"` // YYYY-MM-DD
	Sex        string `json:"sex"`        // M, F
	INS        string `json:"ins,omitempty"`
	OID        string `json:"oid,omitempty"`
	Mailbox    string `json:"mailbox,omitempty"`
	Closed     bool   `json:"closed,omitempty"`
	IPP        string `json:"ipp,omitempty"`
}

// ErrNoSandbox means the data directory holds no sandbox (it was never started there).
var ErrNoSandbox = errors.New("no sandbox in this data directory: run `mssante sandbox` first")

// LoadConfig reads <dataDir>/sandbox.json.
func LoadConfig(dataDir string) (*Config, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, configFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dataDir, ErrNoSandbox)
	}
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", configFile, err)
	}
	return &c, nil
}

func (c *Config) save(dataDir string) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dataDir, configFile), append(data, '\n'), 0o644)
}

// Env is what `mssante sandbox env` prints: where a client finds the world.
type Env struct {
	// Running tells whether a sandbox process holds the data directory now; when false, the
	// addresses are those of the last start and nothing listens there.
	Running       bool      `json:"running"`
	AutoconfigURL string    `json:"autoconfig_url"`
	TrustRoot     string    `json:"trust_root"`
	IMAP          string    `json:"imap"`
	SMTP          string    `json:"smtp"`
	PSC           string    `json:"psc_url"`
	Revocation    string    `json:"revocation_url"`
	Directory     string    `json:"directory_file"`
	Domains       []string  `json:"domains"`
	Accounts      []Account `json:"accounts"`
	Patients      []Patient `json:"patients"`
}

// EnvOf returns the environment of the sandbox in dataDir, running or not (Env.Running says).
func EnvOf(dataDir string) (*Env, error) {
	c, err := LoadConfig(dataDir)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	e := c.env(abs)
	e.Running, _ = Running(abs)
	return e, nil
}

// AutoconfigHost is the host name handed out for a listening address: "localhost" for a loopback
// IP, because clients such as mbsync verify the server certificate's DNS names only, never its IP
// addresses (the sandbox's server certificate names localhost).
func AutoconfigHost(addr string) (host, port string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		host = "localhost"
	}
	return host, port
}

func (c *Config) env(dataDir string) *Env {
	return &Env{
		AutoconfigURL: "https://" + c.HTTPS,
		TrustRoot:     filepath.Join(dataDir, "pki", "root.pem"),
		IMAP:          c.IMAP, SMTP: c.SMTP,
		PSC:        "http://" + c.PSC,
		Revocation: "http://" + c.HTTP,
		Directory:  filepath.Join(dataDir, directoryFile),
		Domains:    []string{c.ProDomain, c.OrgDomain, c.PatientDomain},
		Accounts:   append([]Account{}, c.Accounts...),
		Patients:   append([]Patient{}, c.Patients...),
	}
}
