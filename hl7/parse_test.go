package hl7

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestEscape_roundTrip: every delimiter and line break in a value survives writing and reading
// (HL7 v2.6 §2.7: \F\ \S\ \T\ \R\ \E\, \Xhh\).
func TestEscape_roundTrip(t *testing.T) {
	tests := []struct{ value, escaped string }{
		{"plain", "plain"},
		{"a|b", `a\F\b`},
		{"a^b", `a\S\b`},
		{"a&b", `a\T\b`},
		{"a~b", `a\R\b`},
		{`a\b`, `a\E\b`},
		{"l1\r\nl2", `l1\X0D\\X0A\l2`},
		{"tab\there", `tab\X09\here`},
		{"Éloïse", "Éloïse"},
		{`\F\`, `\E\F\E\`},
	}
	for _, tt := range tests {
		if got := string(esc(tt.value)); got != tt.escaped {
			t.Errorf("esc(%q) = %q, want %q", tt.value, got, tt.escaped)
		}
		if got := unescape(tt.escaped, DefaultDelimiters); got != tt.value {
			t.Errorf("unescape(%q) = %q, want %q", tt.escaped, got, tt.value)
		}
	}
}

// TestUnescape_lenient: sequences the reader does not decode are kept as written; \.br\ is a
// line break.
func TestUnescape_lenient(t *testing.T) {
	for in, want := range map[string]string{
		`a\.br\b`:    "a\nb",
		`\H\bold\N\`: `\H\bold\N\`,
		`a\Xzz\b`:    `a\Xzz\b`,
		`open\F`:     `open\F`,
		`\X41C3A9\`:  "Aé",
	} {
		if got := unescape(in, DefaultDelimiters); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParse_structure: fields, repetitions, components and subcomponents, with LF or CRLF
// segment ends read as CR.
func TestParse_structure(t *testing.T) {
	for _, eol := range []string{"\r", "\n", "\r\n"} {
		msg := strings.Join([]string{
			`MSH|^~\&|APP|FAC|||20260312||ACK^T02^ACK|42|P|2.6`,
			`PID|||123^^^NS&1.2.3&ISO^PI~456^^^&1.2.4&ISO^INS||NOM\S\X^Prénom`,
			``,
		}, eol)
		m, err := Parse([]byte(msg))
		if err != nil {
			t.Fatalf("eol %q: %v", eol, err)
		}
		if len(m.Segments) != 2 {
			t.Fatalf("eol %q: %d segments", eol, len(m.Segments))
		}
		msh := m.Segments[0]
		if msh.Value(1, 1) != "|" || msh.Value(2, 1) != `^~\&` || msh.Value(9, 2) != "T02" || msh.Value(10, 1) != "42" {
			t.Errorf("MSH = %+v", msh.Fields)
		}
		pid := seg(t, m, "PID")
		if got := pid.Get(3, 1, 4, 2); got != "1.2.4" {
			t.Errorf("PID-3[1].4.2 = %q", got)
		}
		if got := pid.Get(3, 0, 4, 1); got != "NS" {
			t.Errorf("PID-3[0].4.1 = %q", got)
		}
		if got := pid.Value(5, 1); got != "NOM^X" {
			t.Errorf("PID-5.1 = %q", got)
		}
		if pid.Value(99, 1) != "" || pid.Get(3, 5, 1, 1) != "" {
			t.Error("absent positions are not empty")
		}
	}
}

// TestParse_malformed: each bad input gives its error.
func TestParse_malformed(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrNotHL7},
		{"no MSH", "PID|||1\r", ErrNotHL7},
		{"short", "MSH|^~", ErrNotHL7},
		// A look-alike tilde (U+02DC, bytes CB 9C) in MSH-2, as in an ANS ORU sample.
		{"small tilde", "MSH|^\u02dc\\&|A\r", ErrDelimiters},
		{"repeated delimiter", "MSH|^^\\&|A\r", ErrDelimiters},
		{"letter delimiter", "MSH|^~\\A|A\r", ErrDelimiters},
		{"bad segment name", "MSH|^~\\&|A\rpid|1\r", ErrSegment},
		{"second MSH", "MSH|^~\\&|A\rMSH|^~\\&|B\r", ErrSegment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.in)); !errors.Is(err, tt.want) {
				t.Errorf("Parse(%q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

// TestParse_otherDelimiters: a message declaring other delimiters is read with them, and
// Encode writes it back with them.
func TestParse_otherDelimiters(t *testing.T) {
	in := "MSH#*%$@#A#B\rPID###1*2@3%4*x$S$y\r"
	m, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	pid := seg(t, m, "PID")
	if pid.Get(3, 0, 2, 2) != "3" || pid.Get(3, 1, 1, 1) != "4" || pid.Get(3, 1, 2, 1) != "x*y" {
		t.Errorf("PID-3 = %+v", pid.Field(3))
	}
	if got := string(m.Encode()); got != in {
		t.Errorf("Encode = %q, want %q", got, in)
	}
}

// TestEncode_roundTrip: Parse(Encode(m)) is m for the messages we write.
func TestEncode_roundTrip(t *testing.T) {
	data, h := readFixture(t, "../cda/testdata/n3-lettre-liaison.xml")
	m, out := build(t, data, h)
	if got := string(m.Encode()); got != string(out) {
		t.Errorf("Encode(Parse(BuildMDM)) differs from BuildMDM:\n%q\n%q", got, out)
	}
	again, err := Parse(m.Encode())
	if err != nil || !reflect.DeepEqual(again, m) {
		t.Errorf("Parse(Encode(m)) = %v, differs", err)
	}
}
