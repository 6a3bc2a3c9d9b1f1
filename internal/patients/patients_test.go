package patients

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/fold"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// matricule builds a synthetic test matricule with its computed key.
func matricule(t *testing.T, number string) ins.Matricule {
	t.Helper()
	m, err := ins.FromNumber(number)
	if err != nil {
		t.Fatalf("FromNumber(%q): %v", number, err)
	}
	return m
}

func date(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := ParseBirthDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// heloise is a synthetic qualified identity under the test OID.
func heloise(t *testing.T) Patient {
	return Patient{
		Identity: ins.Identity{
			INS:       ins.INS{Matricule: matricule(t, "2790351215189"), OID: ins.OIDTest},
			BirthName: "LEFÈVRE", UsedName: "DURAND-ŒILLET", FirstName: "Héloïse", GivenNames: "Héloïse Anaïs",
			BirthDate: date(t, "1979-03-12"), Sex: ins.SexFemale, BirthplaceCode: "51215",
		},
		Status: StatusQualified,
	}
}

// leo is a child born in 2015 (a minor), qualified.
func leo(t *testing.T) Patient {
	return Patient{
		Identity: ins.Identity{
			INS:       ins.INS{Matricule: matricule(t, "1150575123456"), OID: ins.OIDTest},
			BirthName: "MARTIN", FirstName: "Léo", GivenNames: "Léo Jules",
			BirthDate: date(t, "2015-05-02"), Sex: ins.SexMale,
		},
		Status: StatusQualified,
	}
}

func add(t *testing.T, st *Store, p Patient) Patient {
	t.Helper()
	p, err := st.Add(context.Background(), p)
	if err != nil {
		t.Fatalf("Add(%s): %v", p.Identity.BirthName, err)
	}
	return p
}

func TestStore_addGetRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := New(db)
		want := heloise(t)
		want.Opposition = true
		got := add(t, st, want)
		if got.ID == 0 || got.CreatedAt.IsZero() {
			t.Fatalf("Add returned id %d, created %v", got.ID, got.CreatedAt)
		}
		back, err := st.Get(context.Background(), got.ID)
		if err != nil {
			t.Fatal(err)
		}
		if back.Identity != want.Identity || back.Status != want.Status || !back.Opposition {
			t.Errorf("Get = %+v, want %+v", back, want)
		}
		if _, err := st.Get(context.Background(), 999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(999) error = %v, want ErrNotFound", err)
		}
	}, Migrations...)
}

func TestStore_addRejectsDuplicateINS(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := New(db)
		add(t, st, heloise(t))
		if _, err := st.Add(context.Background(), heloise(t)); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("second Add error = %v, want ErrDuplicate", err)
		}
		// The same matricule under another OID is another identity.
		other := heloise(t)
		other.Identity.INS.OID = ins.OIDDemo
		add(t, st, other)
		ps, err := st.ByMatricule(context.Background(), other.Identity.INS.Matricule.String())
		if err != nil || len(ps) != 2 {
			t.Fatalf("ByMatricule = %d patients, %v; want 2", len(ps), err)
		}
	}, Migrations...)
}

func TestStore_reopenKeepsDataAndSchema(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			url := storetest.URL(t, d)
			ctx := context.Background()
			st, err := Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			p := add(t, st, heloise(t))
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st, err = Open(ctx, url) // migrations already applied: must not run twice
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = st.Close() }()
			if _, err := st.Get(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
			if v, err := st.db.Version(ctx, "patients"); err != nil || v != len(Migrations) {
				t.Errorf("patients schema version = %d, %v; want %d", v, err, len(Migrations))
			}
		})
	}
}

func TestStore_searchFoldsAccentsAndCase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := New(db)
		h := add(t, st, heloise(t))
		l := add(t, st, leo(t))
		tests := []struct {
			query string
			want  []int64
		}{
			{"heloise", []int64{h.ID}},
			{"HÉLOÏSE lefe", []int64{h.ID}},
			{"lefevre", []int64{h.ID}},
			{"oeillet", []int64{h.ID}}, // used name, ligature expanded
			{"durand", []int64{h.ID}},
			{"anais", []int64{h.ID}}, // second given name
			{"leo", []int64{h.ID, l.ID}[1:]},
			{"jules martin", []int64{l.ID}},
			{"eloise", nil}, // word prefix, not substring
			{"2790", []int64{h.ID}},
			{"1 15 05", []int64{l.ID}},
			{"3", nil},
		}
		for _, tt := range tests {
			got, err := st.Search(context.Background(), tt.query, 0)
			if err != nil {
				t.Fatalf("Search(%q): %v", tt.query, err)
			}
			var ids []int64
			for _, p := range got {
				ids = append(ids, p.ID)
			}
			if len(ids) != len(tt.want) || (len(ids) > 0 && ids[0] != tt.want[0]) {
				t.Errorf("Search(%q) = %v, want %v", tt.query, ids, tt.want)
			}
		}
		if _, err := st.Search(context.Background(), " - ", 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("Search of punctuation: error %v, want ErrInvalid", err)
		}
	}, Migrations...)
}

func TestStore_listAndUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := New(db)
		ctx := context.Background()
		l := add(t, st, leo(t))
		add(t, st, heloise(t))
		l.Opposition = true
		if _, err := st.Update(ctx, l); err != nil {
			t.Fatal(err)
		}
		all, err := st.List(ctx)
		if err != nil || len(all) != 2 {
			t.Fatalf("List = %d, %v", len(all), err)
		}
		if all[0].Identity.BirthName != "LEFÈVRE" || !all[1].Opposition {
			t.Errorf("List order or update wrong: %s first, opposition %v", all[0].Identity.BirthName, all[1].Opposition)
		}
	}, Migrations...)
}

func TestValidate(t *testing.T) {
	wrongKey, _ := ins.Parse("279035121518988")
	tests := []struct {
		name   string
		edit   func(*Patient)
		reason string // expected in the French error; "" means valid
	}{
		{"qualified", func(*Patient) {}, ""},
		{"no birth name", func(p *Patient) { p.Identity.BirthName = " " }, "nom de naissance manquant"},
		{"no first name", func(p *Patient) { p.Identity.FirstName = "" }, "premier prénom manquant"},
		{"wrong key", func(p *Patient) { p.Identity.INS.Matricule = wrongKey }, "clé du matricule"},
		{"unknown OID", func(p *Patient) { p.Identity.INS.OID = "1.2.3" }, "OID \"1.2.3\" inconnu"},
		{"bad status", func(p *Patient) { p.Status = "certifiee" }, "statut d'identité inconnu"},
		{"qualified without birth date", func(p *Patient) { p.Identity.BirthDate = time.Time{} }, "date de naissance"},
		{"qualified with INS-C", func(p *Patient) { p.Identity.INS.OID = ins.OIDCalculated }, "OID qualifiant"},
		{"provisional without birth date", func(p *Patient) {
			p.Status, p.Identity.BirthDate = StatusProvisional, time.Time{}
		}, ""},
		{"provisional without INS", func(p *Patient) {
			p.Status, p.Identity.INS = StatusProvisional, ins.INS{}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := heloise(t)
			tt.edit(&p)
			err := p.Validate()
			switch {
			case tt.reason == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.reason != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.reason)):
				t.Errorf("Validate() = %v, want ErrInvalid with %q", err, tt.reason)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]Status{
		"qualifiee": StatusQualified, "Qualifiée": StatusQualified, "identité récupérée": StatusRetrieved,
		"VALIDEE": StatusValidated, "provisoire": StatusProvisional,
	} {
		if got, err := ParseStatus(in); err != nil || got != want {
			t.Errorf("ParseStatus(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseStatus("douteuse"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseStatus(douteuse) error = %v", err)
	}
}

// ECO.2.2.6, ECO.3.1.5: the address is built from a qualified INS only.
func TestAddress_qualifiedOnly_ECO_2_2_6(t *testing.T) {
	p := heloise(t)
	addr, err := p.Address("")
	if want := p.Identity.INS.Matricule.String() + "@" + ins.DefaultPatientDomain; err != nil || addr != want {
		t.Fatalf("Address() = %q, %v; want %q", addr, err, want)
	}
	if addr, _ := p.Address("patient.test"); !strings.HasSuffix(addr, "@patient.test") {
		t.Errorf("Address(patient.test) = %q", addr)
	}
	for _, st := range []Status{StatusProvisional, StatusRetrieved, StatusValidated} {
		p.Status = st
		_, err := p.Address("")
		var re *RefusalError
		if !errors.As(err, &re) || !errors.Is(err, ErrNotQualified) || !re.DerogationPossible {
			t.Fatalf("status %s: Address error = %v, want a RefusalError with derogation possible", st, err)
		}
		if !strings.Contains(err.Error(), st.Label()) {
			t.Errorf("status %s: refusal %q does not name the status", st, err)
		}
	}
	// A "qualified" status with an incomplete identity (e.g. read from an old record) is refused too.
	p = heloise(t)
	p.Identity.Sex = ins.SexUnknown
	if _, err := p.Address(""); !errors.Is(err, ErrNotQualified) || !errors.Is(err, ins.ErrNotQualified) ||
		!strings.Contains(err.Error(), "sexe") {
		t.Errorf("identity without sex: Address error = %v", err)
	}
}

// ECO.3.1.5: minors are written to at their own address, with no special casing.
func TestAddress_minorAtOwnAddress_ECO_3_1_5(t *testing.T) {
	p := leo(t)
	addr, err := p.Address("")
	if err != nil || addr != p.Identity.INS.Matricule.String()+"@"+ins.DefaultPatientDomain {
		t.Fatalf("child born 2015: Address() = %q, %v", addr, err)
	}
}

func TestAddress_oppositionRefusesEvenDerogation(t *testing.T) {
	p := heloise(t)
	p.Opposition = true
	if _, err := p.Address(""); !errors.Is(err, ErrOpposition) || !strings.Contains(err.Error(), "opposé") {
		t.Errorf("Address with opposition: %v", err)
	}
	var re *RefusalError
	if _, err := p.Derogation("", time.Now()); !errors.As(err, &re) || re.DerogationPossible || !errors.Is(err, ErrOpposition) {
		t.Errorf("Derogation with opposition: %v", err)
	}
}

// ECO.2.2.6 derogation: key checked, birth date and sex decoded for the professional to confirm.
func TestDerogation_decodesForConfirmation_ECO_2_2_6(t *testing.T) {
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	p := leo(t)
	p.Status = StatusProvisional
	d, err := p.Derogation("", now)
	if err != nil {
		t.Fatal(err)
	}
	if d.Decoded.Sex != ins.SexMale || d.BirthYear != 2015 || d.Decoded.Month != time.May ||
		d.Address != p.Identity.INS.Matricule.String()+"@"+ins.DefaultPatientDomain {
		t.Errorf("Derogation = %+v", d)
	}
	p.Identity.INS = ins.INS{}
	if _, err := p.Derogation("", now); !errors.Is(err, ErrNotQualified) {
		t.Errorf("Derogation without NIR: %v", err)
	}
}

func TestDerogationTyped_refusals(t *testing.T) {
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	m := matricule(t, "2790351215189").String()
	if d, err := DerogationTyped(m, "", now); err != nil || d.Decoded.Sex != ins.SexFemale || d.BirthYear != 1979 {
		t.Fatalf("DerogationTyped(%s) = %+v, %v", m, d, err)
	}
	wrong := m[:13] + map[bool]string{true: "01", false: "02"}[m[13:] != "01"]
	tests := []struct{ nir, reason string }{
		{wrong, "la clé du NIR"},
		{m[:13], "15 caractères"},
		{matricule(t, "3790351215189").String(), "premier chiffre"}, // 3 is not a sex
	}
	for _, tt := range tests {
		_, err := DerogationTyped(tt.nir, "", now)
		var re *RefusalError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.reason) || !strings.HasPrefix(err.Error(), "dérogation refusée") {
			t.Errorf("DerogationTyped(%q) = %v, want a refusal with %q", tt.nir, err, tt.reason)
		}
	}
	if _, err := DerogationTyped(wrong, "", now); !errors.Is(err, ins.ErrKey) {
		t.Errorf("wrong key does not wrap ins.ErrKey: %v", err)
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"Hélène-Œdipe  d'Arc": "helene oedipe d arc",
		"  ÆSOP  ":            "aesop",
		"Ünal Çelik":          "unal celik",
		"":                    "",
	} {
		if got := fold.Words(in); got != want {
			t.Errorf("fold.Words(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzFold(f *testing.F) {
	for _, s := range []string{"Héloïse LEFÈVRE", "DURAND-ŒILLET", "d'Arc", "\xff\xfe", "ǅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := fold.Words(s)
		if fold.Words(got) != got {
			t.Fatalf("fold not idempotent: %q -> %q -> %q", s, got, fold.Words(got))
		}
		if strings.Contains(got, "  ") || strings.TrimSpace(got) != got {
			t.Fatalf("fold.Words(%q) = %q has stray spaces", s, got)
		}
	})
}

// legacyV1 is the schema of the first releases' patients.db (PRAGMA user_version = 1).
const legacyV1 = `CREATE TABLE patients (
		id INTEGER PRIMARY KEY,
		matricule TEXT NOT NULL DEFAULT '',
		oid TEXT NOT NULL DEFAULT '',
		birth_name TEXT NOT NULL,
		used_name TEXT NOT NULL DEFAULT '',
		first_name TEXT NOT NULL,
		given_names TEXT NOT NULL DEFAULT '',
		birth_date TEXT NOT NULL DEFAULT '',
		sex TEXT NOT NULL DEFAULT '',
		birthplace_code TEXT NOT NULL DEFAULT '',
		status TEXT NOT NULL,
		opposition INTEGER NOT NULL DEFAULT 0,
		search_key TEXT NOT NULL,
		created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL
	);
	CREATE UNIQUE INDEX patients_ins ON patients(matricule, oid) WHERE matricule <> '';
	CREATE INDEX patients_names ON patients(birth_name, first_name);`

// legacyFile writes a patients.db of the earlier releases with the statements given.
func legacyFile(t *testing.T, statements string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), LegacyFileName)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(statements); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A base of the first schema version (a separate patients.db) is imported into the main database:
// its patients get the word index, and importing again adds nothing.
func TestImportLegacy_version1(t *testing.T) {
	path := legacyFile(t, legacyV1+`; INSERT INTO patients (matricule, oid, birth_name, first_name, birth_date, sex, status, opposition, search_key, created_at,
		updated_at) VALUES ('279035121518989', '1.2.250.1.213.1.4.10', 'LEFÈVRE', 'Héloïse', '1979-03-12', 'F', 'qualifiee', 1, ' lefevre heloise ', '2026-01-01T00:00:00Z',
		'2026-01-02T00:00:00Z'); PRAGMA user_version = 1`)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st := New(db)
		if n, err := st.ImportLegacy(ctx, path); err != nil || n != 1 {
			t.Fatalf("ImportLegacy = %d, %v", n, err)
		}
		got, err := st.Search(ctx, "helo", 0)
		if err != nil || len(got) != 1 || got[0].Identity.BirthName != "LEFÈVRE" || !got[0].Opposition ||
			got[0].Status != StatusQualified || got[0].CreatedAt.Format(time.DateOnly) != "2026-01-01" {
			t.Fatalf("Search after import = %+v, %v", got, err)
		}
		if n, err := st.ImportLegacy(ctx, path); err != nil || n != 0 {
			t.Fatalf("second ImportLegacy = %d, %v; want 0", n, err)
		}
	}, Migrations...)
}
