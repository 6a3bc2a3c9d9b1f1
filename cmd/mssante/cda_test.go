package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/testkit"
)

func cdaSamplePath(t *testing.T, name string) string {
	return filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", name)
}

// ECO.2.4.1, ECO.2.4.2: "cda inspect" shows the type code and whether the INS is qualified.
func TestCDAInspect(t *testing.T) {
	out, errOut, code := runMain(t, "cda", "inspect", cdaSamplePath(t, "n3-cr-imagerie.xml"))
	if code != 0 || errOut != "" {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	var got cdaInspectJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	p := got.Patient
	if got.Level != "N3" || got.Code != "18748-4" || got.Title == "" || got.EffectiveTime != "2025-03-12T14:30:00+01:00" {
		t.Errorf("header = %s %s %q %s", got.Level, got.Code, got.Title, got.EffectiveTime)
	}
	if p.INS != "285077505612370" || p.OID != "1.2.250.1.213.1.4.10" || !p.Qualified || p.BirthName != "BÉRANGER" ||
		p.FirstName != "Éloïse" || p.BirthDate != "1985-07-12" || p.Sex != "F" || len(p.IDs) != 2 {
		t.Errorf("patient = %+v", p)
	}
	if len(got.Authors) != 1 || got.Authors[0].Name != "Dr Hélène MARCHAND" || got.Custodian == nil ||
		got.LegalAuthenticator == nil || got.ServiceStart != "2025-03-12T14:05:00+01:00" {
		t.Errorf("authors %+v, custodian %+v, legal %+v, start %q", got.Authors, got.Custodian, got.LegalAuthenticator, got.ServiceStart)
	}
	if len(got.Sections) != 4 || len(got.Sections[2].Sections) != 2 || got.Sections[2].Sections[1].Title != "Mesures" {
		t.Errorf("sections = %+v", got.Sections)
	}
	for _, key := range []string{`"display_name"`, `"code_system"`, `"legal_authenticator"`, `"given_names"`, `"warnings": []`} {
		if !strings.Contains(out, key) {
			t.Errorf("output lacks %s", key)
		}
	}
}

func TestCDAInspect_N1AndNoINS(t *testing.T) {
	out, _, code := runMain(t, "cda", "inspect", cdaSamplePath(t, "n1-note-consultation-pdf.xml"))
	var got cdaInspectJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("code %d, %v", code, err)
	}
	if got.Level != "N1" || got.Body == nil || got.Body.MediaType != "application/pdf" || got.Body.Size < 100 {
		t.Errorf("N1 = %s, body %+v", got.Level, got.Body)
	}
	out, _, code = runMain(t, "cda", "inspect", cdaSamplePath(t, "n3-sans-ins.xml"))
	got = cdaInspectJSON{}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("code %d, %v", code, err)
	}
	if got.Patient.INS != "" || got.Patient.Qualified || !strings.Contains(got.Patient.NotQualified, "matricule INS") {
		t.Errorf("patient without INS = %+v", got.Patient)
	}
}

func TestCDAInspect_refusals(t *testing.T) {
	for _, name := range []string{"doctype-entity.xml", "not-cda.xml", "no-patient.xml", "truncated.xml"} {
		out, errOut, code := runMain(t, "cda", "inspect", cdaSamplePath(t, filepath.Join("malformed", name)))
		if code != 1 || out != "" || !strings.Contains(errOut, "cda: ") {
			t.Errorf("%s: code %d, stdout %q, stderr %q", name, code, out, errOut)
		}
	}
	var out, errb bytes.Buffer
	data, err := os.ReadFile(cdaSamplePath(t, "n3-cr-biologie.xml"))
	if err != nil {
		t.Fatal(err)
	}
	env := &cmdEnv{stdout: &out, stderr: &errb, stdin: bytes.NewReader(data)}
	if code := run(context.Background(), env, []string{"cda", "inspect", "-"}); code != 0 || !strings.Contains(out.String(), `"11502-2"`) {
		t.Errorf("from stdin: code %d, %s %s", code, out.String(), errb.String())
	}
	if _, _, code := runMain(t, "cda", "inspect"); code != 2 {
		t.Errorf("no file: code %d, want 2", code)
	}
}
