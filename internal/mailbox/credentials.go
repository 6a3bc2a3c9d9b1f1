package mailbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mssante/mssante/lps"
)

// TokenFile is a token source reading file at each authentication (the token link of
// `mssante login`, a file a script renews). The token is never copied (ECO.1.2.5).
func TokenFile(file string) lps.TokenSource {
	return lps.TokenSourceFunc(func(context.Context) (string, error) { return ReadToken(file) })
}

// ReadToken reads an access token from file (surrounding white space removed). An empty file is
// an error.
func ReadToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	clear(b)
	if tok == "" {
		return "", errors.New("token file is empty")
	}
	return tok, nil
}

// jwtClaims decodes the (unverified) claims of a JWT; false when tok is not one.
func jwtClaims(tok string, v any) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	return json.Unmarshal(payload, v) == nil
}

// TokenAuthor reads the professional's id from the token's claims (preferred_username, else sub)
// for the audit trail, def when tok is not a JWT; the token itself is not kept.
func TokenAuthor(tok, def string) string {
	var claims struct {
		PreferredUsername string `json:"preferred_username"`
		Sub               string `json:"sub"`
	}
	if !jwtClaims(tok, &claims) {
		return def
	}
	return firstNonEmpty(claims.PreferredUsername, claims.Sub, def)
}

// TokenExpiry reads the exp claim of a JWT access token (not verified: for display and for
// telling an expired token from other refusals).
func TokenExpiry(tok string) (time.Time, bool) {
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if !jwtClaims(tok, &claims) {
		return time.Time{}, false
	}
	n, err := claims.Exp.Int64()
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

// LoadClientCertificate reads the ORG AUTH_CLI certificate (with its chain, leaf first) and its
// private key (PKCS#1, PKCS#8 or SEC 1 PEM; both may be in one file). An encrypted key is refused
// with a message saying so: Go cannot decrypt it and a passphrase has no place on the command line.
func LoadClientCertificate(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate key: %w", err)
	}
	defer clear(keyPEM)
	for name, data := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if !bytes.Contains(data, []byte("-----BEGIN ")) {
			return tls.Certificate{}, fmt.Errorf("client certificate: %s is not PEM (DER or PKCS#12?): convert it, e.g. "+
				"openssl pkcs12 -in FILE.p12 -clcerts -nokeys -out cert.pem and openssl pkcs12 -in FILE.p12 -nocerts -noenc -out key.pem", name)
		}
	}
	for rest := keyPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return tls.Certificate{}, fmt.Errorf("client certificate key %s is encrypted (passphrase-protected): "+
				"give an unencrypted key file readable only by you (openssl pkey -in %s -out KEY.pem)", keyFile, keyFile)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate %s / key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}
