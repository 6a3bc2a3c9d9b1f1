package sandbox

import (
	"context"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/lps"
)

// The wiring `mssante serve --sandbox` is to use: our PSC client, as the public client
// SandboxClientID, logs a professional in by CIBA at the world's emulator (approved as on the
// e-CPS app), and the access token opens every mailbox World.Mailboxes lists for him at the
// operator (ECO.1.2.1).
func TestPSCClientAgainstWorld(t *testing.T) {
	w := world(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := psc.New(ctx, psc.Config{Issuer: w.PSC.Issuer, DiscoveryURL: w.PSC.DiscoveryURL(), ClientID: SandboxClientID})
	if err != nil {
		t.Fatal(err)
	}
	paul := w.Config.Professionals[1]
	auth, err := c.StartCIBA(ctx, psc.CIBARequest{LoginHint: paul.NationalID})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PSC.Approve(auth.AuthReqID); err != nil {
		t.Fatal(err)
	}
	toks, err := c.PollCIBA(ctx, auth)
	if err != nil {
		t.Fatal(err)
	}
	defer toks.Zero()
	tg := sandboxTarget(t, w)
	boxes := w.Mailboxes(paul.NationalID)
	if len(boxes) < 2 {
		t.Fatalf("Mailboxes(%s) = %v", paul.NationalID, boxes)
	}
	for _, box := range boxes {
		tg.inbox(t, lps.Auth{Method: lps.AuthXOAUTH2, Address: box,
			Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return string(toks.Access), nil })})
	}
}
