package operator_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"

	"github.com/mssante/mssante/internal/sandbox/operator"
)

// An operator with a professional, an applicative and a closed patient mailbox. The sandbox world
// supplies the server certificate, the ORG CA and the token validation of the PSC emulator.
func ExampleNew() {
	var (
		serverCert tls.Certificate   // server chain and key (test IGC Santé)
		root       *x509.CertPool    // test root
		orgCA      *x509.Certificate // ORG intermediate
		validate   = func(ctx context.Context, token string) (operator.Claims, error) {
			return operator.Claims{}, errors.New("check the JWT against the emulator's JWKS here")
		}
	)
	op, err := operator.New(operator.Options{
		DataDir:     "/tmp/sandbox/operator",
		Certificate: serverCert, ClientCAs: root, ClientIntermediates: []*x509.Certificate{orgCA},
		ValidateToken: validate,
		Accounts: []operator.Account{
			{Address: "marie.martin@sandbox.mssante.test", Kind: operator.KindPersonal, NationalIDs: []string{"810000000001"}},
			{Address: "dpi@hopital.sandbox.mssante.test", Kind: operator.KindApplicative, OrgID: "499700000000001"},
			{Address: "162039205432104@patient.sandbox.mssante.test", Kind: operator.KindPatient, Closed: true},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := op.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer op.Close()
	fmt.Println("IMAP", op.IMAPAddr(), "SMTP", op.SMTPAddr())
}
