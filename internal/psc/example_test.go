package psc_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/pscemu"
)

// A CIBA login against the emulator, then a Holder that feeds the mail sessions.
func Example() {
	ctx := context.Background()
	emu, err := pscemu.Start(ctx, &pscemu.Options{ClientSecret: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = emu.Close() }()

	cfg := psc.Config{Issuer: emu.Issuer, ClientID: emu.ClientID(), ClientSecret: []byte("secret")}
	c, err := psc.New(ctx, cfg) // reads <issuer>/.well-known/wallet-openid-configuration
	if err != nil {
		log.Fatal(err)
	}
	a, err := c.StartCIBA(ctx, psc.CIBARequest{LoginHint: "899700000018", Channel: psc.ChannelMobile})
	if err != nil {
		log.Fatal(err)
	}
	// The professional approves on the e-CPS app; here the emulator's sandbox does it.
	for _, p := range emu.Pending() {
		_ = emu.Approve(p.AuthReqID)
	}
	tok, err := c.PollCIBA(ctx, a)
	if err != nil {
		log.Fatal(err)
	}
	h := psc.NewHolder(tok, c, nil) // lps.Auth{Method: lps.AuthXOAUTH2, Tokens: h, …}
	defer func() { _ = h.Logout(ctx) }()
	go func() { _ = h.Run(ctx) }()
	fmt.Println(h.Claims().SubjectNameID, len(a.BindingMessage))
	// Output: 899700000018 2
}
