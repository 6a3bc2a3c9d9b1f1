package cda

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Europe/Paris must be known on hosts without a zoneinfo database
)

var (
	parisOnce sync.Once
	paris     *time.Location
)

// Paris returns the Europe/Paris location in which CI-SIS times without a zone are read.
func Paris() *time.Location {
	parisOnce.Do(func() {
		loc, err := time.LoadLocation("Europe/Paris")
		if err != nil {
			// Unreachable with time/tzdata embedded; keep a usable reading.
			loc = time.FixedZone("CET", 3600)
		}
		paris = loc
	})
	return paris
}

// ParseTS reads an HL7 TS value at its precision: YYYY, YYYYMM, YYYYMMDD, YYYYMMDDhh,
// YYYYMMDDhhmm, YYYYMMDDhhmmss with an optional fraction (.f to .ffff) and an optional UTC offset
// (±hhmm). A value without an offset is read in Europe/Paris. An empty value gives the zero TS
// and no error; an unreadable one gives the TS with Raw set, a zero Time and an error wrapping
// ErrTime.
func ParseTS(raw string) (TS, error) {
	raw = strings.TrimSpace(raw)
	ts := TS{Raw: raw}
	if raw == "" {
		return ts, nil
	}
	main, zone := raw, ""
	if i := strings.IndexAny(raw, "+-"); i >= 0 {
		main, zone = raw[:i], raw[i:]
	}
	frac := ""
	if i := strings.IndexByte(main, '.'); i >= 0 {
		main, frac = main[:i], main[i+1:]
		if len(main) != 14 || frac == "" || len(frac) > 9 || !digits(frac) {
			return ts, fmt.Errorf("%w: %q: bad fraction of second", ErrTime, raw)
		}
	}
	switch len(main) {
	case 4, 6, 8, 10, 12, 14:
	default:
		return ts, fmt.Errorf("%w: %q: %d digits", ErrTime, raw, len(main))
	}
	if !digits(main) {
		return ts, fmt.Errorf("%w: %q: not digits", ErrTime, raw)
	}
	loc := Paris()
	if zone != "" {
		z, err := parseZone(zone)
		if err != nil {
			return ts, fmt.Errorf("%w: %q: %v", ErrTime, raw, err)
		}
		loc, ts.HasZone = z, true
	}
	f := [6]int{0, 1, 1, 0, 0, 0} // year, month, day, hour, minute, second
	for i := 0; 2*i+4 <= len(main) && i < 6; i++ {
		if i == 0 {
			f[0], _ = strconv.Atoi(main[:4])
			continue
		}
		f[i], _ = strconv.Atoi(main[2*i+2 : 2*i+4])
	}
	nsec := 0
	if frac != "" {
		nsec, _ = strconv.Atoi((frac + "000000000")[:9])
	}
	t := time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], nsec, loc)
	if t.Month() != time.Month(f[1]) || t.Day() != f[2] || f[3] > 23 || f[4] > 59 || f[5] > 59 {
		return ts, fmt.Errorf("%w: %q: out of range", ErrTime, raw)
	}
	ts.Time = t
	return ts, nil
}

func parseZone(z string) (*time.Location, error) {
	if len(z) != 5 || !digits(z[1:]) {
		return nil, fmt.Errorf("offset %q is not ±hhmm", z)
	}
	h, _ := strconv.Atoi(z[1:3])
	m, _ := strconv.Atoi(z[3:5])
	if h > 14 || m > 59 {
		return nil, fmt.Errorf("offset %q out of range", z)
	}
	off := (h*60 + m) * 60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone("", off), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Precision returns how many digits of date and time Raw carries before any fraction or offset:
// 4 (year), 6 (month), 8 (day), 10, 12 or 14 (second); 0 when Raw is empty.
func (t TS) Precision() int {
	s := t.Raw
	if i := strings.IndexAny(s, ".+-"); i >= 0 {
		s = s[:i]
	}
	return len(s)
}

// String writes the time in ISO 8601 at its precision: "2019", "2019-12", "2019-12-03", or RFC 3339
// from the hour on ("2019-12-03T13:30:00+01:00"). An unreadable time is written as Raw; an absent
// one as "".
func (t TS) String() string {
	if t.Time.IsZero() {
		return t.Raw
	}
	switch t.Precision() {
	case 4:
		return t.Time.Format("2006")
	case 6:
		return t.Time.Format("2006-01")
	case 8:
		return t.Time.Format(time.DateOnly)
	}
	return t.Time.Format(time.RFC3339)
}
