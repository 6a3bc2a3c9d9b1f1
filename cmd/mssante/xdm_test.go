package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func xdmTestdata(name string) string { return filepath.Join("..", "..", "xdm", "testdata", name) }

// ECO.2.1.2: the CLI contract — pack, then inspect gives the patient_id (CX) and the INS of each
// document; unpack extracts the archive and refuses to overwrite.
func TestXDM_packInspectUnpack_ECO_2_1_2(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "IHE_XDM.zip")
	out, errOut, code := runMain(t, "xdm", "pack", "-o", zipPath, xdmTestdata("cr-consultation.xml"), xdmTestdata("note-ecg-n1.xml"), "--to", "dr@x.mssante.fr")
	if code != 0 {
		t.Fatalf("xdm pack: code %d, %s %s", code, out, errOut)
	}
	out, errOut, code = runMain(t, "xdm", "inspect", zipPath)
	var got struct {
		Submission struct {
			PatientID string `json:"patient_id"`
			INS       string `json:"ins"`
		} `json:"submission_set"`
		Documents []struct {
			PatientID string `json:"patient_id"`
			INS       string `json:"ins"`
			OID       string `json:"oid"`
			Level     string `json:"level"`
			Size      int64  `json:"size"`
		} `json:"documents"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("xdm inspect: code %d, %v: %s %s", code, err, out, errOut)
	}
	const cx = "285037511204553^^^&1.2.250.1.213.1.4.10&ISO^NH"
	if len(got.Documents) != 2 {
		t.Fatalf("inspect: %d documents, want 2", len(got.Documents))
	}
	for _, d := range got.Documents {
		if d.PatientID != cx || d.INS != "285037511204553" || d.OID != "1.2.250.1.213.1.4.10" || got.Submission.PatientID != cx {
			t.Errorf("inspect document = %+v, submission %+v", d, got.Submission)
		}
	}
	if got.Documents[0].Level != "N3" || got.Documents[1].Level != "N1" || got.Documents[0].Size == 0 {
		t.Errorf("inspect documents = %+v", got.Documents)
	}
	unpacked := filepath.Join(dir, "recu")
	if _, errOut, code := runMain(t, "xdm", "unpack", zipPath, unpacked); code != 0 {
		t.Fatalf("xdm unpack: code %d, %s", code, errOut)
	}
	want, _ := os.ReadFile(xdmTestdata("cr-consultation.xml"))
	gotDoc, err := os.ReadFile(filepath.Join(unpacked, "IHE_XDM", "SUBSET01", "DOC0001.XML"))
	if err != nil || string(gotDoc) != string(want) {
		t.Errorf("unpacked DOC0001.XML differs from the input (%v)", err)
	}
	for _, f := range []string{"INDEX.HTM", "README.TXT", "IHE_XDM/SUBSET01/METADATA.XML"} {
		if _, err := os.Stat(filepath.Join(unpacked, f)); err != nil {
			t.Errorf("unpack: %v", err)
		}
	}
	if _, errOut, code := runMain(t, "xdm", "unpack", zipPath, unpacked); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("unpack over existing files: code %d, %q", code, errOut)
	}
}

// ECO.2.1.1: pack refuses two patients (exit 1); usage errors exit 2; a hostile archive is refused.
func TestXDM_refusals_ECO_2_1_1(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := runMain(t, "xdm", "pack", "-o", filepath.Join(dir, "x.zip"), xdmTestdata("cr-consultation.xml"), xdmTestdata("other-patient.xml")); code != 1 || !strings.Contains(errOut, "different patients") {
		t.Errorf("pack two patients: code %d, %q", code, errOut)
	}
	if _, _, code := runMain(t, "xdm", "pack", xdmTestdata("cr-consultation.xml")); code != 2 {
		t.Errorf("pack without -o: code %d, want 2", code)
	}
	if _, _, code := runMain(t, "xdm", "unpack", "only-one-arg"); code != 2 {
		t.Errorf("unpack with one argument: code %d, want 2", code)
	}
	notZip := filepath.Join(dir, "not.zip")
	if err := os.WriteFile(notZip, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runMain(t, "xdm", "inspect", notZip); code != 1 || !strings.Contains(errOut, "not a zip") {
		t.Errorf("inspect not a zip: code %d, %q", code, errOut)
	}
}

// ECO.2.1.2: without --to, xdm inspect gives the lists of the contract as [] rather than null, so
// that checkers can iterate over them.
func TestXDM_inspectEmptyListsAreArrays(t *testing.T) {
	zipPath := filepath.Join(t.TempDir(), "IHE_XDM.zip")
	if out, errOut, code := runMain(t, "xdm", "pack", "-o", zipPath, xdmTestdata("cr-consultation.xml")); code != 0 {
		t.Fatalf("xdm pack: code %d, %s %s", code, out, errOut)
	}
	out, errOut, code := runMain(t, "xdm", "inspect", zipPath)
	if code != 0 {
		t.Fatalf("xdm inspect: code %d, %s", code, errOut)
	}
	var got struct {
		Submission map[string]json.RawMessage `json:"submission_set"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if r := string(got.Submission["intended_recipients"]); r != "[]" {
		t.Errorf("intended_recipients = %s, want []", r)
	}
}
