package hl7

import (
	"bytes"
	"fmt"
	"strings"
)

// The delimiters the writer uses (HL7 v2.6 §2.5.4, MSH-1 and MSH-2 "^~\&").
const (
	fieldSep      = '|'
	componentSep  = '^'
	repeatSep     = '~'
	escapeChar    = '\\'
	subSep        = '&'
	encodingChars = `^~\&`
)

// enc is text already encoded for a message: escaped values joined by delimiters. Values enter
// only through esc, so that nothing is escaped twice or not at all.
type enc string

// esc escapes a value for a primitive (sub)component with the writer's delimiters.
func esc(s string) enc { return enc(escape(s, DefaultDelimiters)) }

// escape escapes a value for a primitive (sub)component (HL7 v2.6 §2.7): the delimiters become
// \F\ \S\ \T\ \R\ \E\, and control characters (CR and LF included, which would end a segment)
// become \Xhh\.
func escape(s string, d Delimiters) string {
	if !needsEscape(s, d) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == d.Field:
			b.WriteByte(d.Escape)
			b.WriteByte('F')
			b.WriteByte(d.Escape)
		case c == d.Component:
			b.WriteByte(d.Escape)
			b.WriteByte('S')
			b.WriteByte(d.Escape)
		case c == d.Subcomponent:
			b.WriteByte(d.Escape)
			b.WriteByte('T')
			b.WriteByte(d.Escape)
		case c == d.Repetition:
			b.WriteByte(d.Escape)
			b.WriteByte('R')
			b.WriteByte(d.Escape)
		case c == d.Escape:
			b.WriteByte(d.Escape)
			b.WriteByte('E')
			b.WriteByte(d.Escape)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "%cX%02X%c", d.Escape, c, d.Escape)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func needsEscape(s string, d Delimiters) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == d.Field, c == d.Component, c == d.Subcomponent, c == d.Repetition, c == d.Escape, c < 0x20, c == 0x7f:
			return true
		}
	}
	return false
}

// Encode writes the message back in ER7 encoding with its own delimiters, each segment ended
// by CR; Parse(m.Encode()) gives m again.
func (m *Message) Encode() []byte {
	d := m.Delimiters
	var b bytes.Buffer
	for _, s := range m.Segments {
		b.WriteString(s.Name)
		fields := s.Fields
		if s.Name == "MSH" && len(fields) >= 2 {
			b.WriteByte(d.Field)
			b.WriteString(fields[1].Rep(0).Comp(1).Sub(1))
			fields = fields[2:]
		}
		for _, f := range fields {
			b.WriteByte(d.Field)
			for ri, r := range f {
				if ri > 0 {
					b.WriteByte(d.Repetition)
				}
				for ci, c := range r {
					if ci > 0 {
						b.WriteByte(d.Component)
					}
					for si, sc := range c {
						if si > 0 {
							b.WriteByte(d.Subcomponent)
						}
						b.WriteString(escape(sc, d))
					}
				}
			}
		}
		b.WriteByte('\r')
	}
	return b.Bytes()
}

// join joins parts with sep and drops the trailing empty ones.
func join(sep byte, parts []enc) enc {
	n := len(parts)
	for n > 0 && parts[n-1] == "" {
		n--
	}
	var b strings.Builder
	for i, p := range parts[:n] {
		if i > 0 {
			b.WriteByte(sep)
		}
		b.WriteString(string(p))
	}
	return enc(b.String())
}

// comps joins the components of a composite value.
func comps(parts ...enc) enc { return join(componentSep, parts) }

// subs joins the subcomponents of a component.
func subs(parts ...enc) enc { return join(subSep, parts) }

// reps joins the repetitions of a field, leaving out the empty ones.
func reps(parts ...enc) enc {
	var kept []enc
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return join(repeatSep, kept)
}

// segment writes one segment: its name, then fields 1…n, without trailing empty fields and
// without the terminator.
func segment(name string, fields ...enc) string {
	f := join(fieldSep, fields)
	if f == "" {
		return name
	}
	return name + string(fieldSep) + string(f)
}
