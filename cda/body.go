package cda

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// readBody fills Level and either Sections (N3) or Body (N1).
func (d *Document) readBody(x *xDocument) {
	switch {
	case x.Structured != nil:
		d.Level = N3
		d.Sections = d.sections(x.Structured.Sections, 1)
	case x.NonXML != nil:
		d.Level = N1
		d.Body = d.nonXMLBody(x.NonXML)
	default:
		d.warn(fmt.Errorf("%w: component/structuredBody or component/nonXMLBody", ErrMissing))
	}
}

func (d *Document) sections(xs []xSection, depth int) []Section {
	if len(xs) == 0 {
		return nil
	}
	if depth > maxSectionDepth {
		d.warn(fmt.Errorf("sections nested deeper than %d: the deeper ones are not read", maxSectionDepth))
		return nil
	}
	out := make([]Section, 0, len(xs))
	for _, x := range xs {
		s := Section{
			ID:       x.ID.ii(),
			Code:     x.Code.code(),
			Title:    strings.TrimSpace(foldSpace(string(x.Title))),
			Sections: d.sections(x.Sections, depth+1),
		}
		if x.Text != nil {
			s.Text = x.Text.root
		}
		out = append(out, s)
	}
	return out
}

func (d *Document) nonXMLBody(x *xNonXML) *NonXMLBody {
	if x.Text == nil {
		d.warn(fmt.Errorf("%w: nonXMLBody/text", ErrMissing))
		return &NonXMLBody{}
	}
	b := &NonXMLBody{
		MediaType:      strings.TrimSpace(x.Text.MediaType),
		Representation: strings.ToUpper(strings.TrimSpace(x.Text.Representation)),
	}
	switch b.Representation {
	case "B64":
		data, err := decodeBase64(x.Text.Data)
		if err != nil {
			d.warn(fmt.Errorf("%w: nonXMLBody/text: %v", ErrBody, err))
		}
		b.Data = data
	case "", "TXT":
		b.Data = []byte(x.Text.Data)
	default:
		d.warn(fmt.Errorf("%w: nonXMLBody/text representation %q", ErrBody, b.Representation))
	}
	if b.MediaType == "" {
		d.warn(fmt.Errorf("%w: nonXMLBody/text/@mediaType", ErrMissing))
	}
	return b
}

// decodeBase64 decodes base64 text wrapped on lines, with or without padding.
func decodeBase64(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, s)
	enc := base64.StdEncoding
	if len(clean)%4 != 0 {
		enc = base64.RawStdEncoding
		clean = strings.TrimRight(clean, "=")
	}
	data, err := enc.DecodeString(clean)
	if err != nil {
		return nil, err
	}
	return data, nil
}
