package trust_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/mssante/mssante/trust"
)

// Connect to an operator's submission server with STARTTLS under the policy: the anchors come
// from `mssante trust update`, the CRL cache lives beside them, and a refusal names its rule.
func ExamplePolicy_Handshake() {
	dataDir := filepath.Join(os.Getenv("HOME"), ".local", "share", "mssante")
	policy, err := trust.New(trust.Options{
		Profile:     trust.ProfileTest,
		AnchorsDir:  filepath.Join(dataDir, "trust"),
		CRLCacheDir: filepath.Join(dataDir, "crl"),
		Logger:      slog.Default(),
	})
	if err != nil {
		fmt.Println(err) // no anchors: run `mssante trust update --profile test`
		return
	}
	ctx := context.Background()
	conn, err := net.Dial("tcp", "smtp.operateur.test.mssante.fr:587")
	if err != nil {
		return
	}
	defer conn.Close()
	// … EHLO, STARTTLS, 220 …
	tlsConn, err := policy.Handshake(ctx, conn, "smtp.operateur.test.mssante.fr", nil)
	var refusal *trust.RefusalError
	if errors.As(err, &refusal) {
		fmt.Println("refused by", refusal.Rule) // e.g. "ECO.1.1.6 revoked (CRL)"
		return
	}
	if err == nil {
		fmt.Println(tlsConn.ConnectionState().Version)
	}
}

// Install the IGC Santé TEST anchors from a folder the administrator trusts; only the
// certificates whose SHA-256 fingerprint is pinned are kept.
func ExampleUpdate() {
	res, err := trust.Update(context.Background(), trust.UpdateOptions{
		Profile: trust.ProfileTest,
		From:    "/etc/mssante/igc-sante-test",
		Dir:     "/var/lib/mssante/trust",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range res.Kept {
		fmt.Println(a.Pin.Name, a.Pin.SHA256)
	}
}
