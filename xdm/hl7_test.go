package xdm

import (
	"testing"
	"time"

	"github.com/mssante/mssante/cda"
)

func TestDTM(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	tests := []struct {
		raw  string
		time time.Time
		want string
	}{
		{"20250314103000+0100", time.Date(2025, 3, 14, 10, 30, 0, 0, time.FixedZone("", 3600)), "20250314093000"},
		{"202503141030", time.Date(2025, 3, 14, 10, 30, 0, 0, paris), "202503140930"},
		{"19790328", time.Date(1979, 3, 28, 0, 0, 0, 0, paris), "19790328"}, // a date stays as written
		{"2025", time.Date(2025, 1, 1, 0, 0, 0, 0, paris), "2025"},
		{"", time.Time{}, ""},
	}
	for _, tt := range tests {
		if got := dtm(cda.TS{Raw: tt.raw, Time: tt.time}); got != tt.want {
			t.Errorf("dtm(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestHL7Values(t *testing.T) {
	p := &cda.Person{ID: cda.II{Root: "1.2.250.1.71.4.2.1", Extension: "810000000001"},
		Name: cda.Name{Prefix: "Dr", Given: []string{"Anne-Marie", "Claire"}, Family: "D'ARC^&"}}
	tests := []struct{ name, got, want string }{
		{"XCN", XCN(p), `810000000001^D'ARC\S\\T\^Anne-Marie^^^Dr^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS`},
		{"XCN without id", XCN(&cda.Person{Name: cda.Name{Family: "X"}}), "^X^^^^^^^^D"},
		{"XCN nil", XCN(nil), ""},
		{"XON", XON(&cda.Organization{ID: cda.II{Root: "1.2.250.1.71.4.2.2", Extension: "1750000000001"}, Name: "Cabinet"}),
			"Cabinet^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750000000001"},
		{"XON name only", XON(&cda.Organization{Name: "Cabinet"}), "Cabinet"},
		{"CX", CX(cda.II{Root: "1.2.3", Extension: "IPP|1"}, "PI"), `IPP\F\1^^^&1.2.3&ISO^PI`},
		{"CX without extension", CX(cda.II{Root: "1.2.3"}, "PI"), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestPatientInfo(t *testing.T) {
	e := DocumentEntry{SourcePatientInfo: []string{"PID-5|DURAND^Émilie^^^^^D", "PID-5|GARNIER^Émilie^^^^^L", "pid-7|19850312", "PID-8|F", "garbage"}}
	got := e.PatientInfo()
	if got != (PatientInfo{BirthName: "GARNIER", Given: "Émilie", BirthDate: "19850312", Sex: "F"}) {
		t.Errorf("PatientInfo() = %+v", got)
	}
}
