package sandbox

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Revoke revokes, in the sandbox of dataDir (running or not), the client certificate of the
// applicative mailbox address, or the operator's server certificate when address is "server". The
// CRL and OCSP answers list it at once and a running operator refuses the client certificate at
// its next login (ECO.1.1.6). It returns the revoked certificate.
func Revoke(dataDir, address string) (*x509.Certificate, error) {
	c, err := LoadConfig(dataDir)
	if err != nil {
		return nil, err
	}
	p := &pki{dir: filepath.Join(dataDir, "pki"), revoked: map[string]time.Time{}}
	file := ""
	if address == "server" {
		file = p.path("server.pem")
	}
	for _, a := range c.Accounts {
		if strings.EqualFold(a.Address, address) {
			if a.Cert == "" {
				return nil, fmt.Errorf("%s is a %s mailbox: only applicative mailboxes have a client certificate", a.Address, a.Kind)
			}
			file = a.Cert
		}
	}
	if file == "" {
		return nil, fmt.Errorf("no mailbox %q in the sandbox (or \"server\")", address)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no certificate", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	return cert, p.revoke(cert)
}
