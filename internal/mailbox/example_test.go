package mailbox_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/trust"
)

// A personal mailbox: servers from autoconfig, the token read from the login agent's token link
// at each authentication, the inbox listed with the message rules applied, a reply sent.
func Example() {
	ctx := context.Background()
	policy, err := trust.New(trust.Options{Profile: "test", AnchorsDir: "/var/lib/mssante/trust"})
	if err != nil {
		log.Fatal(err)
	}
	acct, err := mailbox.New(mailbox.Options{
		Address:     "dr.martin@test.mssante.fr",
		Credentials: mailbox.Credentials{Tokens: mailbox.TokenFile("/run/user/1000/mssante/dr.martin@test.mssante.fr.token")},
		Policy:      policy,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer acct.Close()
	list, err := acct.List(ctx, "INBOX", &mailbox.ListOptions{Limit: 20})
	if err != nil {
		log.Fatal(err) // a *mailbox.AuthFailure says "jeton expiré" when it is
	}
	for _, m := range list.Messages {
		fmt.Println(m.UID, m.SenderKind, m.DisplaySubject)
	}
	if len(list.Messages) == 0 {
		return
	}
	mail, err := acct.Read(ctx, "INBOX", list.Messages[0].UID)
	if err != nil {
		log.Fatal(err)
	}
	_, err = acct.Send(ctx, &mailbox.Draft{Draft: message.Draft{
		From:   message.Address{Name: "Dr Marie MARTIN", Addr: acct.Address()},
		To:     []message.Address{mail.From},
		Parent: message.ParentOf(mail.Message),
		Text:   "Bien reçu, merci.",
	}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	_ = acct.Flag(ctx, "INBOX", []uint32{mail.UID}, lps.FlagsAdd, lps.FlagSeen)
}
