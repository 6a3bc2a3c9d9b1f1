package patients

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/mssante/mssante/ins"
)

// Names with an apostrophe, a hyphen or a particle are found as users type them: with or without
// the punctuation, joined or not (ECO.3.1.5: find the known patient to write to).
func TestStore_searchJoinedNames(t *testing.T) {
	st := openStore(t)
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
}

// A store of version 2 gets the joined forms on opening (migration 3).
func TestOpen_migratesVersion2JoinedNames(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "patients.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:2] {
		if err := m(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO patients (birth_name, first_name, status, search_key, created_at,
		updated_at) VALUES ('N''DIAYE', 'Awa', 'provisoire', ' n diaye awa ', '2026-01-01T00:00:00Z',
		'2026-01-01T00:00:00Z'); INSERT INTO patient_words VALUES ('n', 1), ('diaye', 1), ('awa', 1);
		PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(tx.Commit(), db.Close()); err != nil {
		t.Fatal(err)
	}
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	got, err := st.Search(ctx, "ndiaye", 0)
	if err != nil || len(got) != 1 || got[0].Identity.BirthName != "N'DIAYE" {
		t.Fatalf("Search(ndiaye) after migration = %+v, %v", got, err)
	}
}
