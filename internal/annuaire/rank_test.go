package annuaire

import "testing"

func TestFoldFast_agreesWithFold(t *testing.T) {
	for _, s := range []string{"Hélène", "SAINT-ÉTIENNE", "Noël Œuvre", "Ångström", "plain", "Zoé 13°", "Łódź", "中文"} {
		if got, want := foldFast(s), Fold(s); got != want {
			t.Errorf("foldFast(%q) = %q, Fold = %q", s, got, want)
		}
	}
}

// ECO.3.1.4: a whole-word match in the last name ranks first, then first names, then the rest.
func TestRankEntries(t *testing.T) {
	entries := []Entry{
		{Address: "1", LastName: "ROBERT", City: "DUPONTVILLE"},
		{Address: "2", LastName: "DURAND", Organization: "Clinique Dupont"},
		{Address: "3", LastName: "DUPONTEL"},
		{Address: "4", LastName: "DUPONT"},
		{Address: "5", FirstName: "Dupont"},
	}
	rankEntries(entries, []string{"Dupont"})
	var got string
	for _, e := range entries {
		got += e.Address
	}
	if got != "45321" {
		t.Errorf("rank order = %s, want 45321", got)
	}
}

func TestEncodeEntry_roundTrip(t *testing.T) {
	e := Entry{Address: "a@b.fr", Type: "PER", NationalID: "8", Civility: "DR", LastName: "É\x1fX", FirstName: "Zoé",
		ProfessionCode: "10", Profession: "Médecin", Specialty: "", Organization: "O", Service: "S", City: "C",
		PostalCode: "75001", Department: "75", Source: "local"}
	got := decodeEntry(encodeEntry(&e))
	e.LastName = "ÉX"
	if got != e {
		t.Errorf("decodeEntry(encodeEntry(e)) = %+v, want %+v", got, e)
	}
}
