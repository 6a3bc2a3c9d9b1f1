package hl7

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors of Parse. The message is refused; nothing of it can be trusted.
var (
	// ErrNotHL7: the input does not start with an MSH segment.
	ErrNotHL7 = errors.New("hl7: not an HL7 v2 message (no MSH segment first)")
	// ErrDelimiters: MSH-1/MSH-2 do not declare five distinct ASCII delimiters (a look-alike such
	// as U+02DC SMALL TILDE in MSH-2 is refused rather than guessed).
	ErrDelimiters = errors.New("hl7: invalid delimiters in MSH-1/MSH-2")
	// ErrSegment: a segment name is not three upper-case letters or digits.
	ErrSegment = errors.New("hl7: invalid segment")
)

// Delimiters are the separators a message declares in MSH-1 and MSH-2.
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent byte
}

// DefaultDelimiters are "|^~\&", the only ones the writer uses.
var DefaultDelimiters = Delimiters{fieldSep, componentSep, repeatSep, escapeChar, subSep}

// Message is a parsed HL7 v2 message: its segments in order, values unescaped.
type Message struct {
	Delimiters Delimiters
	Segments   []Segment
}

// Segment is one segment. Fields[0] is field 1; for MSH, field 1 is the field separator and
// field 2 the encoding characters, both as written and never split.
type Segment struct {
	Name   string
	Fields []Field
}

// Field is one field: its repetitions (none when the field is empty).
type Field []Repetition

// Repetition is one occurrence of a field: its components.
type Repetition []Component

// Component is one component: its subcomponents, unescaped.
type Component []string

// Segment returns the first segment named name.
func (m *Message) Segment(name string) (Segment, bool) {
	for _, s := range m.Segments {
		if s.Name == name {
			return s, true
		}
	}
	return Segment{}, false
}

// All returns every segment named name, in order.
func (m *Message) All(name string) []Segment {
	var out []Segment
	for _, s := range m.Segments {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Field returns field n (HL7 numbering: PID-3 is Field(3)); empty when absent.
func (s Segment) Field(n int) Field {
	if n < 1 || n > len(s.Fields) {
		return nil
	}
	return s.Fields[n-1]
}

// Get returns subcomponent sub of component comp of repetition rep (0-based) of field n; the
// numbering of field, component and subcomponent is HL7's, from 1. Empty when absent.
func (s Segment) Get(n, rep, comp, sub int) string {
	return s.Field(n).Rep(rep).Comp(comp).Sub(sub)
}

// Value returns component comp of the first repetition of field n (first subcomponent).
func (s Segment) Value(n, comp int) string { return s.Get(n, 0, comp, 1) }

// Rep returns repetition i (from 0).
func (f Field) Rep(i int) Repetition {
	if i < 0 || i >= len(f) {
		return nil
	}
	return f[i]
}

// Comp returns component n (from 1).
func (r Repetition) Comp(n int) Component {
	if n < 1 || n > len(r) {
		return nil
	}
	return r[n-1]
}

// Sub returns subcomponent n (from 1).
func (c Component) Sub(n int) string {
	if n < 1 || n > len(c) {
		return ""
	}
	return c[n-1]
}

// Parse reads an HL7 v2 message in ER7 (pipe) encoding. Segments may end with CR (the standard),
// LF or CRLF, and empty lines are skipped; a final MLLP frame is not expected (see hl7/mllp).
// Values are unescaped: \F\ \S\ \T\ \R\ \E\, \Xhh…\ (bytes), \.br\ (a line break, "\n"); other
// escape sequences (highlighting, character sets) are kept as written.
func Parse(data []byte) (*Message, error) {
	d, err := delimiters(data)
	if err != nil {
		return nil, err
	}
	m := &Message{Delimiters: d}
	for _, line := range splitSegments(data) {
		s, err := parseSegment(line, d, len(m.Segments) == 0)
		if err != nil {
			return nil, fmt.Errorf("segment %d: %w", len(m.Segments)+1, err)
		}
		m.Segments = append(m.Segments, s)
	}
	return m, nil
}

// delimiters reads MSH-1 and MSH-2.
func delimiters(data []byte) (Delimiters, error) {
	if len(data) < 8 || !bytes.HasPrefix(data, []byte("MSH")) {
		return Delimiters{}, ErrNotHL7
	}
	d := Delimiters{Field: data[3], Component: data[4], Repetition: data[5], Escape: data[6], Subcomponent: data[7]}
	if len(data) > 8 && data[8] != d.Field && data[8] != '\r' && data[8] != '\n' {
		return Delimiters{}, fmt.Errorf("%w: MSH-2 longer than 4 characters", ErrDelimiters)
	}
	all := []byte{d.Field, d.Component, d.Repetition, d.Escape, d.Subcomponent}
	for i, c := range all {
		if c <= ' ' || c >= 0x7f || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
			return Delimiters{}, fmt.Errorf("%w: %q", ErrDelimiters, data[3:min(len(data), 8)])
		}
		if bytes.IndexByte(all[:i], c) >= 0 {
			return Delimiters{}, fmt.Errorf("%w: %q repeats a character", ErrDelimiters, data[3:8])
		}
	}
	return d, nil
}

func splitSegments(data []byte) [][]byte {
	lines := bytes.FieldsFunc(data, func(r rune) bool { return r == '\r' || r == '\n' })
	return lines
}

func parseSegment(line []byte, d Delimiters, first bool) (Segment, error) {
	text := string(line)
	name, rest, _ := strings.Cut(text, string(d.Field))
	if !validName(name) {
		return Segment{}, fmt.Errorf("%w: name %q", ErrSegment, truncate(name))
	}
	if first != (name == "MSH") {
		if first {
			return Segment{}, ErrNotHL7
		}
		return Segment{}, fmt.Errorf("%w: a second MSH", ErrSegment)
	}
	s := Segment{Name: name}
	raw := strings.Split(rest, string(d.Field))
	if name == "MSH" {
		s.Fields = append(s.Fields, Field{{{string(d.Field)}}}, Field{{{raw[0]}}})
		raw = raw[1:]
	}
	for _, f := range raw {
		s.Fields = append(s.Fields, parseField(f, d))
	}
	return s, nil
}

func validName(n string) bool {
	if len(n) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c := n[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func parseField(f string, d Delimiters) Field {
	if f == "" {
		return nil
	}
	var field Field
	for _, r := range strings.Split(f, string(d.Repetition)) {
		var rep Repetition
		for _, c := range strings.Split(r, string(d.Component)) {
			var comp Component
			for _, sc := range strings.Split(c, string(d.Subcomponent)) {
				comp = append(comp, unescape(sc, d))
			}
			rep = append(rep, comp)
		}
		field = append(field, rep)
	}
	return field
}

// unescape decodes the escape sequences of one subcomponent (HL7 v2.6 §2.7).
func unescape(s string, d Delimiters) string {
	if strings.IndexByte(s, d.Escape) < 0 {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, d.Escape)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i+1:], d.Escape)
		if j < 0 { // an unterminated sequence is kept as written
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		seq := s[i+1 : i+1+j]
		if v, ok := decodeSequence(seq, d); ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[i : i+2+j])
		}
		s = s[i+2+j:]
	}
}

func decodeSequence(seq string, d Delimiters) (string, bool) {
	switch seq {
	case "F":
		return string(d.Field), true
	case "S":
		return string(d.Component), true
	case "T":
		return string(d.Subcomponent), true
	case "R":
		return string(d.Repetition), true
	case "E":
		return string(d.Escape), true
	case ".br":
		return "\n", true
	}
	if len(seq) >= 3 && seq[0] == 'X' && len(seq)%2 == 1 {
		var out []byte
		for k := 1; k < len(seq); k += 2 {
			v, err := strconv.ParseUint(seq[k:k+2], 16, 8)
			if err != nil {
				return "", false
			}
			out = append(out, byte(v))
		}
		return string(out), true
	}
	return "", false
}

func truncate(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
