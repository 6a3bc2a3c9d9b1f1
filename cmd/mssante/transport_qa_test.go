package main

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/testpki"
)

// TestTransport_clientKeyErrors: an encrypted (passphrase-protected) key, in PKCS#8 or in the
// legacy OpenSSL form, is refused before any connection with a message saying so; a key that does
// not match the certificate names both files; certificate and key in one file work (ECO.1.3.1).
func TestTransport_clientKeyErrors(t *testing.T) {
	dir := t.TempDir()
	pki := testpki.New(t, testpki.Options{RSA: true})
	certFile, keyFile, chainFile := pki.Client("499700000000001", "appli@test.mssante.fr").WriteFiles(t, dir, "appli")
	_, otherKey, _ := pki.Client("499700000000002", "autre@test.mssante.fr").WriteFiles(t, dir, "autre")
	pkcs8 := filepath.Join(dir, "enc8.key")
	writeTestFile(t, pkcs8, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x00}}))
	legacy := filepath.Join(dir, "enc1.key")
	writeTestFile(t, legacy, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2, 3},
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"}}))
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := os.ReadFile(chainFile)
	if err != nil {
		t.Fatal(err)
	}
	der := filepath.Join(dir, "appli.p12")
	writeTestFile(t, der, []byte{0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03})
	combined := filepath.Join(dir, "combined.pem")
	writeTestFile(t, combined, append(chain, key...))

	base := []string{"list", "--account", "appli@test.mssante.fr", "--imap", "127.0.0.1:1", "--trust-root", certFile,
		"--data-dir", filepath.Join(dir, "data"), "--timeout", "5s"}
	for _, tt := range []struct {
		name, cert, key, want string
	}{
		{"PKCS#8 encrypted", certFile, pkcs8, "is encrypted"},
		{"legacy encrypted", certFile, legacy, "is encrypted"},
		{"key of another certificate", certFile, otherKey, "does not match"},
		{"missing key file", certFile, filepath.Join(dir, "none.key"), "no such file"},
		{"PKCS#12 or DER certificate", der, keyFile, "is not PEM"},
		// Loaded fine: the command goes on and fails at the connection (nothing listens on port 1).
		{"certificate, chain and key in one file", combined, combined, "connection to 127.0.0.1:1 refused"},
	} {
		_, errOut, code := runMain(t, append(base, "--cert", tt.cert, "--key", tt.key)...)
		if code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: code %d, stderr %q, want %q", tt.name, code, errOut, tt.want)
		}
	}
}
