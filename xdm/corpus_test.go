package xdm

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/testkit"
)

// ECO.2.1.2 on the real CI-SIS samples (not in the repository): each CDA packs, reads back, and
// the patientId read is the matricule^^^&OID&ISO^NH of its recordTarget; hash and size match.
func TestCorpus_roundTrip_ECO_2_1_2(t *testing.T) {
	dir := testkit.Shared(t, "corpus", "cda")
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no CDA in %s: %v", dir, err)
	}
	for _, name := range names {
		t.Run(filepath.Base(name), func(t *testing.T) {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := cda.Parse(data)
			if err != nil {
				t.Fatalf("cda.Parse: %v", err)
			}
			id := doc.Patient.Identity.INS
			want := id.Matricule.String() + "^^^&" + string(id.OID) + "&ISO^NH"
			p, err := Build([][]byte{data}, testOptions())
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			var buf bytes.Buffer
			if _, err := p.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			r, err := Read(buf.Bytes(), nil)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			e := r.Documents[0].Entry
			if id.Matricule.IsZero() || e.PatientID != want || r.Submission.PatientID != want {
				t.Errorf("patientId = %q (submission %q), want %q", e.PatientID, r.Submission.PatientID, want)
			}
			if e.INS.Matricule.String() != id.Matricule.String() || e.INS.OID != id.OID {
				t.Errorf("INS = %v, want %v", e.INS, id)
			}
			if e.Size != int64(len(data)) || !bytes.Equal(r.Documents[0].Data, data) {
				t.Errorf("size %d, want %d", e.Size, len(data))
			}
			if e.TypeCode.Code != doc.Code.Code || e.CreationTime == "" || e.FormatCode.IsZero() || e.ClassCode.IsZero() {
				t.Errorf("entry = type %q creation %q format %q class %q", e.TypeCode.Code, e.CreationTime, e.FormatCode.Code, e.ClassCode.Code)
			}
			for _, w := range p.Warnings {
				t.Logf("build warning: %v", w)
			}
		})
	}
}

// The corpus documents of the same patient (PAT-TROIS, 279035121518989) pack together; mixing
// them with another patient's document is refused (ECO.2.1.1).
func TestCorpus_onePatientPerArchive_ECO_2_1_1(t *testing.T) {
	dir := testkit.Shared(t, "corpus", "cda")
	read := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	same := [][]byte{read("ANEST-CR-CPA_2022.01.xml"), read("BIO-CR-BIO_2024.01_TSH_1.xml"), read("CR_Radio_CDAN1_v1.XML")}
	if _, err := Build(same, testOptions()); err != nil {
		t.Errorf("Build(same patient) = %v", err)
	}
	mixed := append(same, read("eDISP-MED_2024.01.xml"))
	if _, err := Build(mixed, testOptions()); !errors.Is(err, ErrTwoPatients) {
		t.Errorf("Build(two patients) = %v, want ErrTwoPatients", err)
	}
}

// The DRIM-M METADATA.XML (real, not namespace-well-formed, leading whitespace, CRLF) is read by the
// tolerant metadata reader: patientId, sourcePatientInfo, hash, size, URI.
func TestReadMetadata_DRIMM(t *testing.T) {
	data, err := os.ReadFile(testkit.Shared(t, "corpus", "xdm-metadata", "DRIM-M_KA202401_SS000001_METADATA.XML"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseMetadata(data)
	if err != nil {
		t.Fatalf("parseMetadata: %v", err)
	}
	const cx = "162018885045327^^^&1.2.250.1.213.1.4.10&ISO^NH"
	if m.submission.PatientID != cx || m.submission.SubmissionTime != "20240116151112" || m.submission.SourceID != "1.2.250.1.999.1.1.8121" {
		t.Errorf("submission = %+v", m.submission)
	}
	if len(m.entries) != 2 {
		t.Fatalf("%d entries, want 2", len(m.entries))
	}
	kos := m.entries[0]
	info := kos.PatientInfo()
	switch {
	case kos.PatientID != cx || kos.INS.Matricule.String() != "162018885045327" || !kos.INS.Matricule.KeyValid():
		t.Errorf("patientId = %q INS %v", kos.PatientID, kos.INS)
	case info.BirthName != "PAT-SIX" || info.Given != "Alain" || info.BirthDate != "19960124" || info.Sex != "M":
		t.Errorf("sourcePatientInfo = %+v", info)
	case kos.Hash != "5a4009cca445f28810fd34dc8e3526cbe9814664" || kos.Size != 5164 || kos.URI != "SS000001/KOS_1_1.DCM":
		t.Errorf("hash %q size %d URI %q", kos.Hash, kos.Size, kos.URI)
	case kos.MimeType != "application/dicom" || kos.ClassCode.Code != "31" || kos.TypeCode.Code != "IMG-KOS":
		t.Errorf("mime %q class %v type %v", kos.MimeType, kos.ClassCode, kos.TypeCode)
	case kos.SourcePatientID != "162018885045327^^^&1.2.250.1.213.1.4.10&ISO^PI":
		t.Errorf("sourcePatientId %q", kos.SourcePatientID)
	}
	if got := m.entries[1].ConfidentialityCodes; len(got) != 3 || got[1].Code != "MASQUE_PS" {
		t.Errorf("confidentiality codes = %v", got)
	}
}

// The DRIM-M layout (IHE_XDM/SS000001/, URI relative to IHE_XDM/) resolves, with a warning; a
// document of the right length and hash is accepted; the missing one is a warning.
func TestRead_DRIMMLayout(t *testing.T) {
	meta, err := os.ReadFile(testkit.Shared(t, "corpus", "xdm-metadata", "DRIM-M_KA202401_SS000001_METADATA.XML"))
	if err != nil {
		t.Fatal(err)
	}
	kos := bytes.Repeat([]byte{0}, 5164) // right size, wrong hash
	z := makeZip(t, map[string][]byte{
		"INDEX.HTM": []byte("<html></html>"), "README.TXT": []byte("x"),
		"IHE_XDM/SS000001/METADATA.XML": meta, "IHE_XDM/SS000001/KOS_1_1.DCM": kos,
	})
	p, err := Read(z, nil)
	if !errors.Is(err, ErrHashMismatch) || errors.Is(err, ErrSizeMismatch) || p == nil {
		t.Fatalf("Read = %v, want ErrHashMismatch only and a package", err)
	}
	if p.Documents[0].Path != "IHE_XDM/SS000001/KOS_1_1.DCM" || !hasWarning(p.Warnings, ErrMissingDocument) {
		t.Errorf("documents %q, warnings %v", p.Documents[0].Path, p.Warnings)
	}
	found := false
	for _, w := range p.Documents[0].Warnings {
		found = found || strings.Contains(w.Error(), "not relative to its subset folder")
	}
	if !found {
		t.Errorf("no warning for the URI relative to IHE_XDM/: %v", p.Documents[0].Warnings)
	}
}

// makeZip writes entries in sorted order (stored or deflated) for the tests.
func makeZip(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sortStrings(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for k := i; k > 0 && s[k] < s[k-1]; k-- {
			s[k], s[k-1] = s[k-1], s[k]
		}
	}
}
