package annuaire

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// importSmall imports testdata/extraction_small.txt (BOM, CRLF, a duplicate, two bad lines) into
// a new data directory and returns the index.
func importSmall(t testing.TB) (*Index, *ImportResult) {
	t.Helper()
	dir := t.TempDir()
	res, err := Import(context.Background(), filepath.Join("testdata", "extraction_small.txt"), dir, nil)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	x := OpenIndex(filepath.Join(dir, IndexFile))
	t.Cleanup(func() { x.Close() })
	return x, res
}

func addresses(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Address)
	}
	return out
}

func find(t testing.TB, x *Index, q Query) []string {
	t.Helper()
	got, err := x.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return addresses(got)
}

// ECO.3.1.4: the import reads every line, deduplicates the addresses and counts bad lines.
func TestImport_countsDuplicatesAndBadLines(t *testing.T) {
	_, res := importSmall(t)
	if res.Rows != 11 || res.Entries != 8 || res.Duplicates != 1 || res.BadLines != 2 {
		t.Errorf("Import = rows %d entries %d duplicates %d bad %d, want 11 8 1 2",
			res.Rows, res.Entries, res.Duplicates, res.BadLines)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "line 5") {
		t.Errorf("warnings = %q, want two, the first about line 5", res.Warnings)
	}
	if res.IndexBytes == 0 || res.Bytes == 0 {
		t.Errorf("Import sizes = %d, %d; want both > 0", res.Bytes, res.IndexBytes)
	}
}

// ECO.3.1.4: search by name, profession, speciality, organisation, service, city, postcode, with
// and without accents, in any case, the last word as a prefix.
func TestSearch_findsByEveryField(t *testing.T) {
	x, _ := importSmall(t)
	tests := []struct {
		name, text string
		want       []string // expected addresses, in any order (all of them, nothing else)
	}{
		{"last name", "quiberonnais", []string{"jean-noel.quiberonnais@pharmacien.mssante.fr"}},
		{"last name upper case", "CASTAGNOL", []string{"benoit.castagnol@dentiste.mssante.fr"}},
		{"accented name without accents", "ferrandiere", []string{"agathe.ferrandiere@sagefemme.mssante.fr"}},
		{"name with accents", "Ferrandière", []string{"agathe.ferrandiere@sagefemme.mssante.fr"}},
		{"first name without accents", "helene", []string{"helene.zorbalet@medecin.mssante.fr"}},
		{"compound first name", "jean-noël", []string{"jean-noel.quiberonnais@pharmacien.mssante.fr"}},
		{"prefix as typed", "quibe", []string{"jean-noel.quiberonnais@pharmacien.mssante.fr"}},
		{"one-letter prefix", "q", []string{"jean-noel.quiberonnais@pharmacien.mssante.fr"}},
		{"profession", "sage-femme", []string{"agathe.ferrandiere@sagefemme.mssante.fr"}},
		{"profession prefix", "pharmac", []string{"jean-noel.quiberonnais@pharmacien.mssante.fr"}},
		{"speciality", "pediatrie", []string{"zoe.marivaux@medecin.mssante.fr"}},
		{"organisation", "quatre vents", []string{"jean-noel.quiberonnais@pharmacien.mssante.fr"}},
		{"service", "naissance", []string{"agathe.ferrandiere@sagefemme.mssante.fr"}},
		{"city", "brest", []string{"jean-noel.quiberonnais@pharmacien.mssante.fr"}},
		{"city with accents omitted", "saint etienne", []string{"zoe.marivaux@medecin.mssante.fr"}},
		{"postcode", "75013", []string{"benoit.castagnol@dentiste.mssante.fr"}},
		{"postcode prefix", "6900", []string{"helene.zorbalet@medecin.mssante.fr", "secretariat.cardio@chu-zorbalet.mssante.fr"}},
		{"name and city", "marivaux rochelle", []string{"chloe.marivaux@infirmier.mssante.fr"}},
		{"two names", "marivaux", []string{"chloe.marivaux@infirmier.mssante.fr", "zoe.marivaux@medecin.mssante.fr"}},
		{"nothing", "introuvable", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := find(t, x, Query{Text: tt.text})
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("Search(%q) = %q, want %q", tt.text, got, want)
			}
		})
	}
}

// ECO.3.1.4: the name ranks before other fields ("zorbalet" is the doctor's name and a hospital's).
func TestSearch_ranksNamesFirst(t *testing.T) {
	x, _ := importSmall(t)
	got := find(t, x, Query{Text: "zorbalet"})
	want := []string{"helene.zorbalet@medecin.mssante.fr", "secretariat.cardio@chu-zorbalet.mssante.fr"}
	if !slices.Equal(got, want) {
		t.Errorf("Search(zorbalet) = %q, want %q", got, want)
	}
}

// ECO.3.1.4: filters by type, profession (code or label) and department.
func TestSearch_filters(t *testing.T) {
	x, _ := importSmall(t)
	tests := []struct {
		q    Query
		want []string
	}{
		{Query{Text: "zorbalet", Type: TypeORG}, []string{"secretariat.cardio@chu-zorbalet.mssante.fr"}},
		{Query{Text: "zorbalet", Type: TypePER}, []string{"helene.zorbalet@medecin.mssante.fr"}},
		{Query{Text: "marivaux", Profession: "10"}, []string{"zoe.marivaux@medecin.mssante.fr"}},
		{Query{Text: "marivaux", Profession: "infirmier"}, []string{"chloe.marivaux@infirmier.mssante.fr"}},
		{Query{Department: "2A"}, []string{"accueil@msp-ajaccio.mssante.fr"}},
		{Query{Text: "lyon", Department: "69", Type: TypePER}, []string{"helene.zorbalet@medecin.mssante.fr"}},
		{Query{Text: "marivaux", Department: "75"}, nil},
	}
	for _, tt := range tests {
		got := find(t, x, tt.q)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Search(%+v) = %q, want %q", tt.q, got, tt.want)
		}
	}
}

// ECO.3.1.4: the duplicated address keeps the richest line; fields map to the Entry.
func TestSearch_entryFields(t *testing.T) {
	x, _ := importSmall(t)
	got, err := x.Search(context.Background(), Query{Text: "zorbalet", Type: TypePER})
	if err != nil || len(got) != 1 {
		t.Fatalf("Search = %v, %v; want one entry", got, err)
	}
	want := Entry{Address: "helene.zorbalet@medecin.mssante.fr", Type: "PER", NationalID: "810000000001",
		Civility: "DR", LastName: "ZORBALET", FirstName: "Hélène", ProfessionCode: "10", Profession: "Médecin",
		Specialty: "Cardiologie et maladies vasculaires", Organization: "Cabinet Zorbalet", City: "LYON",
		PostalCode: "69003", Department: "69", Source: "local"}
	if got[0] != want {
		t.Errorf("entry = %+v\nwant    %+v", got[0], want)
	}
}

// ECO.3.1.4: a typo in a name still finds it when nothing matches exactly.
func TestSearch_toleratesTypos(t *testing.T) {
	x, _ := importSmall(t)
	for _, text := range []string{"zorbalot", "castagnoll", "quiberonais", "marivoux"} {
		if got := find(t, x, Query{Text: text}); len(got) == 0 {
			t.Errorf("Search(%q) found nothing", text)
		}
	}
	if got := find(t, x, Query{Text: "zorbalot"}); len(got) == 0 || got[0] != "helene.zorbalet@medecin.mssante.fr" {
		t.Errorf("Search(zorbalot) = %q, want the doctor first", got)
	}
}

func TestSearch_limitAndEmpty(t *testing.T) {
	x, _ := importSmall(t)
	if got := find(t, x, Query{Text: "m", Limit: 2}); len(got) != 2 {
		t.Errorf("Search(m, limit 2) = %q, want 2 entries", got)
	}
	if _, err := x.Search(context.Background(), Query{Text: " ,; "}); err != ErrEmptyQuery {
		t.Errorf("Search(punctuation) error = %v, want ErrEmptyQuery", err)
	}
	if _, err := OpenIndex(filepath.Join(t.TempDir(), IndexFile)).Search(context.Background(), Query{Text: "x"}); err != ErrNoIndex {
		t.Errorf("Search without index: error = %v, want ErrNoIndex", err)
	}
}

// ECO.3.1.4: an import replaces the index atomically: an Index opened before sees the new file,
// searches running during the import keep answering, a failed import keeps the old index.
func TestImport_replacesAtomically(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Import(ctx, filepath.Join("testdata", "extraction_small.txt"), dir, nil); err != nil {
		t.Fatal(err)
	}
	x := OpenIndex(filepath.Join(dir, IndexFile))
	defer x.Close()
	if got := find(t, x, Query{Text: "castagnol"}); len(got) != 1 {
		t.Fatalf("before: %q", got)
	}

	// A failed import (not an extraction file) keeps the old index.
	bad := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(bad, []byte("<html>429 Too Many Requests</html>\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, bad, dir, nil); err == nil {
		t.Fatal("Import(html) succeeded")
	}
	if got := find(t, x, Query{Text: "castagnol"}); len(got) != 1 {
		t.Errorf("after a failed import: %q, want the old index", got)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".annuaire-*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %q", tmp)
	}

	// A new file with other content, imported while searches run.
	newFile := filepath.Join(t.TempDir(), "new.txt")
	line := make([]string, extractionColumns)
	line[colType], line[colAddress], line[colLastName], line[colPostalCode] = "PER", "nouveau.venu@medecin.mssante.fr", "VENU", "75001"
	if err := os.WriteFile(newFile, []byte(strings.Join(ExtractionHeader[:], "|")+"\n"+strings.Join(line, "|")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := x.Search(ctx, Query{Text: "m"}); err != nil {
				select {
				case errs <- err:
				default:
				}
				return
			}
		}
	}()
	_, err := Import(ctx, newFile, dir, nil)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Errorf("a search during the import failed: %v", err)
	default:
	}
	if got := find(t, x, Query{Text: "castagnol"}); len(got) != 0 {
		t.Errorf("old entry still found after the import: %q", got)
	}
	if got := find(t, x, Query{Text: "venu"}); len(got) != 1 {
		t.Errorf("new entry not found: %q", got)
	}
}

// FuzzSearch checks that no query text breaks the FTS5 query built from it (syntax injection,
// odd Unicode): a search answers entries or ErrEmptyQuery, never another error.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{`"`, `*`, `a AND b`, `NEAR(a b)`, `{last_name}: x`, `^dup`, `-x`, `Œuvre`,
		`zorbalot`, `d`, `75`, "\x00", `l'hôpital`, `OR`, `NOT marivaux`, `ǅ`, "\u0301e"} {
		f.Add(s, "")
		f.Add(s, "PER")
	}
	x, _ := importSmall(f)
	f.Fuzz(func(t *testing.T, text, typ string) {
		res, err := x.Search(context.Background(), Query{Text: text, Type: typ, Department: typ, Profession: typ})
		if err != nil && err != ErrEmptyQuery {
			t.Fatalf("Search(%q, %q): %v", text, typ, err)
		}
		if len(res) > defaultLimit {
			t.Errorf("%d results, limit %d", len(res), defaultLimit)
		}
	})
}
