// Package pdfa renders CDA R2 documents (CI-SIS) as PDF/A-1b files, the human-readable copy that
// MSSanté requires next to the IHE_XDM archive (Référentiel #2 clients, ECO.2.1.1 and ECO.2.1.5).
//
// Usage:
//
//	doc, err := cda.Parse(data)
//	res, err := pdfa.Render(doc, &pdfa.Options{Now: clock})
//	// res.PDF is the file; res.Warnings lists what was degraded (never silently dropped).
//
// What is rendered (ECO.2.1.5):
//
//   - N3 (structuredBody): the title, the header data the referential names (document type,
//     creation date and time, authors, custodian organisation), plus the patient, the acts and the
//     legal authenticator; then every section, nested sections as smaller headings, with a
//     transcription of its narrative block: paragraphs, styled content (bold, italics), line
//     breaks, ordered and unordered lists, tables as grids (caption, wrapped cells, colspan and
//     rowspan, header rows on grey repeated on every page, rows taller than a page split between
//     lines, tables too wide for the page shrunk down to 6 pt and then cut inside words with an
//     ErrWideTable warning), footnotes, links (with their address). Multimedia objects are not
//     reproduced: a placeholder names them and a warning is returned. Every page has a footer
//     with the patient, the title and "Page n / N".
//   - N1 (nonXMLBody): the embedded PDF is returned byte for byte ("identique au PDF encapsulé")
//     when it declares PDF/A-1 in its XMP metadata. ECO.2.1.5 presumes it does, as CI-SIS asks,
//     but none of the three N1 samples of the ANS corpus embeds a PDF/A-1 file (Word exports: no
//     XMP, transparency groups, CMYK, fonts not embedded), and ECO.2.1.1 wants the mail to carry
//     PDF/A-1. So when it does not, and Options.ConvertN1 is set, Render returns its conversion to
//     PDF/A-1b (same pages; fonts that were not embedded substituted) with the French
//     ErrConvertedN1 warning: the file is no longer the embedded one byte for byte. Ghostscript
//     (ghostscript.go) is the converter this package provides: it runs the gs program, an
//     optional runtime dependency, and is the only code here that starts a program. Without a
//     converter, or when it fails, Render returns the embedded PDF unchanged with the ErrNotPDFA
//     warning; Options.StrictN1 turns that case into an error (and is not softened by a
//     converter). An N1 body in text/plain or an image (JPEG, PNG, TIFF) has no PDF to return:
//     it is rendered as PDF/A-1b, header first, then the lines as written or the image scaled to
//     the page (a JPEG in colour or grey is embedded as received; other images are decoded to
//     RGB, transparency over white). Other N1 media types (RTF…) give ErrEmbeddedNotPDF.
//
// # Why an own PDF writer
//
// go-pdf/fpdf embeds UTF-8 TrueType fonts but cannot write PDF/A-1 (no /Metadata link from the
// catalog, no OutputIntent, no trailer /ID, an EmbeddedFiles name tree always written);
// post-processing its output with pdfcpu works but rewrites the dates and the producer after the
// XMP is written. The subset of PDF this package needs is small (text, lines, rectangles, opaque
// images), so it
// writes PDF 1.4 itself (about 200 lines, pdf.go): header with a binary comment, objects, an
// xref table, a trailer whose /ID is the MD5 of the file body, an Info dictionary and an
// unfiltered XMP packet with identical dates and time zone, and an OutputIntent GTS_PDFA1 with
// an embedded sRGB ICC profile generated from the IEC 61966-2-1 constants (icc.go). No
// transparency, no annotations, no encryption: nothing PDF/A-1 forbids is ever written.
//
// Fonts are the Go fonts (golang.org/x/image/font/gofont, BSD licence; regular, bold, italic,
// bold italic), which cover French (accents, œ, €, « », ’). Each is embedded as a CIDFontType2
// font with Identity-H encoding (CIDs are the original glyph ids), /W widths taken from hmtx, a
// /ToUnicode CMap (so that copy and pdftotext give back the text) and a compact subset font
// program holding only the glyphs shown, renumbered, with the /CIDToGIDMap stream that maps CIDs
// to them and the /CIDSet stream PDF/A-1 §6.3.5 requires for subsets. CIDSet, map and program
// list the same glyphs, whichever way a validator counts the glyphs "present". The subset keeps
// the font's name table, which carries the Go fonts' copyright and licence notice. A character
// the fonts lack is shown as "?" with a warning, never as the .notdef glyph.
//
// The output is deterministic: the same document and the same Options.Now give the same bytes.
// Conformance is checked in the tests with Apache PDFBox Preflight (Validator_A1b) and the text
// with poppler's pdftotext, see internal/pdfcheck.
package pdfa
