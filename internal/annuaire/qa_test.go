package annuaire

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// importQA imports testdata/extraction_qa.txt: synthetic lines shaped like the real extraction
// (CRLF, PER and ORG lines, apostrophes and hyphens in names, La Poste abbreviations, Paris
// arrondissements, Corsica with and without a department, DOM, trade names, a duplicate).
func importQA(t *testing.T) *Index {
	t.Helper()
	dir := t.TempDir()
	if _, err := Import(context.Background(), filepath.Join("testdata", "extraction_qa.txt"), dir, nil); err != nil {
		t.Fatalf("Import: %v", err)
	}
	x := OpenIndex(filepath.Join(dir, IndexFile))
	t.Cleanup(func() { x.Close() })
	return x
}

// ECO.3.1.4: the words users type find the expected address first, whether they write names as
// the file does or without the apostrophe, hyphen or particle, abbreviate Saint, or name a Paris
// arrondissement; the trade name of an organisation is searchable.
func TestSearch_ECO_3_1_4_userSpellings(t *testing.T) {
	x := importQA(t)
	cases := []struct{ q, want string }{
		{"d'almeida", "m.dalmeida@medecin.mssante.fr"},
		{"dalmeida", "m.dalmeida@medecin.mssante.fr"},
		{"DALMEI", "m.dalmeida@medecin.mssante.fr"},
		{"almeida st etienne", "m.dalmeida@medecin.mssante.fr"},
		{"almeida saint étienne", "m.dalmeida@medecin.mssante.fr"},
		{"ndiaye", "aminata.ndiaye@infirmier.mssante.fr"},
		{"N’DIAYE", "aminata.ndiaye@infirmier.mssante.fr"},
		{"ndiaye lhay les roses", "aminata.ndiaye@infirmier.mssante.fr"},
		{"legoff erard", "yann.legoff-erard@ch-saint-etienne.mssante.fr"},
		{"le goff", "yann.legoff-erard@ch-saint-etienne.mssante.fr"},
		{"oneill", "francois.oneill@medecin.mssante.fr"},
		{"o'neill lyon 2", "francois.oneill@medecin.mssante.fr"},
		{"saint andre marseille 1", "jm.saint-andre@medecin.mssante.fr"},
		{"leanoelle", "ln.eugene@chirurgien-dentiste.mssante.fr"},
		{"berthelot paris 15", "camille.berthelot@pharmacien.mssante.fr"},
		{"berthelot paris 16", "anne.berthelot@medecin.mssante.fr"},
		{"berthelot paris 16e", "anne.berthelot@medecin.mssante.fr"},
		{"berthelot paris 15ème", "camille.berthelot@pharmacien.mssante.fr"},
		{"saint-andré marseille 1er", "jm.saint-andre@medecin.mssante.fr"},
		{"payet st denis", "c.payet@sagefemme.mssante.fr"},
		{"payet saint-denis", "c.payet@sagefemme.mssante.fr"},
		{"payet saint pierre", "marc.payet@medecin.mssante.fr"},
		{"chu st etienne secretariat", "secretariat.cardio@ch-saint-etienne.mssante.fr"},
		{"biolab", "bal@labo-convention.mssante.fr"},
		{"laboratoire danalyses", "bal@labo-convention.mssante.fr"},
		{"clinique lhay", "accueil@clinique-lhay.mssante.fr"},
		{"généraliste dalmeida", "m.dalmeida@medecin.mssante.fr"},
		{"infirmière n'diaye", "aminata.ndiaye@infirmier.mssante.fr"},
		{"pédiatre marseille", "jm.saint-andre@medecin.mssante.fr"},
	}
	for _, c := range cases {
		got := find(t, x, Query{Text: c.q})
		if len(got) == 0 || got[0] != c.want {
			t.Errorf("search %q: got %v, want %s first", c.q, got, c.want)
		}
	}
}

// A Corsican line without a department gets 2A or 2B from its postcode, so the department
// filter finds it.
func TestSearch_corsicaDepartmentFromPostcode(t *testing.T) {
	x := importQA(t)
	for _, c := range []struct{ dept, q, want string }{
		{"2A", "lefevre", "p.lefevre@kine.mssante.fr"},
		{"2B", "casanova", "s.casanova@medecin.mssante.fr"},
	} {
		got := find(t, x, Query{Text: c.q, Department: c.dept})
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("search %q in %s: got %v, want [%s]", c.q, c.dept, got, c.want)
		}
	}
	for pc, want := range map[string]string{"20000": "2A", "20167": "2A", "20200": "2B", "20600": "2B", "97400": "974", "75015": "75"} {
		if got := departmentOf("", pc); got != want {
			t.Errorf("departmentOf(%q) = %q, want %q", pc, got, want)
		}
	}
}

// The trade name is kept in the entry (JSON trade_name) beside the company name.
func TestSearch_tradeNameInEntry(t *testing.T) {
	x := importQA(t)
	got, err := x.Search(context.Background(), Query{Text: "biolab"})
	if err != nil || len(got) == 0 {
		t.Fatalf("search biolab: %v %v", got, err)
	}
	if got[0].TradeName != "BIOLAB" || got[0].Organization != "LABORATOIRE D'ANALYSES MÉDICALES DE LA CONVENTION" {
		t.Errorf("entry = %+v", got[0])
	}
}

// A relative data directory works (it was read as a URI authority by SQLite and refused).
func TestImport_relativeDataDir(t *testing.T) {
	src, err := filepath.Abs(filepath.Join("testdata", "extraction_qa.txt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	if _, err := Import(context.Background(), src, "data", nil); err != nil {
		t.Fatalf("Import with a relative data dir: %v", err)
	}
	x := OpenIndex(filepath.Join("data", IndexFile))
	defer x.Close()
	if got := find(t, x, Query{Text: "ndiaye"}); len(got) == 0 {
		t.Error("no result from an index at a relative path")
	}
}

func TestJoinedForms(t *testing.T) {
	for in, want := range map[string]string{
		"D'ALMEIDA":       "DALMEIDA",
		"LE GOFF-ÉRARD":   "LEGOFF",
		"JEAN-MARC":       "",
		"DUPONT":          "",
		"L'HAY-LES-ROSES": "LHAY HAYLES LESROSES",
		"CEDEX 2":         "",
	} {
		if got := joinedForms(in); got != want {
			t.Errorf("joinedForms(%q) = %q, want %q", in, got, want)
		}
	}
}

// The city of a line whose L6 postcode is a CEDEX code other than the postcode column.
func TestCityOf_cedexPostcode(t *testing.T) {
	for _, c := range [][3]string{
		{"42055 SAINT-ETIENNE CEDEX 2", "42000", "SAINT-ETIENNE CEDEX 2"},
		{"75015 PARIS", "75015", "PARIS"},
		{"94240 L'HAY-LES-ROSES", "", "L'HAY-LES-ROSES"},
		{"AJACCIO", "20000", "AJACCIO"},
	} {
		if got := cityOf(c[0], c[1]); got != c[2] {
			t.Errorf("cityOf(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// NamedSource does not repeat a name the error already starts with ("fhir: fhir: …").
func TestNamedSource_noDoublePrefix(t *testing.T) {
	for _, c := range [][2]string{{"fhir: HTTP 401", "fhir: HTTP 401"}, {"timeout", "fhir: timeout"}} {
		s := NamedSource("fhir", SourceFunc(func(context.Context, Query) ([]Entry, error) { return nil, errors.New(c[0]) }))
		if _, err := s.Search(context.Background(), Query{Text: "x"}); err == nil || err.Error() != c[1] {
			t.Errorf("error %v, want %q", err, c[1])
		}
	}
}

// collect keeps packed records: name order (name, first name, address; an ORG by its
// organisation), the richest line of a duplicated address (case-insensitive), every field back.
func TestCollect_packedOrderAndDuplicates(t *testing.T) {
	lines := []string{strings.Join(ExtractionHeader[:], "|"),
		row(map[int]string{colType: "PER", colAddress: "z@x.mssante.fr", colLastName: "MARTIN", colFirstName: "Zoé"}),
		row(map[int]string{colType: "ORG", colAddress: "accueil@x.mssante.fr", colOrganization: "CLINIQUE"}),
		row(map[int]string{colType: "PER", colAddress: "A@x.mssante.fr", colLastName: "MARTIN", colFirstName: "Zoé"}),
		row(map[int]string{colType: "PER", colAddress: "a@x.mssante.fr", colLastName: "MARTIN", colFirstName: "Zoé",
			colProfession: "Médecin", colL6: "75015 PARIS", colPostalCode: "75015"}),
	}
	var st BuildStats
	got, err := collect(context.Background(), strings.NewReader(strings.Join(lines, "\n")), &BuildOptions{}, &st)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range got {
		order = append(order, decodeEntry(p.rec).Address)
	}
	if want := []string{"accueil@x.mssante.fr", "a@x.mssante.fr", "z@x.mssante.fr"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if e := decodeEntry(got[1].rec); st.Duplicates != 1 || e.Profession != "Médecin" || e.City != "PARIS" || e.Department != "75" {
		t.Errorf("duplicates %d, kept %+v", st.Duplicates, e)
	}
}
