package xdm

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/mssante/mssante/cda"
)

// DefaultSourceID is the sourceId written when BuildOptions.SourceID is empty: the OID derived
// from a fixed UUID (ITU-T X.667 "2.25" arc) naming the mssante project. A vendor distributing
// the software should set its own OID.
const DefaultSourceID = "2.25.187377553101556307330447390457298196371"

// BuildOptions parameterise Build. nil means all defaults.
type BuildOptions struct {
	// Now gives the submission time and the ZIP modification times; default time.Now.
	Now func() time.Time
	// Rand gives the submission set uniqueId; default crypto/rand.Reader. Tests pass a fixed
	// reader to get byte-identical archives.
	Rand io.Reader
	// SourceID is the OID of the sending software or organisation; default DefaultSourceID.
	SourceID string
	// Author is the submission set author; default the first author of the first document.
	Author *Author
	// ContentType is the submission set contentTypeCode; default the typeCode of the first
	// document.
	ContentType *Code
	// Recipients are the intended recipients' mail addresses, written as XTN
	// ("||^^Internet^addr", IHE ITI TF-3 §4.2.3.3.7 XON|XCN|XTN form).
	Recipients []string
	// Title and Comments of the submission set (optional).
	Title, Comments string
	// ReadmeVendor and ReadmeProduct identify the sender in README.TXT; default "mssante".
	ReadmeVendor, ReadmeProduct string
}

func (o *BuildOptions) withDefaults() BuildOptions {
	var r BuildOptions
	if o != nil {
		r = *o
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Rand == nil {
		r.Rand = rand.Reader
	}
	if r.SourceID == "" {
		r.SourceID = DefaultSourceID
	}
	if r.ReadmeVendor == "" {
		r.ReadmeVendor = "mssante"
	}
	if r.ReadmeProduct == "" {
		r.ReadmeProduct = "mssante"
	}
	return r
}

// Folder names inside the archive (IHE ITI TF-1 §16.1.1: 8.3 upper-case names).
const (
	subsetDir = "IHE_XDM/SUBSET01/"
	metaName  = subsetDir + "METADATA.XML"
)

// docName is the 8.3 name of the n-th document (1-based): DOC0001.XML.
func docName(n int) string { return fmt.Sprintf("DOC%04d.XML", n) }

// Build parses each CDA and makes the XDM package of one submission set holding them, with
// the metadata derived from their headers. It refuses documents of different patients
// (ErrTwoPatients, ECO.2.1.1) and documents the cda package cannot read. Gaps in the headers
// (no healthcare facility type, an unknown document type…) are Package.Warnings.
func Build(cdas [][]byte, opts *BuildOptions) (*Package, error) {
	o := opts.withDefaults()
	if len(cdas) == 0 {
		return nil, ErrNoDocument
	}
	if len(cdas) > 9999 {
		return nil, fmt.Errorf("%w: %d", ErrTooManyDocuments, len(cdas))
	}
	p := &Package{}
	for i, data := range cdas {
		doc, err := cda.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if PatientID(doc) == "" {
			return nil, fmt.Errorf("document %d: %w", i+1, ErrNoPatient)
		}
		if i > 0 && !samePatient(p.Documents[0].CDA, doc) {
			return nil, fmt.Errorf("%w: document %d is for %s, document 1 for %s", ErrTwoPatients, i+1, PatientID(doc), PatientID(p.Documents[0].CDA))
		}
		name := docName(i + 1)
		entry, warns := entryFromCDA(doc, data, fmt.Sprintf("Document%02d", i+1), name)
		p.Documents = append(p.Documents, &Document{Path: subsetDir + name, Data: data, Entry: entry, CDA: doc, Warnings: warns})
		p.Warnings = append(p.Warnings, warns...)
	}
	if err := p.fillSubmission(&o); err != nil {
		return nil, err
	}
	p.Index = indexHTM(p)
	p.Readme = readmeTXT(p, &o)
	return p, nil
}

// fillSubmission sets the submission set from the options and the first document.
func (p *Package) fillSubmission(o *BuildOptions) error {
	uid, err := uuidOID(o.Rand)
	if err != nil {
		return fmt.Errorf("submission set uniqueId: %w", err)
	}
	first := &p.Documents[0].Entry
	s := SubmissionSet{
		ID: "SubmissionSet01", UniqueID: uid, SourceID: o.SourceID,
		PatientID: first.PatientID, INS: first.INS,
		SubmissionTime: timeDTM(o.Now()),
		Title:          o.Title, Comments: o.Comments,
		ContentType: first.TypeCode,
	}
	if o.ContentType != nil {
		s.ContentType = *o.ContentType
	}
	switch {
	case o.Author != nil:
		s.Authors = []Author{*o.Author}
	case len(first.Authors) > 0:
		s.Authors = first.Authors[:1]
	}
	for _, r := range o.Recipients {
		s.IntendedRecipients = append(s.IntendedRecipients, "||"+xtnMail(r))
	}
	p.Submission = s
	return nil
}

// uuidOID reads 16 bytes of r as a version 4 UUID and returns its "2.25.<integer>" OID form.
func uuidOID(r io.Reader) (string, error) {
	var u [16]byte
	if _, err := io.ReadFull(r, u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return "2.25." + new(big.Int).SetBytes(u[:]).String(), nil
}

// Metadata returns METADATA.XML for the package as it is now.
func (p *Package) Metadata() []byte {
	entries := make([]*DocumentEntry, 0, len(p.Documents))
	for _, d := range p.Documents {
		entries = append(entries, &d.Entry)
	}
	return marshalMetadata(&p.Submission, entries)
}

// WriteTo writes the package as an XDM ZIP archive: INDEX.HTM, README.TXT,
// IHE_XDM/SUBSET01/METADATA.XML and the documents at their Path. The output depends only on the
// package (modification times come from the submission time), so equal packages give equal bytes.
func (p *Package) WriteTo(w io.Writer) (int64, error) {
	mod, err := time.Parse("20060102150405", p.Submission.SubmissionTime)
	if err != nil {
		mod = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := []zipFile{{"INDEX.HTM", p.Index}, {"README.TXT", p.Readme}, {metaName, p.Metadata()}}
	for _, d := range p.Documents {
		files = append(files, zipFile{d.Path, d.Data})
	}
	for _, f := range files {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: mod})
		if err != nil {
			return 0, fmt.Errorf("zip %s: %w", f.name, err)
		}
		if _, err := fw.Write(f.data); err != nil {
			return 0, fmt.Errorf("zip %s: %w", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("zip: %w", err)
	}
	return buf.WriteTo(w)
}
