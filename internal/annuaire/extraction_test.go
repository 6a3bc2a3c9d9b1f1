package annuaire

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

var header = strings.Join(ExtractionHeader[:], "|")

// row returns a data line with the given columns set.
func row(cols map[int]string) string {
	f := make([]string, extractionColumns)
	for i, v := range cols {
		f[i] = v
	}
	return strings.Join(f, "|")
}

func readAll(t *testing.T, input string) ([]Entry, ReadStats, error) {
	t.Helper()
	var got []Entry
	st, err := ReadExtraction(strings.NewReader(input), func(e Entry) error {
		got = append(got, e)
		return nil
	})
	return got, st, err
}

// ECO.3.1.4: the columns map to the entry; the city comes from the L6 line, the department from
// its column or the postcode.
func TestReadExtraction_mapsColumns(t *testing.T) {
	input := header + "\n" + row(map[int]string{colType: "PER", colAddress: " a.b@medecin.mssante.fr ",
		colNationalID: "810000000001", colCivility: "DR", colLastName: "BÉRANGER", colFirstName: "Zoé",
		colProfessionCode: "10", colProfession: "Médecin", colSpecialty: "Pédiatrie", colService: "Urgences",
		colOrganization: "", colTradeName: "Clinique du Lac", colL6: "97400 SAINT-DENIS", colPostalCode: "97400"}) + "\n"
	got, st, err := readAll(t, input)
	if err != nil || st.Rows != 1 || st.BadLines != 0 || len(got) != 1 {
		t.Fatalf("ReadExtraction = %v, %+v, %v", got, st, err)
	}
	want := Entry{Address: "a.b@medecin.mssante.fr", Type: "PER", NationalID: "810000000001", Civility: "DR",
		LastName: "BÉRANGER", FirstName: "Zoé", ProfessionCode: "10", Profession: "Médecin", Specialty: "Pédiatrie",
		Organization: "Clinique du Lac", Service: "Urgences", City: "SAINT-DENIS", PostalCode: "97400",
		Department: "974", Source: "local"}
	if got[0] != want {
		t.Errorf("entry = %+v\nwant    %+v", got[0], want)
	}
}

func TestReadExtraction_header(t *testing.T) {
	tests := []struct {
		name, input string
		wantErr     bool
		warnings    int
	}{
		{"bom and crlf", "\ufeff" + header + "\r\n", false, 0},
		{"names without suffix nor accents", strings.ReplaceAll(strings.ReplaceAll(header, " structure BAL", ""), "é", "e") + "\n", false, 0},
		{"renamed column warns", strings.Replace(header, "Code Profession", "Code profession PS", 1) + "\n", false, 1},
		{"empty", "", true, 0},
		{"html", "<html><body>Too many requests</body></html>\n", true, 0},
		{"first column renamed", strings.Replace(header, "Type de BAL", "Nom", 1) + "\n", true, 0},
		{"30 columns", strings.TrimSuffix(header, "|Pays structure BAL") + "\n", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, st, err := readAll(t, tt.input)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrNotExtraction) {
				t.Errorf("error %v is not ErrNotExtraction", err)
			}
			if len(st.Warnings) != tt.warnings {
				t.Errorf("warnings = %v, want %d", st.Warnings, tt.warnings)
			}
		})
	}
}

// ECO.3.1.4: bad lines are skipped and counted, with their line number, and the read goes on.
func TestReadExtraction_badLines(t *testing.T) {
	good := row(map[int]string{colType: "ORG", colAddress: "accueil@ch.mssante.fr"})
	long := row(map[int]string{colType: "PER", colAddress: "x@y.fr", colService: strings.Repeat("x", maxLine)})
	input := header + "\r\n" + good + "\r\n" + "PER|court@x.fr\r\n\r\n" + row(map[int]string{colType: "PER"}) +
		"\r\n" + long + "\n" + good + "|en trop\n" + "\xff\xfe" + good
	got, st, err := readAll(t, input)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 6 || st.BadLines != 4 || len(got) != 2 {
		t.Fatalf("rows %d bad %d entries %d, want 6 4 2 (warnings %v)", st.Rows, st.BadLines, len(got), st.Warnings)
	}
	var le *LineError
	if !errors.As(st.Warnings[0], &le) || le.Line != 3 {
		t.Errorf("first warning = %v, want line 3", st.Warnings[0])
	}
	if !utf8.ValidString(got[1].Type) {
		t.Errorf("invalid UTF-8 kept: %q", got[1].Type)
	}
}

func TestReadExtraction_stopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	input := header + "\n" + row(map[int]string{colType: "PER", colAddress: "a@b.fr"}) + "\n"
	if _, err := ReadExtraction(strings.NewReader(input), func(Entry) error { return stop }); err != stop {
		t.Errorf("error = %v, want the callback's", err)
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{"Hélène": "helene", "ÇA": "ca", "Noël-Zoé": "noel-zoe", "plain": "plain"} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzReadExtraction checks the line parser on arbitrary input: it never fails after a valid
// header, every entry has an address, and rows = entries + bad lines.
func FuzzReadExtraction(f *testing.F) {
	f.Add(row(map[int]string{colType: "PER", colAddress: "a@b.fr", colLastName: "É"}))
	f.Add("PER|a@b.fr")
	f.Add("\r\n\r\n|||")
	f.Add(strings.Repeat("|", extractionColumns-1))
	f.Add(row(map[int]string{colType: "ORG", colAddress: "x@y", colL6: "75001", colPostalCode: "75001"}) + "\n\xff")
	f.Fuzz(func(t *testing.T, body string) {
		n := 0
		st, err := ReadExtraction(strings.NewReader(header+"\n"+body), func(e Entry) error {
			n++
			if !strings.Contains(e.Address, "@") || !utf8.ValidString(e.LastName) {
				t.Errorf("bad entry %+v", e)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("ReadExtraction: %v", err)
		}
		if st.Rows != n+st.BadLines {
			t.Errorf("rows %d != entries %d + bad %d", st.Rows, n, st.BadLines)
		}
	})
}
