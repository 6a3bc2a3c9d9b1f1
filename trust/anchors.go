package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Profile selects the IGC Santé certificates trusted for API LPS connections.
type Profile string

const (
	// ProfileProduction trusts the production IGC Santé ELEMENTAIRE root and its ORGANISATIONS
	// intermediate (the operators' production servers).
	ProfileProduction Profile = "production"
	// ProfileTest trusts the IGC Santé TEST ELEMENTAIRE root and its ORGANISATIONS intermediate
	// (operators' test platforms).
	ProfileTest Profile = "test"
)

// String returns the profile name.
func (p Profile) String() string { return string(p) }

// ParseProfile parses "production" or "test" (empty means production).
func ParseProfile(s string) (Profile, error) {
	switch Profile(s) {
	case "", ProfileProduction:
		return ProfileProduction, nil
	case ProfileTest:
		return ProfileTest, nil
	}
	return "", fmt.Errorf("unknown trust profile %q (want production or test)", s)
}

// Role says what a pinned certificate is in the IGC Santé hierarchy.
type Role string

const (
	RoleRoot         Role = "root"         // self-signed root (trust anchor)
	RoleOrganisation Role = "organisation" // ELEMENTAIRE ORGANISATIONS intermediate (ECO.1.1.10)
)

// Pin is an IGC Santé certificate the client trusts, identified by the SHA-256 fingerprint of its
// DER encoding. The certificates themselves are public, but are not shipped: `mssante trust
// update` downloads them from the ANS publication point (or reads them from a file the
// administrator names) and keeps only those whose fingerprint is pinned here.
type Pin struct {
	Name    string // short name, also the file name in the anchors directory: "ACR-EL"
	CN      string // subject common name
	Profile Profile
	Role    Role
	SHA256  string // lower-case hex
}

// Pins are the IGC Santé certificates of the ELEMENTAIRE range used for server authentication of
// API LPS endpoints (ECO.1.1.10), both valid until June 2033. Other certificates of the
// publication bundle (PERSONNES, STANDARD, FORT ranges) are deliberately not trusted.
var Pins = []Pin{
	{"ACR-EL", "AC RACINE IGC-SANTE ELEMENTAIRE", ProfileProduction, RoleRoot,
		"2d9e22ca19f777c6b745257c723ecb8df3c35fa6f1f6ec36b83600c97346967f"},
	{"ACI-EL-ORG", "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS", ProfileProduction, RoleOrganisation,
		"d834ee5b40686b73573f60547bf6052c6d404d942a5665cdb2c0b9137b5d27b2"},
	{"ACR-EL-TEST", "TEST AC RACINE IGC-SANTE ELEMENTAIRE", ProfileTest, RoleRoot,
		"01325aeb193871eec90fa89556804e4185cb362e0ca87a3d79939c71186da805"},
	{"ACI-EL-ORG-TEST", "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS", ProfileTest, RoleOrganisation,
		"dc528e3788691b3f7950164076f95b02c64334c68662bdede5750b4e0e5338f6"},
}

// PublicationURL returns the ANS publication point of the certificate chain bundle (PKCS #7) of a
// profile. It is plain HTTP: integrity comes from the pins, not from the transport.
func PublicationURL(p Profile) string {
	if p == ProfileTest {
		return "http://igc-sante.esante.gouv.fr/AC/Chaine_de_certification-IGC-Sante-TEST.p7b"
	}
	return "http://igc-sante.esante.gouv.fr/AC/Chaine_de_certification-IGC-Sante.p7b"
}

// Fingerprint returns the SHA-256 fingerprint of a certificate, lower-case hex.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// PinOf returns the pin matching c, if any.
func PinOf(c *x509.Certificate) (Pin, bool) {
	fp := Fingerprint(c)
	for _, p := range Pins {
		if p.SHA256 == fp {
			return p, true
		}
	}
	return Pin{}, false
}

// Anchor is a pinned certificate found in the anchors directory or given in memory.
type Anchor struct {
	Pin  Pin
	Cert *x509.Certificate
}

// SelectPinned keeps, from certs, the certificates pinned for profile (any profile when profile
// is empty), once each, in the order of Pins.
func SelectPinned(certs []*x509.Certificate, profile Profile) []Anchor {
	byFP := map[string]*x509.Certificate{}
	for _, c := range certs {
		byFP[Fingerprint(c)] = c
	}
	var out []Anchor
	for _, p := range Pins {
		if profile != "" && p.Profile != profile {
			continue
		}
		if c, ok := byFP[p.SHA256]; ok {
			out = append(out, Anchor{Pin: p, Cert: c})
		}
	}
	return out
}

// maxCertFile bounds the size of a certificate file read by ReadCertificates.
const maxCertFile = 8 << 20

// ReadCertificates reads every certificate of a file, or of the files of a directory (not
// recursive): PEM (one or more CERTIFICATE or PKCS7 blocks), DER certificate, or PKCS #7 bundle
// (.p7b, DER or PEM-armoured). Files that hold no certificate are skipped in a directory, an error
// for a single file.
func ReadCertificates(path string) ([]*x509.Certificate, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return readCertFile(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var all []*x509.Certificate
	for _, n := range names {
		certs, err := readCertFile(filepath.Join(path, n))
		if err != nil {
			continue
		}
		all = append(all, certs...)
	}
	return all, nil
}

func readCertFile(path string) ([]*x509.Certificate, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxCertFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxCertFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// ParseCertificates parses PEM (CERTIFICATE and PKCS7 blocks), a DER certificate or a DER PKCS #7
// SignedData bundle.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if strings.Contains(string(data[:min(len(data), 4096)]), "-----BEGIN") {
		var out []*x509.Certificate
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			switch b.Type {
			case "CERTIFICATE":
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return nil, err
				}
				out = append(out, c)
			case "PKCS7":
				certs, err := PKCS7Certificates(b.Bytes)
				if err != nil {
					return nil, err
				}
				out = append(out, certs...)
			}
		}
		if len(out) == 0 {
			return nil, errors.New("no certificate in PEM data")
		}
		return out, nil
	}
	if c, err := x509.ParseCertificate(data); err == nil {
		return []*x509.Certificate{c}, nil
	}
	return PKCS7Certificates(data)
}

// LoadAnchors reads the anchors directory and returns the pinned certificates of profile found
// there.
func LoadAnchors(dir string, profile Profile) ([]Anchor, error) {
	certs, err := ReadCertificates(dir)
	if err != nil {
		return nil, err
	}
	return SelectPinned(certs, profile), nil
}

// SaveAnchors writes each anchor as <dir>/<Pin.Name>.pem (directory created 0755).
func SaveAnchors(dir string, anchors []Anchor) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, a := range anchors {
		data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Cert.Raw})
		if err := writeFileAtomic(filepath.Join(dir, a.Pin.Name+".pem"), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes data to a temporary file in the same directory then renames it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, mode)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
