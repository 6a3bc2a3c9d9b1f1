package xdm

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/mssante/mssante/cda"
)

// ReadOptions bound what Read accepts. Zero fields take the defaults below.
type ReadOptions struct {
	// MaxTotal is the most bytes all entries may expand to. Default 64 MiB.
	MaxTotal int64
	// MaxEntry is the most bytes one entry may expand to. Default 32 MiB.
	MaxEntry int64
	// MaxRatio is the highest expansion ratio (uncompressed/compressed) of an entry larger than
	// 1 MiB once expanded. Default 200 (XML compresses about 10:1; a bomb 1000:1).
	MaxRatio int64
	// MaxFiles is the most entries the archive may hold. Default 1000.
	MaxFiles int
	// SkipCDA leaves Document.CDA nil: the documents are not parsed.
	SkipCDA bool
}

// Defaults of ReadOptions.
const (
	DefaultMaxTotal = 64 << 20
	DefaultMaxEntry = 32 << 20
	DefaultMaxRatio = 200
	DefaultMaxFiles = 1000
	// ratioFloor: entries smaller than this once expanded are not checked for ratio (a 4 KiB run
	// of spaces is legitimately 100:1).
	ratioFloor = 1 << 20
)

func (o *ReadOptions) withDefaults() ReadOptions {
	var r ReadOptions
	if o != nil {
		r = *o
	}
	if r.MaxTotal <= 0 {
		r.MaxTotal = DefaultMaxTotal
	}
	if r.MaxEntry <= 0 {
		r.MaxEntry = DefaultMaxEntry
	}
	if r.MaxRatio <= 0 {
		r.MaxRatio = DefaultMaxRatio
	}
	r.MaxRatio = min(r.MaxRatio, 1<<20) // keeps CompressedSize64*MaxRatio within int64
	if r.MaxFiles <= 0 {
		r.MaxFiles = DefaultMaxFiles
	}
	return r
}

// Read reads an XDM archive held in memory. opts may be nil (defaults).
//
// It fails with ErrNotZip, ErrZipSlip, ErrZipBomb, ErrDuplicateEntry, ErrEntryTooLarge,
// ErrNoMetadata or ErrDoctype, returning no package. When every entry was read but a document's
// hash or size disagrees with its metadata, it returns the package and an error wrapping
// ErrHashMismatch or ErrSizeMismatch (errors.Join of all of them). Other deviations are
// Package.Warnings. The patient of each document is Documents[i].Entry.PatientID (ECO.2.1.2).
func Read(data []byte, opts *ReadOptions) (*Package, error) {
	o := opts.withDefaults()
	files, err := unzip(data, &o)
	if err != nil {
		return nil, err
	}
	return assemble(files, &o)
}

// zipFile is one extracted entry.
type zipFile struct {
	name string // as in the archive, "/"-separated
	data []byte
}

// unzip checks and extracts every entry within the limits of o.
func unzip(data []byte, o *ReadOptions) ([]zipFile, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if errors.Is(err, zip.ErrInsecurePath) {
		err = nil // names are checked below, with our own rules and error
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotZip, err)
	}
	if len(zr.File) > o.MaxFiles {
		return nil, fmt.Errorf("%w: %d entries, at most %d", ErrZipBomb, len(zr.File), o.MaxFiles)
	}
	seen := make(map[string]bool, len(zr.File))
	var total int64
	var files []zipFile
	for _, f := range zr.File {
		// Some Windows archivers write "\" as the separator: it is read as "/", and the name is
		// then checked like any other (a "..\x" entry is still refused).
		name := strings.ReplaceAll(f.Name, "\\", "/")
		if err := checkName(name); err != nil {
			return nil, err
		}
		key := strings.ToUpper(strings.TrimSuffix(name, "/"))
		if seen[key] {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateEntry, f.Name)
		}
		seen[key] = true
		if f.FileInfo().IsDir() || strings.HasSuffix(name, "/") {
			continue
		}
		b, err := readZipEntry(f, o, o.MaxTotal-total)
		if err != nil {
			return nil, err
		}
		total += int64(len(b))
		files = append(files, zipFile{name: name, data: b})
	}
	return files, nil
}

// checkName refuses entry names that could escape the extraction folder (zip-slip).
func checkName(name string) error {
	bad := name == "" || strings.ContainsAny(name, "\\\x00") || strings.HasPrefix(name, "/") ||
		(len(name) >= 2 && name[1] == ':')
	if !bad {
		for _, elem := range strings.Split(name, "/") {
			if elem == ".." {
				bad = true
				break
			}
		}
	}
	if bad {
		return fmt.Errorf("%w: %q", ErrZipSlip, name)
	}
	return nil
}

// readZipEntry expands one entry, trusting none of its declared sizes: it stops reading at the
// first byte beyond the limits.
func readZipEntry(f *zip.File, o *ReadOptions, budget int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(o.MaxEntry) {
		return nil, fmt.Errorf("%w: %q declares %d bytes, at most %d", ErrEntryTooLarge, f.Name, f.UncompressedSize64, o.MaxEntry)
	}
	if f.UncompressedSize64 > uint64(max(budget, 0)) {
		return nil, fmt.Errorf("%w: %q would bring the archive beyond %d bytes", ErrZipBomb, f.Name, o.MaxTotal)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrNotZip, f.Name, err)
	}
	// Stop expanding at the first byte beyond any limit: the entry size, the archive budget, or
	// MaxRatio times the compressed size (the compressed size bounds what the decompressor reads).
	ratioLimit := max(ratioFloor, int64(min(f.CompressedSize64, 1<<40))*o.MaxRatio)
	limit := min(o.MaxEntry, max(budget, 0), ratioLimit)
	buf := bytes.NewBuffer(make([]byte, 0, min(int64(f.UncompressedSize64), limit, 16<<20)+1))
	_, err = io.Copy(buf, io.LimitReader(rc, limit+1))
	cerr := rc.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrNotZip, f.Name, err)
	}
	if cerr != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrNotZip, f.Name, cerr)
	}
	b := buf.Bytes()
	if n := int64(len(b)); n > limit {
		switch limit {
		case o.MaxEntry:
			return nil, fmt.Errorf("%w: %q expands beyond %d bytes", ErrEntryTooLarge, f.Name, o.MaxEntry)
		case ratioLimit:
			return nil, fmt.Errorf("%w: %q expands more than %d times its compressed size", ErrZipBomb, f.Name, o.MaxRatio)
		}
		return nil, fmt.Errorf("%w: the archive expands beyond %d bytes", ErrZipBomb, o.MaxTotal)
	}
	return b, nil
}

// assemble finds the metadata, matches the documents and checks their integrity.
func assemble(files []zipFile, o *ReadOptions) (*Package, error) {
	byName := make(map[string]*zipFile, len(files))
	for i := range files {
		byName[strings.ToUpper(files[i].name)] = &files[i]
	}
	metas := metadataFiles(files)
	if len(metas) == 0 {
		return nil, fmt.Errorf("%w: no IHE_XDM/<subset>/METADATA.XML", ErrNoMetadata)
	}
	p := &Package{}
	if f := byName["INDEX.HTM"]; f != nil {
		p.Index = f.data
	} else {
		p.Warnings = append(p.Warnings, errors.New("xdm: no INDEX.HTM at the root"))
	}
	if f := byName["README.TXT"]; f != nil {
		p.Readme = f.data
	} else {
		p.Warnings = append(p.Warnings, errors.New("xdm: no README.TXT at the root"))
	}
	used := map[string]bool{}
	var integrity []error
	for i, mf := range metas {
		m, err := parseMetadata(mf.data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", mf.name, err)
		}
		used[strings.ToUpper(mf.name)] = true
		if i == 0 {
			p.Submission = m.submission
		} else {
			p.Warnings = append(p.Warnings, fmt.Errorf("xdm: more than one submission set; %s's submission set is not returned", mf.name))
		}
		p.Warnings = append(p.Warnings, m.warnings...)
		dir := path.Dir(mf.name)
		for j := range m.entries {
			d, errs := matchDocument(&m.entries[j], dir, byName, used, o)
			d.Warnings = append(m.entryWarns[j], d.Warnings...)
			integrity = append(integrity, errs...)
			p.Documents = append(p.Documents, d)
			p.Warnings = append(p.Warnings, d.Warnings...)
		}
	}
	p.Warnings = append(p.Warnings, patientMismatches(p)...)
	p.Documents = append(p.Documents, unlisted(files, metas, used, p)...)
	for _, f := range files {
		switch u := strings.ToUpper(f.name); {
		case u == "INDEX.HTM" || u == "README.TXT":
		case used[u] && !strings.EqualFold(path.Base(f.name), "METADATA.XML"):
		case !used[u] && isDocumentDir(u, metas):
		default:
			p.Other = append(p.Other, File{Path: f.name, Data: f.data})
		}
	}
	return p, errors.Join(integrity...)
}

// patientMismatches warns when a document's patientId differs from the submission set's: a mail
// concerns one patient (ECO.2.1.1), and the receiver must not file a document under the wrong one.
func patientMismatches(p *Package) []error {
	var out []error
	for _, d := range p.Documents {
		if d.Entry.PatientID != "" && p.Submission.PatientID != "" && d.Entry.PatientID != p.Submission.PatientID {
			w := fmt.Errorf("%w: %s has patientId %s, the submission set %s", ErrTwoPatients, d.Path, d.Entry.PatientID, p.Submission.PatientID)
			d.Warnings = append(d.Warnings, w)
			out = append(out, w)
		}
	}
	return out
}

// metadataFiles returns the METADATA.XML files, those under IHE_XDM/ first, in name order.
func metadataFiles(files []zipFile) []*zipFile {
	var out []*zipFile
	for i := range files {
		if strings.EqualFold(path.Base(files[i].name), "METADATA.XML") {
			out = append(out, &files[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ui, uj := underXDM(out[i].name), underXDM(out[j].name)
		if ui != uj {
			return ui
		}
		return out[i].name < out[j].name
	})
	return out
}

func underXDM(name string) bool { return strings.HasPrefix(strings.ToUpper(name), "IHE_XDM/") }

// matchDocument finds the file of an entry: its URI relative to the subset folder, else relative
// to the subset's parent (IHE_XDM/, as DRIM-M writes "SS000001/KOS_1_1.DCM"), else the archive root.
func matchDocument(e *DocumentEntry, dir string, byName map[string]*zipFile, used map[string]bool, o *ReadOptions) (*Document, []error) {
	d := &Document{Entry: *e}
	uri := strings.TrimPrefix(strings.ReplaceAll(e.URI, "\\", "/"), "./")
	if uri == "" {
		d.Warnings = append(d.Warnings, fmt.Errorf("%w: document %s has no URI", ErrMissingDocument, e.ID))
		return d, nil
	}
	var f *zipFile
	var where int
	for i, cand := range []string{path.Join(dir, uri), path.Join(path.Dir(dir), uri), path.Clean(uri)} {
		if f = byName[strings.ToUpper(cand)]; f != nil {
			where = i
			break
		}
	}
	if f == nil {
		d.Warnings = append(d.Warnings, fmt.Errorf("%w: %s (document %s)", ErrMissingDocument, e.URI, e.ID))
		return d, nil
	}
	if where > 0 {
		// QUIRK(DRIM-M KA202401): URI "SS000001/KOS_1_1.DCM" is relative to IHE_XDM/, not to
		// the subset folder as IHE ITI TF-3 §4.1.7 says.
		d.Warnings = append(d.Warnings, fmt.Errorf("xdm: URI %q of document %s is not relative to its subset folder %s", e.URI, e.ID, dir))
	}
	used[strings.ToUpper(f.name)] = true
	d.Path, d.Data = f.name, f.data
	errs := checkIntegrity(d)
	parseCDAInto(d, o)
	return d, errs
}

// checkIntegrity compares the file with the hash and size of its metadata.
func checkIntegrity(d *Document) []error {
	var errs []error
	if d.Entry.Size >= 0 && d.Entry.Size != int64(len(d.Data)) {
		errs = append(errs, fmt.Errorf("%w: %s is %d bytes, metadata say %d", ErrSizeMismatch, d.Path, len(d.Data), d.Entry.Size))
	}
	sum := sha1.Sum(d.Data)
	if got := hex.EncodeToString(sum[:]); d.Entry.Hash != "" && got != d.Entry.Hash {
		errs = append(errs, fmt.Errorf("%w: %s has SHA-1 %s, metadata say %s", ErrHashMismatch, d.Path, got, d.Entry.Hash))
	} else if d.Entry.Hash == "" {
		d.Warnings = append(d.Warnings, fmt.Errorf("xdm: metadata of %s carry no hash", d.Path))
	}
	d.Warnings = append(d.Warnings, errs...)
	return errs
}

// parseCDAInto parses an XML document as CDA; failures are warnings (a signature, a KOS).
func parseCDAInto(d *Document, o *ReadOptions) {
	if o.SkipCDA || !looksXML(d) {
		return
	}
	doc, err := cda.Parse(d.Data)
	if err != nil {
		d.Warnings = append(d.Warnings, fmt.Errorf("xdm: %s is not a readable CDA: %w", d.Path, err))
		return
	}
	d.CDA = doc
}

func looksXML(d *Document) bool {
	mt := strings.ToLower(d.Entry.MimeType)
	return strings.Contains(mt, "xml") || (mt == "" && strings.EqualFold(path.Ext(d.Path), ".xml"))
}

func isDocumentDir(upperName string, metas []*zipFile) bool {
	for _, m := range metas {
		if strings.EqualFold(path.Dir(m.name), path.Dir(upperName)) {
			return true
		}
	}
	return false
}

// unlisted returns the files of the subset folders no entry describes, with a warning each.
func unlisted(files []zipFile, metas []*zipFile, used map[string]bool, p *Package) []*Document {
	dirs := map[string]bool{}
	for _, m := range metas {
		dirs[strings.ToUpper(path.Dir(m.name))] = true
	}
	var out []*Document
	for i := range files {
		f := &files[i]
		if used[strings.ToUpper(f.name)] || !dirs[strings.ToUpper(path.Dir(f.name))] {
			continue
		}
		w := fmt.Errorf("%w: %s", ErrUnlisted, f.name)
		p.Warnings = append(p.Warnings, w)
		out = append(out, &Document{Path: f.name, Data: f.data, Entry: DocumentEntry{Size: -1}, Warnings: []error{w}})
	}
	return out
}
