package ins

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors a caller can branch on.
var (
	// ErrSyntax: the text is not 15 characters of the NIR/NIA shape. Nothing can be decoded.
	ErrSyntax = errors.New("ins: malformed matricule")
	// ErrKey: the matricule is well formed but its key does not match its first 13 characters.
	// The value returned with it can still be displayed; it must not be written to.
	ErrKey = errors.New("ins: wrong key")
)

// KeyError reports a matricule whose key does not match. It wraps ErrKey.
type KeyError struct {
	Matricule string // the 15 characters as read
	Got, Want int    // key read, key computed
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("ins: matricule %s has key %02d, expected %02d", e.Matricule, e.Got, e.Want)
}

func (e *KeyError) Unwrap() error { return ErrKey }

// Matricule is a syntactically valid INS matricule: 13 characters (NIR or NIA) and a 2-digit key.
// The zero value is empty; build one with Parse.
type Matricule struct {
	number string // 13 characters, digits except "2A"/"2B" at positions 6-7
	key    int    // key as read, 0..99
	want   int    // key computed from number
}

// Parse reads a 15-character matricule. Spaces are ignored ("2 79 03 51 215 189 89" is accepted)
// and letters of the Corsican departments are upper-cased. A wrong key returns the matricule and a
// *KeyError (errors.Is(err, ErrKey)); any other problem returns ErrSyntax and the zero Matricule.
func Parse(s string) (Matricule, error) {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if len(s) != 15 {
		return Matricule{}, fmt.Errorf("%w: %q has %d characters, want 15", ErrSyntax, s, len(s))
	}
	want, err := ComputeKey(s[:13])
	if err != nil {
		return Matricule{}, err
	}
	key, err := strconv.Atoi(s[13:])
	if err != nil || !allDigits(s[13:]) {
		return Matricule{}, fmt.Errorf("%w: key %q is not two digits", ErrSyntax, s[13:])
	}
	m := Matricule{number: s[:13], key: key, want: want}
	if key != want {
		return m, &KeyError{Matricule: s, Got: key, Want: want}
	}
	return m, nil
}

// FromNumber builds the matricule of a 13-character NIR or NIA by computing its key.
func FromNumber(nir string) (Matricule, error) {
	nir = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(nir), " ", ""))
	key, err := ComputeKey(nir)
	if err != nil {
		return Matricule{}, err
	}
	return Matricule{number: nir, key: key, want: key}, nil
}

// ComputeKey returns the key of a 13-character NIR or NIA: 97 − (N mod 97), where N is the number
// read in base 10 after replacing the Corsican department 2A by 19 and 2B by 18.
func ComputeKey(nir string) (int, error) {
	if len(nir) != 13 {
		return 0, fmt.Errorf("%w: number %q has %d characters, want 13", ErrSyntax, nir, len(nir))
	}
	digits := nir
	switch nir[5:7] {
	case "2A":
		digits = nir[:5] + "19" + nir[7:]
	case "2B":
		digits = nir[:5] + "18" + nir[7:]
	}
	if !allDigits(digits) {
		return 0, fmt.Errorf("%w: %q holds characters other than digits (and 2A/2B)", ErrSyntax, nir)
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return 97 - int(n%97), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// String returns the 15 characters of the matricule ("" for the zero value).
func (m Matricule) String() string {
	if m.number == "" {
		return ""
	}
	return fmt.Sprintf("%s%02d", m.number, m.key)
}

// Number returns the 13-character NIR or NIA, without the key.
func (m Matricule) Number() string { return m.number }

// IsZero reports whether m is the zero value.
func (m Matricule) IsZero() bool { return m.number == "" }

// KeyValid reports whether the key matches the number.
func (m Matricule) KeyValid() bool { return m.number != "" && m.key == m.want }

// Sex is the administrative sex of an identity.
type Sex string

// Values of Sex, as INS traits and XDS sourcePatientInfo (PID-8) write them.
const (
	SexUnknown Sex = ""
	SexMale    Sex = "M"
	SexFemale  Sex = "F"
)

// Decoded holds what the digits of a matricule say about its holder. Month 0 means the number does
// not say (incomplete civil record: months 20-42 and 50-99).
type Decoded struct {
	Sex         Sex
	Provisional bool // first digit 7 or 8: a provisional number
	YearOfBirth int  // two digits as written, 0-99
	MonthKnown  bool
	Month       time.Month // 1-12 when MonthKnown
	// Department is the department of birth: two characters (01-95, 2A, 2B), three for overseas
	// (971-989), or "99" for a birth abroad.
	Department string
	// Commune is the INSEE commune code within the department (three digits, two overseas); empty
	// for a birth abroad.
	Commune string
	// Country is the INSEE country code for a birth abroad (department 99), else empty.
	Country string
	// Order is the order number in the civil register of the month.
	Order string
}

// Decode reads the fields of the number. It never fails: unknown values are left zero.
func (m Matricule) Decode() Decoded {
	var d Decoded
	n := m.number
	if len(n) != 13 {
		return d
	}
	switch n[0] {
	case '1':
		d.Sex = SexMale
	case '2':
		d.Sex = SexFemale
	case '7':
		d.Sex, d.Provisional = SexMale, true
	case '8':
		d.Sex, d.Provisional = SexFemale, true
	}
	d.YearOfBirth, _ = strconv.Atoi(n[1:3])
	if mm, err := strconv.Atoi(n[3:5]); err == nil && mm >= 1 && mm <= 12 {
		d.MonthKnown, d.Month = true, time.Month(mm)
	}
	dep := n[5:7]
	switch {
	case dep == "99":
		d.Department, d.Country = dep, n[7:10]
	case dep == "97" || dep == "98":
		d.Department, d.Commune = n[5:8], n[8:10]
	default:
		d.Department, d.Commune = dep, n[7:10]
	}
	d.Order = n[10:13]
	return d
}

// BirthYear returns the four-digit year of birth, placing the two digits in the century that
// makes the person born no later than now (the number alone cannot tell a centenarian from a
// newborn: this is the reading a professional is asked to confirm).
func (d Decoded) BirthYear(now time.Time) int {
	y := now.Year()
	century := y / 100 * 100
	if century+d.YearOfBirth > y {
		century -= 100
	}
	return century + d.YearOfBirth
}
