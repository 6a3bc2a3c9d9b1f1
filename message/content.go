package message

import (
	"fmt"
	"strings"

	"github.com/mssante/mssante/cda"
)

// parseCDA reads one CDA document.
func parseCDA(raw []byte) (*cda.Document, error) { return cda.Parse(raw) }

// attach builds IHE_XDM.zip and the PDF/A renderings of docs, and sets the headers derived from
// the XDM actually attached (ECO.2.4.1, ECO.2.4.2).
func (c *Composed) attach(d *Draft, docs []*cda.Document, opts *Options) ([]attachment, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	zip, err := buildXDM(d.CDAs, d, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrXDM, err)
	}
	back, _, err := readXDM(zip)
	if err != nil {
		return nil, fmt.Errorf("%w: reading back: %w", ErrXDM, err)
	}
	c.Headers[HeaderCodeCDA], c.Headers[HeaderINS] = xdmHeaders(back)
	atts := []attachment{{name: XDMFileName, contentType: "application/zip", data: zip}}
	fallback := opts.now().Format("20060102")
	for i, doc := range docs {
		pdf, warnings, err := renderPDF(doc, opts)
		if err != nil {
			return nil, fmt.Errorf("%w: document %d: %w", ErrPDF, i+1, err)
		}
		c.Warnings = append(c.Warnings, warnings...)
		name := PDFName(c.Documents[i], d.RecordNumber, fallback)
		c.PDFNames = append(c.PDFNames, name)
		atts = append(atts, attachment{name: name, contentType: "application/pdf", data: pdf})
	}
	return atts, nil
}

// xdmHeaders returns X-MSS-CODECDA (each document's code, ", "-separated as in the referential's
// example) and X-MSS-INS ("O" when a document of the archive carries a qualified INS).
func xdmHeaders(docs []ReceivedDocument) (codes, insFlag string) {
	list := make([]string, 0, len(docs))
	insFlag = "N"
	for _, d := range docs {
		if d.Code != "" {
			list = append(list, d.Code)
		}
		if d.Qualified {
			insFlag = "O"
		}
	}
	return strings.Join(list, ", "), insFlag
}
