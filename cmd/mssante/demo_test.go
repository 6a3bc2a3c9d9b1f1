package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// The README's main command composes a complete MSSanté mail on the embedded example and reads it
// back (ECO.2.1.1, ECO.2.1.3, ECO.2.4.1, ECO.2.4.2).
func TestDemo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo.eml")
	stdout, stderr, code := runMain(t, "demo", "-o", out)
	if code != 0 {
		t.Fatalf("demo: code %d: %s", code, stderr)
	}
	var got struct {
		Subject  string            `json:"subject"`
		PDFNames []string          `json:"pdf_names"`
		Headers  map[string]string `json:"headers"`
		ReadBack struct {
			DisplaySubject string `json:"display_subject"`
			Documents      []struct {
				PatientID string `json:"patient_id"`
			} `json:"documents"`
		} `json:"read_back"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.Subject != "XDM/1.0/DDM+CR d'imagerie médicale BERANGER ELOISE 12/07/1985" || got.ReadBack.DisplaySubject != "CR d'imagerie médicale BERANGER ELOISE 12/07/1985" {
		t.Errorf("subject %q, display %q", got.Subject, got.ReadBack.DisplaySubject)
	}
	if got.Headers["X-MSS-CODECDA"] != "18748-4" || got.Headers["X-MSS-INS"] != "O" || len(got.PDFNames) != 1 {
		t.Errorf("headers %v, pdfs %v", got.Headers, got.PDFNames)
	}
	if len(got.ReadBack.Documents) != 1 || got.ReadBack.Documents[0].PatientID != "285077505612370^^^&1.2.250.1.213.1.4.10&ISO^NH" {
		t.Errorf("documents %+v", got.ReadBack.Documents)
	}
}
