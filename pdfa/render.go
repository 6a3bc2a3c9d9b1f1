package pdfa

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mssante/mssante/cda"
)

// DefaultProducer is the Producer written when Options.Producer is empty.
const DefaultProducer = "mssante pdfa"

// Errors returned by Render. Warnings are returned in Result.Warnings instead.
var (
	// ErrNoContent: the document has neither sections (N3) nor an embedded body (N1); there is
	// nothing to render. The caller sends the CDA without a PDF or asks the author for a new one.
	ErrNoContent = errors.New("pdfa: the document has no body to render")
	// ErrEmbeddedNotPDF: an N1 document embeds something other than a PDF that this package
	// cannot lay out (RTF, an unreadable image…). The caller can still attach the CDA alone.
	ErrEmbeddedNotPDF = errors.New("pdfa: the N1 document does not embed a PDF")
	// ErrNotPDFA is the warning given when an N1 document embeds a PDF that does not declare
	// PDF/A-1 conformance in its metadata and it is returned unchanged (no Options.ConvertN1, or
	// the conversion failed): ECO.2.1.5 asks for the embedded PDF itself. With Options.StrictN1
	// it is the error instead.
	ErrNotPDFA = errors.New("pdfa: the embedded PDF does not declare PDF/A-1 conformance")
	// ErrConvertedN1 is the warning given when an N1 document's embedded PDF did not declare
	// PDF/A-1 and Options.ConvertN1 converted it to PDF/A-1b: same pages and text, but not the
	// embedded file byte for byte (fonts the PDF did not embed are substituted). Its text is
	// French: callers show it to the health professional as it is.
	ErrConvertedN1 = errors.New("pdfa: le PDF encapsulé dans le CDA N1 n'était pas au format PDF/A-1 ; " +
		"il a été converti en PDF/A-1b (mêmes pages, polices non incorporées remplacées) " +
		"et n'est donc pas identique octet pour octet au PDF encapsulé")
	// ErrWideTable is the warning given when a table has too many columns for the page even at
	// the smallest font size: its longest words are cut between characters (nothing is lost).
	ErrWideTable = errors.New("pdfa: table too wide for the page")
)

// Options tune Render. The zero value and nil are valid.
type Options struct {
	// Now gives the creation date written in the PDF metadata; default time.Now. A fixed clock
	// makes the output byte for byte reproducible.
	Now func() time.Time
	// Producer names the producing software in the Info dictionary and the XMP metadata;
	// default DefaultProducer.
	Producer string
	// StrictN1 makes an N1 document whose embedded PDF does not declare PDF/A-1 an error
	// (ErrNotPDFA) instead of a warning, for callers that would rather not send it.
	StrictN1 bool
	// ConvertN1, when set, converts an N1 document's embedded PDF that does not declare PDF/A-1
	// into PDF/A-1b (Ghostscript.Func gives one); Render then returns the converted file with
	// the ErrConvertedN1 warning. When it fails, Render returns the embedded PDF unchanged with
	// the ErrNotPDFA warning and the conversion error as a second warning. nil keeps the
	// embedded PDF as it is. An embedded PDF that declares PDF/A-1 is never converted, and
	// StrictN1 takes precedence (no conversion, ErrNotPDFA).
	ConvertN1 ConvertFunc
}

// Result is a rendered PDF.
type Result struct {
	// PDF is the file: PDF/A-1b for an N3 document; for an N1 document, the embedded PDF as it is
	// (the same slice as doc.Body.Data, not a copy).
	PDF []byte
	// Embedded reports that PDF is the embedded document of an N1 CDA, returned unchanged.
	Embedded bool
	// Converted reports that PDF is the embedded document of an N1 CDA converted to PDF/A-1b by
	// Options.ConvertN1 (Embedded is then false).
	Converted bool
	// Pages is the number of pages of a rendered N3 document; 0 for an N1 PDF (embedded or
	// converted).
	Pages int
	// Warnings are the problems that did not stop the rendering (a character without glyph, an
	// image not reproduced, an N1 PDF that is not PDF/A).
	Warnings []error
}

// Render returns the PDF/A-1b rendering of doc (ECO.2.1.5). For an N3 document it lays out the
// header data and every section's narrative; for an N1 document it returns the embedded PDF byte
// for byte, or its conversion by Options.ConvertN1 when it is not PDF/A-1. Render does no I/O
// itself (the converter may) and is safe for concurrent use.
func Render(doc *cda.Document, opts *Options) (*Result, error) {
	if doc == nil {
		return nil, ErrNoContent
	}
	if opts == nil {
		opts = &Options{}
	}
	sections := doc.Sections
	var img *pdfImage
	if doc.Level == cda.N1 || (len(doc.Sections) == 0 && doc.Body != nil) {
		switch {
		case doc.Body != nil && isPlainText(doc.Body.MediaType):
			sections = plainTextSections(doc.Body.Data)
		case doc.Body != nil && isImage(doc.Body.MediaType):
			var err error
			if img, err = decodeImage(doc.Body.Data); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrEmbeddedNotPDF, err)
			}
			sections = []cda.Section{{Title: "Document (image)"}}
		default:
			return embedded(doc, opts)
		}
	}
	if len(sections) == 0 {
		return nil, ErrNoContent
	}
	now := opts.now
	producer := opts.Producer
	if producer == "" {
		producer = DefaultProducer
	}
	res := &Result{}
	fonts, err := newFontSet()
	if err != nil {
		return nil, err
	}
	l := newLayout(fonts, func(err error) { res.Warnings = append(res.Warnings, err) })
	renderHeader(l, doc)
	for i := range sections {
		renderSection(l, &sections[i], 1)
	}
	if img != nil {
		l.image(img)
	}
	renderFooters(l, doc)
	info := docInfo{
		Title:    metaText(documentTitle(doc)),
		Author:   metaText(authorLine(doc)),
		Producer: metaText(producer),
		Date:     now().Truncate(time.Second),
	}
	res.PDF, err = assemble(l, info)
	if err != nil {
		return nil, err
	}
	res.Pages = len(l.pages)
	return res, nil
}

// isPlainText reports whether an N1 media type is text/plain (parameters ignored).
func isPlainText(mediaType string) bool {
	mt, _, _ := strings.Cut(mediaType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "text/plain")
}

// plainTextSections turns the text of a text/plain N1 body into one section whose narrative keeps
// the lines as written.
func plainTextSections(data []byte) []cda.Section {
	text := strings.ToValidUTF8(string(data), "\uFFFD")
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	block := &cda.Node{Kind: cda.NodeBlock}
	for i, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if i > 0 {
			block.Children = append(block.Children, &cda.Node{Kind: cda.NodeBreak})
		}
		block.Children = append(block.Children, &cda.Node{Kind: cda.NodeText, Text: strings.ReplaceAll(line, "\t", "    ")})
	}
	return []cda.Section{{Title: "Document (texte)", Text: block}}
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// embedded returns the PDF of an N1 document unchanged, or converted to PDF/A-1b by
// opts.ConvertN1 when it does not declare PDF/A-1.
func embedded(doc *cda.Document, opts *Options) (*Result, error) {
	b := doc.Body
	if b == nil || len(b.Data) == 0 {
		return nil, ErrNoContent
	}
	if !bytes.HasPrefix(b.Data, []byte("%PDF-")) {
		return nil, fmt.Errorf("%w (media type %q)", ErrEmbeddedNotPDF, b.MediaType)
	}
	res := &Result{PDF: b.Data, Embedded: true}
	if declaresPDFA1(b.Data) {
		return res, nil
	}
	if opts.StrictN1 {
		return nil, ErrNotPDFA
	}
	if opts.ConvertN1 != nil {
		pdf, err := opts.ConvertN1(b.Data, opts.now().Truncate(time.Second))
		if err == nil && !declaresPDFA1(pdf) {
			err = errors.New("pdfa: the converted PDF does not declare PDF/A-1")
		}
		if err == nil {
			return &Result{PDF: pdf, Converted: true, Warnings: []error{ErrConvertedN1}}, nil
		}
		res.Warnings = append(res.Warnings, ErrNotPDFA, err)
		return res, nil
	}
	res.Warnings = append(res.Warnings, ErrNotPDFA)
	return res, nil
}

// declaresPDFA1 reports whether the PDF has an uncompressed XMP packet with pdfaid:part 1, as
// PDF/A-1 requires (§6.7.2: the metadata stream is not filtered). It is a declaration check, not
// a validation.
func declaresPDFA1(pdf []byte) bool {
	for _, pat := range []string{"pdfaid:part>1<", `pdfaid:part="1"`, "pdfaid:part='1'"} {
		if bytes.Contains(pdf, []byte(pat)) {
			return true
		}
	}
	return false
}

// maxKids is the largest /Kids array written (PDF/A-1 allows 8191 array elements); a variable so
// that a test can exercise the two-level page tree without thousands of pages.
var maxKids = 4096

// assemble writes the pages, fonts, metadata and output intent as one PDF/A-1b file.
func assemble(l *layout, info docInfo) ([]byte, error) {
	w := newPDFWriter()
	catalog, pagesObj, infoObj, meta, intent, icc := w.alloc(), w.alloc(), w.alloc(), w.alloc(), w.alloc(), w.alloc()
	pageObjs := make([]int, len(l.pages))
	for i, p := range l.pages {
		// Each page object is written later, once the font dictionary exists; its content
		// stream takes the next number.
		pageObjs[i] = w.alloc()
		w.stream(w.alloc(), "", []byte(p.ops.String()), true)
	}
	imageObjs := make([]int, len(l.images))
	for i, im := range l.images {
		imageObjs[i] = w.alloc()
		if im.jpeg != nil {
			w.stream(imageObjs[i], im.dict(), im.jpeg, false)
		} else {
			w.stream(imageObjs[i], im.dict(), im.samples, true)
		}
	}
	fontDict := w.alloc()
	var fonts []string
	for _, f := range l.fonts.faces {
		n, err := f.embed(w)
		if err != nil {
			return nil, err
		}
		if n != 0 {
			fonts = append(fonts, fmt.Sprintf("/%s %s", f.res, ref(n)))
		}
	}
	w.object(fontDict, "<< "+strings.Join(fonts, " ")+" >>")
	// PDF/A-1 limits arrays to 8191 elements: beyond maxKids pages, the page tree gets a level of
	// intermediate nodes.
	parents := make([]int, len(pageObjs))
	var rootKids []string
	for i := 0; i < len(pageObjs); i += maxKids {
		group := pageObjs[i:min(i+maxKids, len(pageObjs))]
		parent := pagesObj
		if len(pageObjs) > maxKids {
			parent = w.alloc()
			rootKids = append(rootKids, ref(parent))
		}
		kids := make([]string, len(group))
		for j, n := range group {
			kids[j] = ref(n)
			parents[i+j] = parent
		}
		if parent != pagesObj {
			w.object(parent, fmt.Sprintf("<< /Type /Pages /Parent %s /Kids [%s] /Count %d >>", ref(pagesObj), strings.Join(kids, " "), len(kids)))
		} else {
			rootKids = kids
		}
	}
	for i, n := range pageObjs {
		res := fmt.Sprintf("/Font %s /ProcSet [/PDF /Text]", ref(fontDict))
		if ims := l.pages[i].images; len(ims) > 0 {
			res = fmt.Sprintf("/Font %s /ProcSet [/PDF /Text /ImageB /ImageC] /XObject <<", ref(fontDict))
			for _, k := range ims {
				res += fmt.Sprintf(" /Im%d %s", k, ref(imageObjs[k]))
			}
			res += " >>"
		}
		// Content streams were allocated right after each page object.
		w.object(n, fmt.Sprintf("<< /Type /Page /Parent %s /MediaBox [0 0 %s %s] /Resources << %s >> /Contents %s >>",
			ref(parents[i]), num(pageWidth), num(pageHeight), res, ref(n+1)))
	}
	w.object(pagesObj, fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(rootKids, " "), len(pageObjs)))
	w.stream(icc, "/N 3", srgbICC(), true)
	w.object(intent, fmt.Sprintf("<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier %s /Info %s /RegistryName (http://www.color.org) /DestOutputProfile %s >>",
		textString(srgbProfileName), textString(srgbProfileName), ref(icc)))
	w.stream(meta, "/Type /Metadata /Subtype /XML", info.xmp(), false)
	w.object(infoObj, info.infoDict())
	w.object(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %s /Metadata %s /OutputIntents [%s] /Lang (fr-FR) >>",
		ref(pagesObj), ref(meta), ref(intent)))
	return w.finish(catalog, infoObj), nil
}
