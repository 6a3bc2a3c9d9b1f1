package mailstore_test

import (
	"context"
	"testing"

	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// The read receipt policy of an account (ECO.3.1.6): "ask" until the account chooses, then what
// it chose, per account, case of the address ignored; an unknown policy is refused.
func TestSettings_mdnPolicy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ms := mailstore.New(db, nil)
		s, err := ms.Settings(ctx, "Dr.Martin@test.mssante.fr")
		if err != nil || s.MDN != mailstore.MDNAsk || !s.Default {
			t.Fatalf("Settings before any choice = %+v, %v", s, err)
		}
		for _, p := range []mailstore.MDNPolicy{mailstore.MDNAlways, mailstore.MDNNever} {
			if err := ms.SetMDNPolicy(ctx, "Dr.Martin@test.mssante.fr", p); err != nil {
				t.Fatal(err)
			}
			if s, err := ms.Settings(ctx, "dr.martin@test.mssante.fr"); err != nil || s.MDN != p || s.Default {
				t.Errorf("Settings after %s = %+v, %v", p, s, err)
			}
		}
		if s, err := ms.Settings(ctx, "other@test.mssante.fr"); err != nil || s.MDN != mailstore.MDNAsk {
			t.Errorf("another account = %+v, %v", s, err)
		}
		if err := ms.SetMDNPolicy(ctx, "dr.martin@test.mssante.fr", "sometimes"); err == nil {
			t.Error("policy sometimes accepted")
		}
		if _, err := mailstore.ParseMDNPolicy("ALWAYS"); err != nil {
			t.Error(err)
		}
	}, mailstore.Migrations()...)
}
