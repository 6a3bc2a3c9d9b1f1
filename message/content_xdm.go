package message

import (
	"bytes"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"strings"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/pdfa"
	"github.com/mssante/mssante/xdm"
)

// readXDM reads an IHE XDM archive and returns its CDA documents with their patientId
// (ECO.2.1.2), and the deviations found as French warnings.
func readXDM(zip []byte) ([]ReceivedDocument, []string, error) {
	pkg, err := xdm.Read(zip, nil)
	if pkg == nil {
		return nil, nil, err
	}
	var warnings []string
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("archive IHE_XDM : %v", err))
	}
	for _, w := range pkg.Warnings {
		warnings = append(warnings, fmt.Sprintf("archive IHE_XDM : %v", w))
	}
	docs := make([]ReceivedDocument, 0, len(pkg.Documents))
	for _, d := range pkg.Documents {
		if d.CDA == nil && d.Entry.MimeType != "text/xml" {
			continue // a DICOM KOS, a signature: not a CDA document
		}
		docs = append(docs, receivedDocument(pkg, d))
	}
	return docs, warnings, nil
}

func receivedDocument(pkg *xdm.Package, d *xdm.Document) ReceivedDocument {
	e := d.Entry
	r := ReceivedDocument{PatientID: firstNonEmpty(e.PatientID, pkg.Submission.PatientID), Path: d.Path,
		Code: e.TypeCode.Code, DisplayName: e.TypeCode.Display, Title: e.Title, Level: cda.LevelUnknown.String()}
	r.INS = e.INS.Matricule.String()
	r.UniqueID = e.UniqueID
	if !e.INS.Matricule.IsZero() {
		r.PatientOID = string(e.INS.OID)
	}
	if r.INS == "" && e.PatientID == "" {
		r.INS = pkg.Submission.INS.Matricule.String()
	}
	if c := d.CDA; c != nil {
		r.Code = firstNonEmpty(c.Code.Code, r.Code)
		r.DisplayName = firstNonEmpty(c.Code.DisplayName, r.DisplayName)
		r.Title = firstNonEmpty(c.Title, r.Title)
		r.Level = c.Level.String()
		r.Qualified = c.Patient.Identity.Qualified() == nil
		p := InfoFromCDA(c).Patient
		r.PatientName = strings.TrimSpace(p.Name() + " " + p.FirstName)
	}
	return r
}

// renderPDF renders the PDF/A-1 of doc (ECO.2.1.5): for N1 the embedded PDF as is, or its
// conversion to PDF/A-1b by opts.ConvertN1 when it does not declare PDF/A-1.
func renderPDF(doc *cda.Document, opts *Options) ([]byte, []string, error) {
	po := &pdfa.Options{Producer: "mssante"}
	if opts != nil {
		po.Now, po.ConvertN1 = opts.Now, opts.ConvertN1
	}
	res, err := pdfa.Render(doc, po)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	for _, w := range res.Warnings {
		warnings = append(warnings, fmt.Sprintf("PDF : %v", w))
	}
	return res.PDF, warnings, nil
}

// buildXDM packages the CDA documents as IHE_XDM.zip (ECO.2.1.1), recipients as intended
// recipients of the submission set.
func buildXDM(cdas [][]byte, d *Draft, opts *Options) ([]byte, error) {
	// The archive gets its own random stream, seeded from opts.Rand: the Message-ID and the
	// boundaries then do not depend on how much randomness xdm reads.
	var seed [32]byte
	if _, err := io.ReadFull(opts.rand(), seed[:]); err != nil {
		return nil, fmt.Errorf("reading randomness: %w", err)
	}
	bo := &xdm.BuildOptions{Rand: mathrand.NewChaCha8(seed), ReadmeProduct: "mssante", ReadmeVendor: "mssante"}
	if opts != nil && opts.Now != nil {
		bo.Now = opts.Now
	}
	for _, a := range append(append([]Address(nil), d.To...), d.Cc...) {
		bo.Recipients = append(bo.Recipients, a.Addr)
	}
	pkg, err := xdm.Build(cdas, bo)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := pkg.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
