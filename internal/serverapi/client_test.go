package serverapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/pscemu"
	"github.com/mssante/mssante/internal/server"
	"github.com/mssante/mssante/internal/serverapi"
)

// lpsServer is the intermediate LPS server in front of the PSC emulator.
func lpsServer(t *testing.T) (*pscemu.Server, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	eo := pscemu.Options{ClientSecret: "secret-de-test", Professionals: pscemu.DefaultProfessionals, AccessTTL: 2 * time.Second}
	emu, err := pscemu.Start(ctx, &eo)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = http.NotFoundHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	client, err := psc.New(ctx, psc.Config{Issuer: emu.Issuer, DiscoveryURL: emu.DiscoveryURL(),
		ClientID: emu.ClientID(), ClientSecret: []byte(eo.ClientSecret), RedirectURL: ts.URL + "/auth/callback"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{PSC: client, Mailboxes: func(_ context.Context, u *psc.UserInfo) ([]string, error) {
		for _, p := range eo.Professionals {
			if p.NationalID == u.SubjectNameID {
				return p.Mailboxes, nil
			}
		}
		return nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	h = srv.Handler()
	return emu, ts.URL
}

// The thick client against the real server: CIBA login, the professional, a mailbox token, the
// event stream ending with the session (ECO.1.2.6), logout. The JSON both sides use is this
// package's.
func TestClient_cibaTokenEventsECO_1_2_6(t *testing.T) {
	emu, base := lpsServer(t)
	pro := pscemu.DefaultProfessionals[0]
	c, err := serverapi.NewClient(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.OnPending = func(p serverapi.Pending) {
		go func() {
			for range 100 {
				for _, r := range emu.Pending() {
					if r.NationalID == pro.NationalID && r.BindingMessage == p.BindingMessage {
						_ = emu.Approve(r.AuthReqID)
						return
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	ctx := context.Background()
	if err := c.LoginCIBA(ctx, pro.NationalID, "MOBILE"); err != nil {
		t.Fatalf("LoginCIBA: %v", err)
	}
	me, err := c.Me(ctx)
	if err != nil || me.NationalID != pro.NationalID || !me.HasMailbox(strings.ToUpper(pro.Mailboxes[0])) || me.Session.Kind != "bearer" {
		t.Fatalf("Me = %+v, %v", me, err)
	}
	tok, exp, err := c.Token(ctx, pro.Mailboxes[0])
	if err != nil || strings.Count(string(tok), ".") != 2 || exp.IsZero() {
		t.Fatalf("Token = %d bytes, %v, %v", len(tok), exp, err)
	}
	if _, _, err := c.Token(ctx, "inconnu@test.mssante.fr"); err == nil || !strings.Contains(err.Error(), "unknown_mailbox") {
		t.Errorf("Token(other mailbox) = %v", err)
	}
	ready := make(chan struct{}, 1)
	done := make(chan string, 1)
	go func() {
		reason, _ := c.Follow(ctx, func(kind string) {
			if kind == "ready" {
				ready <- struct{}{}
			}
		})
		done <- reason
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("no ready event")
	}
	emu.EndSessions(pro.NationalID)
	select {
	case reason := <-done:
		if reason == "" {
			t.Error("session ended without a reason")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Follow did not see the end of the session")
	}
	c.Logout()
	if _, err := c.Me(ctx); err == nil {
		t.Error("Me after logout succeeded")
	}
}

func TestNewClient_refusesNonHTTP(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "lps.example", "https://"} {
		if _, err := serverapi.NewClient(u, nil); err == nil {
			t.Errorf("NewClient(%q) accepted", u)
		}
	}

}
