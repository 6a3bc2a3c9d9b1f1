package patients

import (
	"context"
	"testing"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// Names with an apostrophe, a hyphen or a particle are found as users type them: with or without
// the punctuation, joined or not (ECO.3.1.5: find the known patient to write to).
func TestStore_searchJoinedNames(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := New(db)
		p := add(t, st, Patient{
			Identity: ins.Identity{
				INS:       ins.INS{Matricule: matricule(t, "1800575115042"), OID: ins.OIDTest},
				BirthName: "D'ALMEIDA", UsedName: "LE GOFF-ÉRARD", FirstName: "Jean-Noël", GivenNames: "Jean-Noël Yann",
				BirthDate: date(t, "1980-05-12"), Sex: ins.SexMale,
			},
			Status: StatusQualified,
		})
		for _, q := range []string{"d'almeida", "D’ALMEIDA", "dalmeida", "dalm", "almeida", "legoff", "le goff", "legofferard", "erard", "jeannoel", "jean noel"} {
			got, err := st.Search(context.Background(), q, 0)
			if err != nil || len(got) != 1 || got[0].ID != p.ID {
				t.Errorf("Search(%q) = %v, %v; want the patient", q, got, err)
			}
		}
		if got, _ := st.Search(context.Background(), "almeidad", 0); len(got) != 0 {
			t.Errorf("Search(almeidad) = %v, want nothing", got)
		}
	}, Migrations...)
}

// A base of version 2 gets the joined forms on import (its search keys are computed afresh).
func TestImportLegacy_version2JoinedNames(t *testing.T) {
	path := legacyFile(t, legacyV1+`; CREATE TABLE patient_words (
			word TEXT NOT NULL,
			patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
			PRIMARY KEY (word, patient_id)
		) WITHOUT ROWID;
		INSERT INTO patients (birth_name, first_name, status, search_key, created_at,
		updated_at) VALUES ('N''DIAYE', 'Awa', 'provisoire', ' n diaye awa ', '2026-01-01T00:00:00Z',
		'2026-01-01T00:00:00Z'); INSERT INTO patient_words VALUES ('n', 1), ('diaye', 1), ('awa', 1);
		PRAGMA user_version = 2`)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st := New(db)
		if _, err := st.ImportLegacy(ctx, path); err != nil {
			t.Fatal(err)
		}
		got, err := st.Search(ctx, "ndiaye", 0)
		if err != nil || len(got) != 1 || got[0].Identity.BirthName != "N'DIAYE" {
			t.Fatalf("Search(ndiaye) after import = %+v, %v", got, err)
		}
	}, Migrations...)
}
