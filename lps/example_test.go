package lps_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"

	"github.com/mssante/mssante/lps"
)

// Send a message from a personal mailbox with a Pro Santé Connect token, asking for delivery
// notifications. The TLS configuration comes from package trust (trust.Policy.ClientConfig).
func ExampleSMTPClient_Submit() {
	ctx := context.Background()
	var policy *tls.Config // trust.New(…).ClientConfig(host, nil)
	psc := lps.TokenSourceFunc(func(ctx context.Context) (string, error) {
		return "the current PSC access token", nil // from memory, refreshed by internal/psc
	})
	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: "dr.martin@test.mssante.fr", Tokens: psc}
	c, err := lps.DialSMTP(ctx, lps.Endpoint{Host: "smtp.test.mssante.fr", Port: 587}, auth, &lps.Options{TLS: policy})
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // *lps.SendError: Permanent, Code, Command…
		return
	}
	defer c.Close()
	msg := []byte("From: …\r\nTo: …\r\nSubject: …\r\n\r\n…")
	res, err := c.Submit(ctx, auth.Address, []string{"dr.durand@test.mssante.fr"}, bytes.NewReader(msg), &lps.DSN{})
	fmt.Println(res, err)
}

// Read the unread messages of an applicative mailbox: client certificate, then PLAIN.
func ExampleIMAPClient_FetchBody() {
	ctx := context.Background()
	var policy *tls.Config
	var cert tls.Certificate // ORG AUTH_CLI certificate, OU = organisation id
	auth := lps.Auth{Method: lps.AuthCertPlain, Address: "secretariat@hopital.test.mssante.fr", Certificate: &cert}
	c, err := lps.DialIMAP(ctx, lps.Endpoint{Host: "imap.test.mssante.fr", Port: 143}, auth, &lps.Options{TLS: policy})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer c.Close()
	if _, err := c.Select(ctx, "INBOX"); err != nil {
		return
	}
	uids, _ := c.Search(ctx, lps.Criteria{Unseen: true})
	for _, uid := range uids {
		var eml bytes.Buffer
		if _, err := c.FetchBody(ctx, uid, &eml); err == nil {
			_ = c.SetFlags(ctx, []uint32{uid}, lps.FlagsAdd, lps.FlagSeen)
		}
	}
}
