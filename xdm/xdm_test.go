package xdm

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixedRand is a deterministic byte source for unique ids.
type fixedRand struct{ b byte }

func (r *fixedRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b
		r.b += 7
	}
	return len(p), nil
}

func testOptions() *BuildOptions {
	return &BuildOptions{
		Now:           func() time.Time { return time.Date(2025, 3, 14, 11, 30, 0, 0, time.UTC) },
		Rand:          &fixedRand{},
		Recipients:    []string{"paul.roche@cardio-parc.mssante.fr"},
		ReadmeVendor:  "Éditeur de test",
		ReadmeProduct: "mssante (tests)",
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func buildArchive(t testing.TB, names ...string) (*Package, []byte) {
	t.Helper()
	var cdas [][]byte
	for _, n := range names {
		cdas = append(cdas, readTestdata(t, n))
	}
	p, err := Build(cdas, testOptions())
	if err != nil {
		t.Fatalf("Build(%v): %v", names, err)
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	return p, buf.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./xdm -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; got:\n%s", name, got)
	}
}

// The METADATA.XML, INDEX.HTM and README.TXT written for the synthetic samples are the reviewed
// golden files (regenerate with -update and review the diff).
func TestBuild_golden(t *testing.T) {
	p, _ := buildArchive(t, "cr-consultation.xml", "note-ecg-n1.xml")
	golden(t, "two-documents.METADATA.XML.golden", p.Metadata())
	golden(t, "two-documents.INDEX.HTM.golden", p.Index)
	golden(t, "two-documents.README.TXT.golden", p.Readme)
}

// ECO.2.1.2: the archive written by Build reads back with the patientId (INS) of the CDA, the same
// hash, size and bytes; writing is deterministic.
func TestRoundTrip_ECO_2_1_2(t *testing.T) {
	built, zipped := buildArchive(t, "cr-consultation.xml", "note-ecg-n1.xml")
	_, again := buildArchive(t, "cr-consultation.xml", "note-ecg-n1.xml")
	if !bytes.Equal(zipped, again) {
		t.Error("two builds with the same Now and Rand differ")
	}
	p, err := Read(zipped, nil)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("Read warnings = %v, want none", p.Warnings)
	}
	const wantCX = "285037511204553^^^&1.2.250.1.213.1.4.10&ISO^NH"
	if p.Submission.PatientID != wantCX || p.Submission.INS.Matricule.String() != "285037511204553" {
		t.Errorf("submission patientId = %q (INS %v), want %q", p.Submission.PatientID, p.Submission.INS, wantCX)
	}
	if len(p.Documents) != 2 {
		t.Fatalf("Read gave %d documents, want 2", len(p.Documents))
	}
	for i, d := range p.Documents {
		want := built.Documents[i]
		sum := sha1.Sum(want.Data)
		switch {
		case d.Entry.PatientID != wantCX:
			t.Errorf("%s: patientId = %q, want %q", d.Path, d.Entry.PatientID, wantCX)
		case string(d.Entry.INS.OID) != "1.2.250.1.213.1.4.10" || !d.Entry.INS.Matricule.KeyValid():
			t.Errorf("%s: INS = %+v", d.Path, d.Entry.INS)
		case d.Entry.Hash != hex.EncodeToString(sum[:]) || d.Entry.Size != int64(len(want.Data)):
			t.Errorf("%s: hash %s size %d, want %x %d", d.Path, d.Entry.Hash, d.Entry.Size, sum, len(want.Data))
		case !bytes.Equal(d.Data, want.Data) || d.Path != want.Path:
			t.Errorf("%s: data or path differ from %s", d.Path, want.Path)
		case d.CDA == nil:
			t.Errorf("%s: CDA not parsed: %v", d.Path, d.Warnings)
		}
	}
	if got := p.Documents[1].Entry.FormatCode.Code; got != "urn:ihe:iti:xds-sd:pdf:2008" {
		t.Errorf("N1 formatCode = %q", got)
	}
	if got := p.Submission.IntendedRecipients; len(got) != 1 || !strings.HasSuffix(got[0], "^^Internet^paul.roche@cardio-parc.mssante.fr") {
		t.Errorf("intendedRecipient = %q", got)
	}
}

// ECO.2.1.1: a mail concerns one patient; Build refuses documents of two patients.
func TestBuild_refusesTwoPatients_ECO_2_1_1(t *testing.T) {
	_, err := Build([][]byte{readTestdata(t, "cr-consultation.xml"), readTestdata(t, "other-patient.xml")}, testOptions())
	if !errors.Is(err, ErrTwoPatients) {
		t.Fatalf("Build(two patients) error = %v, want ErrTwoPatients", err)
	}
}

// A CDA without INS is packed with its local id as patientId and a warning (ECO.2.1.2: the
// receiver cannot identify the patient by INS).
func TestBuild_withoutINS(t *testing.T) {
	data := readTestdata(t, "cr-consultation.xml")
	data = bytes.Replace(data, []byte(`<id root="1.2.250.1.213.1.4.10" extension="285037511204553"/>`), nil, 1)
	p, err := Build([][]byte{data}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Documents[0].Entry.PatientID, "IPP-000123^^^&1.2.3.4.5.6.7.8.9.1&ISO^PI"; got != want {
		t.Errorf("patientId = %q, want %q", got, want)
	}
	if !hasWarning(p.Warnings, ErrNoINS) {
		t.Errorf("warnings = %v, want ErrNoINS", p.Warnings)
	}
}

func hasWarning(ws []error, target error) bool {
	for _, w := range ws {
		if errors.Is(w, target) {
			return true
		}
	}
	return false
}
