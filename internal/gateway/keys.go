package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// KeyPrefix starts every API key (so that a leaked key is recognisable by secret scanners).
const KeyPrefix = "mssgw_"

// CreateKey returns a new API key for mailbox: 256 random bits, shown once; only its SHA-256 is
// kept in the store.
func CreateKey(ctx context.Context, db interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}, rnd io.Reader, mailbox, now string) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", fmt.Errorf("create API key: %w", err)
	}
	key := KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, `INSERT INTO gateway_keys (hash, mailbox, created_at) VALUES (?, ?, ?)`,
		keyHash(key), canon(mailbox), now); err != nil {
		return "", fmt.Errorf("create API key: %w", err)
	}
	return key, nil
}

// CreateKey stores a new API key for mailbox and returns it.
func (g *Gateway) CreateKey(ctx context.Context, mailbox string) (string, error) {
	return CreateKey(ctx, g.db, g.o.Rand, mailbox, formatTime(g.o.Now()))
}

func keyHash(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// errUnauthenticated: no usable credentials (401); errForbidden: credentials for another mailbox (403).
var (
	errUnauthenticated = errors.New("authentification requise : clé d'API (Authorization: Bearer …) ou certificat client")
	errBadKey          = errors.New("clé d'API inconnue ou révoquée")
)

// caller returns the mailbox the request is authenticated for: its API key's, else its verified
// client certificate's (an email address of the certificate that is one of the gateway's
// mailboxes).
func (g *Gateway) caller(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		key, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || key == "" {
			return "", errUnauthenticated
		}
		want := keyHash(key)
		var hash, mailbox string
		err := g.db.QueryRowContext(r.Context(), `SELECT hash, mailbox FROM gateway_keys WHERE hash = ?`, want).Scan(&hash, &mailbox)
		if errors.Is(err, sql.ErrNoRows) {
			return "", errBadKey
		}
		if err != nil {
			return "", err
		}
		if subtle.ConstantTimeCompare([]byte(hash), []byte(want)) != 1 {
			return "", errBadKey
		}
		return mailbox, nil
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		if mb, ok := g.certMailbox(r.TLS.VerifiedChains[0][0]); ok {
			return mb, nil
		}
	}
	return "", errUnauthenticated
}

func (g *Gateway) certMailbox(c *x509.Certificate) (string, bool) {
	for _, e := range append(append([]string{}, c.EmailAddresses...), c.Subject.CommonName) {
		if g.hasMailbox(e) {
			return canon(e), true
		}
	}
	return "", false
}
