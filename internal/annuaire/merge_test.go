package annuaire

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func fixed(entries []Entry, err error) Source {
	return SourceFunc(func(context.Context, Query) ([]Entry, error) { return entries, err })
}

// ECO.3.1.4: several directories answer as one, deduplicated by address, keeping the richest.
func TestMerge_dedupesKeepingRichest(t *testing.T) {
	local := fixed([]Entry{
		{Address: "a.dupont@medecin.mssante.fr", LastName: "DUPONT"},
		{Address: "b@x.fr", LastName: "B"},
	}, nil)
	fhir := fixed([]Entry{
		{Address: "A.Dupont@Medecin.mssante.fr", LastName: "DUPONT", FirstName: "Anne", Profession: "Médecin"},
		{Address: "c@x.fr", LastName: "C"},
	}, nil)
	got, err := Merge(NamedSource("local", local), NamedSource("fhir", fhir)).Search(context.Background(), Query{Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A.Dupont@Medecin.mssante.fr", "b@x.fr", "c@x.fr"}; !slices.Equal(addresses(got), want) {
		t.Fatalf("Merge = %q, want %q", addresses(got), want)
	}
	if got[0].FirstName != "Anne" || got[0].Source != "fhir" || got[1].Source != "local" {
		t.Errorf("merged entries = %+v", got)
	}
}

// ECO.3.1.4: a failing directory does not hide the others' results.
func TestMerge_keepsResultsOfOthersOnError(t *testing.T) {
	down := errors.New("connection refused")
	got, err := Merge(
		NamedSource("ldap", fixed(nil, down)),
		NamedSource("local", fixed([]Entry{{Address: "a@x.fr"}}, nil)),
	).Search(context.Background(), Query{Text: "a"})
	if !errors.Is(err, down) || !strings.Contains(err.Error(), "ldap") {
		t.Errorf("error = %v, want the ldap error", err)
	}
	if len(got) != 1 || got[0].Address != "a@x.fr" {
		t.Errorf("results = %v, want the local one", got)
	}
}

func TestMerge_concurrentAndLimited(t *testing.T) {
	var running, peak atomic.Int32
	slow := SourceFunc(func(ctx context.Context, q Query) ([]Entry, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		return []Entry{{Address: q.Text + "1@x.fr"}, {Address: q.Text + "2@x.fr"}, {Address: q.Text + "3@x.fr"}}, nil
	})
	got, err := Merge(slow, slow, slow).Search(context.Background(), Query{Text: "a", Limit: 2})
	if err != nil || len(got) != 2 {
		t.Errorf("Merge = %v, %v; want 2 entries (limit)", got, err)
	}
	if peak.Load() < 2 {
		t.Errorf("sources ran one at a time (peak %d)", peak.Load())
	}
}

// ECO.3.1.4: the compose screen's directory gives the local index's answers first, then FHIR's,
// deduplicated; a FHIR failure leaves the local answers.
func TestInOrder_localThenRemote(t *testing.T) {
	local := fixed([]Entry{{Address: "a@x.fr", LastName: "A"}, {Address: "b@x.fr", LastName: "B"}}, nil)
	fhir := fixed([]Entry{{Address: "c@x.fr"}, {Address: "B@x.fr", LastName: "B", FirstName: "Bruno"}, {Address: "d@x.fr"}}, nil)
	got, err := InOrder(NamedSource("local", local), NamedSource("fhir", fhir)).Search(context.Background(), Query{Text: "x", Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a@x.fr", "B@x.fr", "c@x.fr", "d@x.fr"}; !slices.Equal(addresses(got), want) {
		t.Fatalf("InOrder = %q, want %q", addresses(got), want)
	}
	if got[1].FirstName != "Bruno" || got[0].Source != "local" || got[2].Source != "fhir" {
		t.Errorf("entries = %+v", got)
	}
	down := errors.New("connection refused")
	got, err = InOrder(NamedSource("local", local), NamedSource("fhir", fixed(nil, down))).Search(context.Background(), Query{Text: "x"})
	if !errors.Is(err, down) || !strings.Contains(err.Error(), "fhir") || len(got) != 2 {
		t.Errorf("FHIR down: %q, %v; want the local entries and the fhir error", addresses(got), err)
	}
}
