package cda

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// Namespace is the XML namespace of CDA R2 elements.
const Namespace = "urn:hl7-org:v3"

// DefaultMaxSize is the input bound of Read when Options.MaxSize is 0: 64 MiB.
const DefaultMaxSize = 64 << 20

// maxNarrativeDepth bounds the nesting of a narrative block (a real one is under 10 deep).
const maxNarrativeDepth = 100

// maxSectionDepth bounds the nesting of sections.
const maxSectionDepth = 50

// Errors that stop reading. The caller shows them and refuses the document.
var (
	// ErrDTD: the document declares a DOCTYPE or entities. CDA never needs them; they are refused
	// to rule out entity expansion attacks and external fetches.
	ErrDTD = errors.New("cda: document type declarations and entities are not allowed")
	// ErrNotCDA: the root element is not urn:hl7-org:v3 ClinicalDocument.
	ErrNotCDA = errors.New("cda: not a CDA document (root is not hl7 v3 ClinicalDocument)")
	// ErrNoPatient: the document has no recordTarget/patientRole.
	ErrNoPatient = errors.New("cda: no patient (recordTarget/patientRole)")
	// ErrMalformed: the XML is not well formed (truncated, bad nesting, unknown entity…).
	ErrMalformed = errors.New("cda: malformed XML")
	// ErrTooLarge: the input exceeds Options.MaxSize, or nests deeper than the reader accepts.
	ErrTooLarge = errors.New("cda: document too large")
)

// Sentinels wrapped by the Warnings of a Document: reading went on.
var (
	// ErrTime: a time value (TS) could not be read; the TS keeps Raw and a zero Time.
	ErrTime = errors.New("cda: unreadable time")
	// ErrMissing: an element CI-SIS requires is absent or empty (title, code, INS traits…).
	ErrMissing = errors.New("cda: missing element")
	// ErrLegacyINS: the patient id is a legacy calculated INS (INS-C, 1.2.250.1.213.1.4.2), which
	// is never a qualified INS.
	ErrLegacyINS = errors.New("cda: legacy calculated INS (INS-C)")
	// ErrBody: the body could not be read (unknown representation, bad base64…).
	ErrBody = errors.New("cda: unreadable body")
)

// Options tune reading. The zero value (or nil) means defaults.
type Options struct {
	// MaxSize bounds the input in bytes; 0 means DefaultMaxSize.
	MaxSize int64
}

// Parse reads a CDA document held in memory, with the default Options.
func Parse(data []byte) (*Document, error) { return ReadOptions(bytes.NewReader(data), nil) }

// Read reads a CDA document from r, with the default Options (at most DefaultMaxSize bytes).
func Read(r io.Reader) (*Document, error) { return ReadOptions(r, nil) }

// ReadOptions reads a CDA document from r. It does no I/O other than reading r. The returned
// document carries the deviations that did not stop reading in Document.Warnings.
func ReadOptions(r io.Reader, opts *Options) (*Document, error) {
	max := int64(DefaultMaxSize)
	if opts != nil && opts.MaxSize > 0 {
		max = opts.MaxSize
	}
	br := bufio.NewReader(&limitReader{r: r, n: max})
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3) // a UTF-8 byte order mark, as some CI-SIS samples carry
	}
	var in io.Reader = br
	utf16Input := false
	if e := utf16Encoding(br); e != nil {
		// Windows tools save XML in UTF-16: transcode it, and accept its UTF-16 declaration.
		in, utf16Input = e.NewDecoder().Reader(br), true
	}
	dec := xml.NewDecoder(in)
	dec.Strict = true
	dec.CharsetReader = func(label string, input io.Reader) (io.Reader, error) {
		if utf16Input && strings.HasPrefix(strings.ToLower(strings.TrimSpace(label)), "utf-16") {
			return input, nil
		}
		return charsetReader(label, input)
	}
	start, err := rootElement(dec)
	if err != nil {
		return nil, err
	}
	var x xDocument
	if err := dec.DecodeElement(&x, &start); err != nil {
		return nil, decodeError(err)
	}
	if err := epilog(dec); err != nil {
		return nil, err
	}
	return x.document()
}

// epilog reads what follows the root element: only white space, comments and processing
// instructions may, and the size bound applies to them too.
func epilog(dec *xml.Decoder) error {
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return decodeError(err)
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("%w: text after the root element", ErrMalformed)
			}
		default:
			return fmt.Errorf("%w: content after the root element", ErrMalformed)
		}
	}
}

// rootElement reads the prolog up to the root element, refusing DTDs and non-CDA roots.
func rootElement(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				return xml.StartElement{}, fmt.Errorf("%w: no root element", ErrMalformed)
			}
			return xml.StartElement{}, decodeError(err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			// DOCTYPE, ENTITY, ELEMENT, ATTLIST, NOTATION: all belong to a DTD.
			return xml.StartElement{}, fmt.Errorf("%w: <!%s …>", ErrDTD, firstWord(strings.TrimSpace(string(t))))
		case xml.StartElement:
			if t.Name.Local != "ClinicalDocument" || t.Name.Space != Namespace {
				return xml.StartElement{}, fmt.Errorf("%w: root is {%s}%s", ErrNotCDA, t.Name.Space, t.Name.Local)
			}
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, fmt.Errorf("%w: text before the root element", ErrMalformed)
			}
		}
	}
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	if len(w) > 20 {
		w = w[:20]
	}
	return w
}

func decodeError(err error) error {
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrDTD), errors.Is(err, ErrNotCDA):
		return err
	case strings.Contains(err.Error(), "exceeded max depth"):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// utf16Encoding recognises UTF-16 input by its byte order mark, or without one by the "<?" or
// "<C" it starts with, and returns its decoder; nil for anything else.
func utf16Encoding(br *bufio.Reader) encoding.Encoding {
	b, err := br.Peek(4)
	if err != nil {
		return nil
	}
	switch {
	case b[0] == 0xFE && b[1] == 0xFF:
		return unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM)
	case b[0] == 0xFF && b[1] == 0xFE:
		return unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM)
	case b[0] == '<' && b[1] == 0 && b[2] != 0 && b[3] == 0:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case b[0] == 0 && b[1] == '<' && b[2] == 0 && b[3] != 0:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	}
	return nil
}

// charsetReader accepts the 8-bit charsets French software still declares; UTF-8 needs none.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1":
		return charmap.ISO8859_1.NewDecoder().Reader(input), nil
	case "iso-8859-15", "iso8859-15", "latin-9":
		return charmap.ISO8859_15.NewDecoder().Reader(input), nil
	case "windows-1252", "cp1252",
		// ASCII is read as Windows-1252: the same for ASCII bytes, and files that declare
		// ASCII while holding accented letters in 8 bits are still read.
		"us-ascii", "ascii", "iso646-us":
		return charmap.Windows1252.NewDecoder().Reader(input), nil
	case "utf8":
		return input, nil
	}
	return nil, fmt.Errorf("unsupported charset %q", label)
}

// limitReader returns ErrTooLarge once more than n bytes were asked for.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Probe one byte: input of exactly the limit is accepted.
		var one [1]byte
		k, err := l.r.Read(one[:])
		if k > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}
