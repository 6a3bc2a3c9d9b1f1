package xdm

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// validFiles returns the entries of a valid archive built from the synthetic samples.
func validFiles(t testing.TB) map[string][]byte {
	t.Helper()
	_, z := buildArchive(t, "cr-consultation.xml", "note-ecg-n1.xml")
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil {
			t.Fatal(err)
		}
		files[f.Name] = b.Bytes()
	}
	return files
}

func with(files map[string][]byte, name string, data []byte) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range files {
		out[k] = v
	}
	if data == nil {
		delete(out, name)
	} else {
		out[name] = data
	}
	return out
}

// rawZip writes entries in the given order, duplicates allowed, with names not checked.
func rawZip(t testing.TB, names []string, data [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Each malformed archive gives a clear error naming the problem, never a panic.
func TestRead_malformed(t *testing.T) {
	valid := validFiles(t)
	good := makeZip(t, valid)
	metaPath := "IHE_XDM/SUBSET01/METADATA.XML"
	doc := valid["IHE_XDM/SUBSET01/DOC0001.XML"]
	zeros := make([]byte, 3<<20) // deflates about 1000:1
	tamperedDoc := bytes.Replace(doc, []byte("Palpitations"), []byte("Palpitation "), 1)
	longerDoc := append(append([]byte{}, doc...), '\n')
	doctype := append([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>`), bytes.TrimPrefix(valid[metaPath], []byte(`<?xml version="1.0" encoding="UTF-8"?>`))...)
	tests := []struct {
		name string
		data []byte
		opts *ReadOptions
		want error
	}{
		{"empty", nil, nil, ErrNotZip},
		{"not a zip", []byte("<ClinicalDocument/>"), nil, ErrNotZip},
		{"truncated", good[:len(good)/2], nil, ErrNotZip},
		{"truncated central directory", good[:len(good)-10], nil, ErrNotZip},
		{"zip-slip dotdot", makeZip(t, with(valid, "../evil", []byte("x"))), nil, ErrZipSlip},
		{"zip-slip nested dotdot", makeZip(t, with(valid, "IHE_XDM/../../evil", []byte("x"))), nil, ErrZipSlip},
		{"zip-slip absolute", makeZip(t, with(valid, "/etc/evil", []byte("x"))), nil, ErrZipSlip},
		{"zip-slip backslash", makeZip(t, with(valid, `..\evil`, []byte("x"))), nil, ErrZipSlip},
		{"zip-slip drive", makeZip(t, with(valid, "C:/evil", []byte("x"))), nil, ErrZipSlip},
		{"zip bomb ratio", makeZip(t, with(valid, "IHE_XDM/SUBSET01/BOMB.XML", zeros)), nil, ErrZipBomb},
		{"zip bomb total", good, &ReadOptions{MaxTotal: 4000}, ErrZipBomb},
		{"too many files", good, &ReadOptions{MaxFiles: 3}, ErrZipBomb},
		{"oversize entry", good, &ReadOptions{MaxEntry: 1000}, ErrEntryTooLarge},
		{"duplicate names", rawZip(t, []string{metaPath, "INDEX.HTM", "index.htm"}, [][]byte{valid[metaPath], {1}, {2}}), nil, ErrDuplicateEntry},
		{"missing metadata", makeZip(t, with(valid, metaPath, nil)), nil, ErrNoMetadata},
		{"metadata not XML", makeZip(t, with(valid, metaPath, []byte("PK\x03\x04 not xml <"))), nil, ErrNoMetadata},
		{"metadata truncated", makeZip(t, with(valid, metaPath, valid[metaPath][:len(valid[metaPath])/2])), nil, ErrNoMetadata},
		{"DOCTYPE in metadata", makeZip(t, with(valid, metaPath, doctype)), nil, ErrDoctype},
		{"hash mismatch", makeZip(t, with(valid, "IHE_XDM/SUBSET01/DOC0001.XML", tamperedDoc)), nil, ErrHashMismatch},
		{"size mismatch", makeZip(t, with(valid, "IHE_XDM/SUBSET01/DOC0001.XML", longerDoc)), nil, ErrSizeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Read(tt.data, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read error = %v, want %v", err, tt.want)
			}
			integrity := errors.Is(tt.want, ErrHashMismatch) || errors.Is(tt.want, ErrSizeMismatch)
			if integrity != (p != nil) {
				t.Errorf("package returned = %v, want %v", p != nil, integrity)
			}
			if integrity && (len(p.Documents) != 2 || p.Documents[0].Entry.PatientID == "") {
				t.Errorf("integrity failure lost the documents: %d", len(p.Documents))
			}
		})
	}
}

// A zip whose entry declares a small size but expands to much more is stopped at the limit, not
// trusted (the declared sizes are the attacker's).
func TestRead_lyingSizes(t *testing.T) {
	valid := validFiles(t)
	z := makeZip(t, with(valid, "IHE_XDM/SUBSET01/BIG.XML", bytes.Repeat([]byte("A"), 2<<20)))
	// Patch the central directory's uncompressed size of BIG.XML to 10 bytes.
	idx := bytes.LastIndex(z, []byte("IHE_XDM/SUBSET01/BIG.XML"))
	cdStart := idx - 46
	if binary.LittleEndian.Uint32(z[cdStart:]) != 0x02014b50 {
		t.Fatal("central directory header not found")
	}
	binary.LittleEndian.PutUint32(z[cdStart+24:], 10)
	_, err := Read(z, &ReadOptions{MaxEntry: 1 << 20})
	if err == nil {
		t.Fatal("Read accepted an entry larger than declared and than MaxEntry")
	}
	if !errors.Is(err, ErrEntryTooLarge) && !errors.Is(err, ErrNotZip) {
		t.Errorf("Read error = %v", err)
	}
}

// Tolerance: BOM, CRLF, leading whitespace and undeclared prefixes in METADATA.XML are read; a
// missing INDEX.HTM or README.TXT and an unlisted file are warnings, and nothing is dropped.
func TestRead_tolerant(t *testing.T) {
	valid := validFiles(t)
	metaPath := "IHE_XDM/SUBSET01/METADATA.XML"
	meta := string(valid[metaPath])
	meta = strings.Replace(meta, ` xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"`, "", 1)
	meta = strings.Replace(meta, `<?xml version="1.0" encoding="UTF-8"?>`, "", 1)
	meta = "\xef\xbb\xbf \r\n\t" + strings.ReplaceAll(meta, "\n", "\r\n")
	files := with(with(with(valid, metaPath, []byte(meta)), "INDEX.HTM", nil), "README.TXT", nil)
	files["IHE_XDM/SUBSET01/EXTRA.TXT"] = []byte("note")
	files["OTHER/NOTE.TXT"] = []byte("other")
	p, err := Read(makeZip(t, files), nil)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if p.Documents[0].Entry.PatientID != "285037511204553^^^&1.2.250.1.213.1.4.10&ISO^NH" {
		t.Errorf("patientId = %q", p.Documents[0].Entry.PatientID)
	}
	if len(p.Documents) != 3 || !hasWarning(p.Warnings, ErrUnlisted) || len(p.Warnings) != 3 {
		t.Errorf("%d documents, warnings %v", len(p.Documents), p.Warnings)
	}
	var other []string
	for _, f := range p.Other {
		other = append(other, f.Path)
	}
	if strings.Join(other, ",") != "IHE_XDM/SUBSET01/METADATA.XML,OTHER/NOTE.TXT" {
		t.Errorf("Other = %v", other)
	}
}

// ECO.2.1.1 on reading: a document whose patientId differs from the submission set's is kept
// and flagged with ErrTwoPatients, so the receiver never files it silently under the wrong patient.
func TestRead_patientMismatchWarns_ECO_2_1_1(t *testing.T) {
	valid := validFiles(t)
	metaPath := "IHE_XDM/SUBSET01/METADATA.XML"
	meta := bytes.Replace(valid[metaPath], []byte(`value="285037511204553^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH" id="ei9"`),
		[]byte(`value="172111305512303^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH" id="ei9"`), 1)
	if bytes.Equal(meta, valid[metaPath]) {
		t.Fatal("test setup: patientId of Document01 not found in the metadata")
	}
	p, err := Read(makeZip(t, with(valid, metaPath, meta)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(p.Documents[0].Warnings, ErrTwoPatients) || hasWarning(p.Documents[1].Warnings, ErrTwoPatients) {
		t.Errorf("warnings = %v / %v", p.Documents[0].Warnings, p.Documents[1].Warnings)
	}
	if p.Documents[0].Entry.INS.Matricule.String() != "172111305512303" {
		t.Errorf("INS = %v", p.Documents[0].Entry.INS)
	}
}

// ECO.2.1.2: an archive written by a Windows archiver with "\" separators (and directory entries)
// is read like the same archive with "/", so the patientId of a received mail is found; a "\"
// name escaping the folder is still refused.
func TestRead_backslashSeparators(t *testing.T) {
	valid := validFiles(t)
	names := []string{`IHE_XDM\`, `IHE_XDM\SUBSET01\`}
	data := [][]byte{{}, {}}
	for name, b := range valid {
		names = append(names, strings.ReplaceAll(name, "/", `\`))
		data = append(data, b)
	}
	p, err := Read(rawZip(t, names, data), nil)
	if err != nil {
		t.Fatalf("backslash archive: %v", err)
	}
	want, err := Read(makeZip(t, valid), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Documents) == 0 || len(p.Documents) != len(want.Documents) {
		t.Fatalf("%d documents, want %d", len(p.Documents), len(want.Documents))
	}
	for i, d := range p.Documents {
		if d.Path != want.Documents[i].Path || d.Entry.PatientID != want.Documents[i].Entry.PatientID || d.Entry.PatientID == "" {
			t.Errorf("document %d: path %q patientId %q, want %q %q", i, d.Path, d.Entry.PatientID,
				want.Documents[i].Path, want.Documents[i].Entry.PatientID)
		}
	}
	for _, evil := range []string{`IHE_XDM\..\..\evil`, `\evil`, `\\server\share\evil`, `C:\evil`} {
		if _, err := Read(makeZip(t, with(valid, evil, []byte("x"))), nil); !errors.Is(err, ErrZipSlip) {
			t.Errorf("%q: %v, want ErrZipSlip", evil, err)
		}
	}
}
