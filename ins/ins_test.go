package ins

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// ECO.2.2.6: the key check of the matricule behind every patient address.
func TestParse_keys(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
		want    string
	}{
		{in: "279035121518989", want: "279035121518989"},       // ANS test patient PAT-TROIS
		{in: "2 79 03 51 215 189 89", want: "279035121518989"}, // spaces as printed on cards
		{in: "162018885045327", want: "162018885045327"},       // DRIM-M sample
		{in: "285032A123456 48", want: "285032A12345648"},      // Corsica 2A → 19
		{in: "185052b00401297", want: "185052B00401297"},       // Corsica 2B → 18, lower case, key 97
		{in: "221042545611404", wantErr: ErrKey},               // official sample with a wrong key
		{in: "222127505611201", wantErr: ErrKey},
		{in: "27903512151898", wantErr: ErrSyntax},
		{in: "2790351215189890", wantErr: ErrSyntax},
		{in: "2790351215189AB", wantErr: ErrSyntax},
		{in: "279035X21518989", wantErr: ErrSyntax},
		{in: "27903512C518989", wantErr: ErrSyntax},
		{in: "", wantErr: ErrSyntax},
	}
	for _, tt := range tests {
		m, err := Parse(tt.in)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("Parse(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			continue
		}
		if tt.wantErr == nil && m.String() != tt.want {
			t.Errorf("Parse(%q) = %q, want %q", tt.in, m.String(), tt.want)
		}
		if errors.Is(tt.wantErr, ErrKey) {
			var ke *KeyError
			if !errors.As(err, &ke) || m.IsZero() || m.KeyValid() {
				t.Errorf("Parse(%q): want the matricule kept with a *KeyError, got %v, %v", tt.in, m, err)
			}
		}
		if errors.Is(tt.wantErr, ErrSyntax) && !m.IsZero() {
			t.Errorf("Parse(%q) = %v on a syntax error, want the zero value", tt.in, m)
		}
	}
}

func TestComputeKey_matchesCheckFormula(t *testing.T) {
	// (N + key) mod 97 == 0 for every key, a second statement of the same rule. (The "N*100 +
	// key" form sometimes quoted is not equivalent: it reduces to 2N mod 97.)
	for _, n := range []string{"2790351215189", "1620188850453", "2770763220829", "1000000000000", "8999999999999"} {
		k, err := ComputeKey(n)
		if err != nil {
			t.Fatalf("ComputeKey(%q): %v", n, err)
		}
		var rem uint64
		for _, c := range n {
			rem = (rem*10 + uint64(c-'0')) % 97
		}
		if (rem+uint64(k))%97 != 0 || k < 1 || k > 97 {
			t.Errorf("ComputeKey(%q) = %d fails the check formula", n, k)
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want Decoded
	}{
		{"279035121518989", Decoded{Sex: SexFemale, YearOfBirth: 79, MonthKnown: true, Month: time.March, Department: "51", Commune: "215", Order: "189"}},
		{"285032A12345648", Decoded{Sex: SexFemale, YearOfBirth: 85, MonthKnown: true, Month: time.March, Department: "2A", Commune: "123", Order: "456"}},
		{"123459710200369", Decoded{Sex: SexMale, YearOfBirth: 23, MonthKnown: false, Department: "971", Commune: "02", Order: "003"}},
		{"296019913504287", Decoded{Sex: SexFemale, YearOfBirth: 96, MonthKnown: true, Month: time.January, Department: "99", Country: "135", Order: "042"}},
		{"899039912345606", Decoded{Sex: SexFemale, Provisional: true, YearOfBirth: 99, MonthKnown: true, Month: time.March, Department: "99", Country: "123", Order: "456"}},
		{"701359900100275", Decoded{Sex: SexMale, Provisional: true, YearOfBirth: 1, MonthKnown: false, Department: "99", Country: "001", Order: "002"}},
	}
	for _, tt := range tests {
		m, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if got := m.Decode(); got != tt.want {
			t.Errorf("Decode(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// Unknown and special months (20-42, 50-99) must decode as "month unknown" without failing.
func TestDecode_specialMonths(t *testing.T) {
	for _, mm := range []string{"00", "13", "20", "30", "42", "50", "62", "99"} {
		n := "185" + mm + "75123456"
		m, err := FromNumber(n)
		if err != nil {
			t.Fatalf("FromNumber(%q): %v", n, err)
		}
		d := m.Decode()
		if d.MonthKnown || d.Month != 0 {
			t.Errorf("month %s: Decode = %+v, want month unknown", mm, d)
		}
		if _, err := Parse(m.String()); err != nil {
			t.Errorf("month %s: Parse(%s): %v", mm, m, err)
		}
	}
}

func TestDecoded_BirthYear(t *testing.T) {
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	for yy, want := range map[int]int{79: 1979, 26: 2026, 27: 1927, 0: 2000, 15: 2015} {
		if got := (Decoded{YearOfBirth: yy}).BirthYear(now); got != want {
			t.Errorf("BirthYear(%02d) = %d, want %d", yy, got, want)
		}
	}
}

func TestParseCX(t *testing.T) {
	i, err := ParseCX("279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH")
	if err != nil || i.Matricule.String() != "279035121518989" || i.OID != OIDTest {
		t.Fatalf("ParseCX = %+v, %v", i, err)
	}
	if got := i.CX(); got != "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH" {
		t.Errorf("CX() = %q", got)
	}
	if _, err := ParseCX("221042545611404^^^&1.2.250.1.213.1.4.10&ISO^NH"); !errors.Is(err, ErrKey) {
		t.Errorf("ParseCX(wrong key) error = %v, want ErrKey", err)
	}
	for _, bad := range []string{"", "279035121518989", "279035121518989^^^", "x^^^&1.2&ISO^NH"} {
		if _, err := ParseCX(bad); err == nil {
			t.Errorf("ParseCX(%q) succeeded", bad)
		}
	}
}

func qualified(t *testing.T) Identity {
	t.Helper()
	m, err := Parse("279035121518989")
	if err != nil {
		t.Fatal(err)
	}
	return Identity{
		INS: INS{Matricule: m, OID: OIDTest}, BirthName: "PAT-TROIS", FirstName: "DOMINIQUE",
		GivenNames: "DOMINIQUE MARIE-LOUISE", BirthDate: time.Date(1979, 3, 28, 0, 0, 0, 0, time.UTC), Sex: SexFemale,
	}
}

// ECO.2.2.6, ECO.3.1.5: the patient address comes only from a qualified INS.
func TestPatientAddress_qualifiedOnly(t *testing.T) {
	id := qualified(t)
	addr, err := id.PatientAddress("")
	if err != nil || addr != "279035121518989@patient.mssante.fr" {
		t.Fatalf("PatientAddress = %q, %v", addr, err)
	}
	if addr, _ := id.PatientAddress("patient.sandbox.test"); addr != "279035121518989@patient.sandbox.test" {
		t.Errorf("PatientAddress(test domain) = %q", addr)
	}
	wrongKey, _ := Parse("221042545611404")
	cases := map[string]func(*Identity){
		"legacy calculated OID": func(i *Identity) { i.INS.OID = OIDCalculated },
		"unknown OID":           func(i *Identity) { i.INS.OID = "1.2.250.1.213.1.4.13" },
		"no OID":                func(i *Identity) { i.INS.OID = "" },
		"no birth name":         func(i *Identity) { i.BirthName = " " },
		"no first name":         func(i *Identity) { i.FirstName = "" },
		"no birth date":         func(i *Identity) { i.BirthDate = time.Time{} },
		"no sex":                func(i *Identity) { i.Sex = SexUnknown },
		"no matricule":          func(i *Identity) { i.INS.Matricule = Matricule{} },
		"wrong key":             func(i *Identity) { i.INS.Matricule = wrongKey },
	}
	for name, spoil := range cases {
		i := qualified(t)
		spoil(&i)
		addr, err := i.PatientAddress("")
		if !errors.Is(err, ErrNotQualified) || addr != "" {
			t.Errorf("%s: PatientAddress = %q, %v; want ErrNotQualified", name, addr, err)
		}
		if name == "wrong key" && !errors.Is(err, ErrKey) {
			t.Errorf("wrong key: error %v does not wrap ErrKey", err)
		}
	}
	for _, oid := range []OID{OIDNIR, OIDNIA, OIDTest, OIDDemo} {
		i := qualified(t)
		i.INS.OID = oid
		if err := i.Qualified(); err != nil {
			t.Errorf("OID %s: Qualified() = %v", oid, err)
		}
	}
}

func TestIdentity_Inconsistencies(t *testing.T) {
	id := qualified(t)
	if got := id.Inconsistencies(); len(got) != 0 {
		t.Errorf("consistent identity: %v", got)
	}
	id.Sex = SexMale
	id.BirthDate = time.Date(1980, 4, 1, 0, 0, 0, 0, time.UTC)
	if got := id.Inconsistencies(); len(got) != 3 {
		t.Errorf("Inconsistencies = %q, want sex, year and month", got)
	}
}

// ECO.2.2.6 derogation: key checked, birth date and sex decoded for confirmation.
func TestDerogation(t *testing.T) {
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	r, err := Derogation("1850275123456 25", "", now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Address != "185027512345625@patient.mssante.fr" || r.Decoded.Sex != SexMale || r.BirthYear != 1985 || r.Decoded.Month != time.February {
		t.Errorf("Derogation = %+v", r)
	}
	if _, err := Derogation("221042545611404", "", now); !errors.Is(err, ErrKey) {
		t.Errorf("Derogation(wrong key) = %v, want ErrKey", err)
	}
	if _, err := Derogation("1850275123456", "", now); !errors.Is(err, ErrSyntax) {
		t.Errorf("Derogation(13 chars, no key) = %v, want ErrSyntax", err)
	}
	m, _ := FromNumber("3850275123456")
	if _, err := Derogation(m.String(), "", now); err == nil || !strings.Contains(err.Error(), "sex") {
		t.Errorf("Derogation(first digit 3) = %v, want a refusal naming the sex digit", err)
	}
}

func TestPatientDomainMatricule(t *testing.T) {
	m, ok, err := PatientDomainMatricule("279035121518989@Patient.MSSante.fr", "")
	if !ok || err != nil || m.String() != "279035121518989" {
		t.Errorf("= %v, %v, %v", m, ok, err)
	}
	if _, ok, _ := PatientDomainMatricule("marie.martin@medecin.mssante.fr", ""); ok {
		t.Errorf("a professional address was taken for a patient one")
	}
	if _, ok, err := PatientDomainMatricule("221042545611404@patient.mssante.fr", ""); !ok || !errors.Is(err, ErrKey) {
		t.Errorf("wrong key in a patient address: ok=%v err=%v", ok, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"279035121518989", "285032A12345648", "185052B00401297", "221042545611404", "", "2A2B2A2B2A2B2A2", "99999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(s)
		if err != nil && !errors.Is(err, ErrKey) && !errors.Is(err, ErrSyntax) {
			t.Fatalf("Parse(%q): unexpected error kind %v", s, err)
		}
		if m.IsZero() {
			return
		}
		_ = m.Decode()
		// Round trip: the printed form parses to the same value and verdict.
		m2, err2 := Parse(m.String())
		if m2 != m || (err == nil) != (err2 == nil) {
			t.Fatalf("round trip of %q: %v,%v then %v,%v", s, m, err, m2, err2)
		}
		if (err == nil) != m.KeyValid() {
			t.Fatalf("Parse(%q) err=%v but KeyValid=%v", s, err, m.KeyValid())
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("279035121518989"); err != nil {
			b.Fatal(err)
		}
	}
}
