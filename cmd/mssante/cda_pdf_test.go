package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/pdfcheck"
	"github.com/mssante/mssante/internal/testkit"
)

func runCDAPDF(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), &cmdEnv{stdout: &out, stderr: &errOut, stdin: strings.NewReader("")}, args)
	return code, out.String(), errOut.String()
}

// ECO.2.1.5: "cda pdf" writes a PDF/A-1b rendering of an N3 CDA and the embedded PDF of an N1,
// reports it in JSON and prints warnings on stderr.
func TestCDAPDF_ECO_2_1_5(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1764340200")
	samples := filepath.Join(testkit.ModuleRoot(t), "cda", "testdata")
	dir := t.TempDir()

	out := filepath.Join(dir, "n3.pdf")
	code, stdout, stderr := runCDAPDF(t, "cda", "pdf", filepath.Join(samples, "n3-cr-biologie.xml"), "-o", out)
	var got cdaPDFJSON
	if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
		t.Fatalf("cda pdf N3: exit %d: %s%s", code, stdout, stderr)
	}
	if got.Level != "N3" || got.Embedded || got.Pages < 1 || got.Output != out {
		t.Errorf("N3 JSON = %+v", got)
	}
	pdfcheck.Preflight(t, out)
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCDAPDF(t, "cda", "pdf", filepath.Join(samples, "n3-cr-biologie.xml"), "-o", out); code != 0 {
		t.Fatalf("second run: exit %d", code)
	}
	if second, _ := os.ReadFile(out); !bytes.Equal(first, second) {
		t.Error("same CDA and SOURCE_DATE_EPOCH gave different PDFs")
	}

	n1 := filepath.Join(samples, "n1-note-consultation-pdf.xml")
	out = filepath.Join(dir, "n1.pdf")
	code, stdout, stderr = runCDAPDF(t, "cda", "pdf", "-o", out, n1)
	if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
		t.Fatalf("cda pdf N1: exit %d: %s%s", code, stdout, stderr)
	}
	data, err := os.ReadFile(n1)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cda.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Embedded || !bytes.Equal(written, doc.Body.Data) {
		t.Errorf("N1: embedded=%v, file equal to the embedded PDF = %v", got.Embedded, bytes.Equal(written, doc.Body.Data))
	}
	if len(got.Warnings) > 0 && !strings.Contains(stderr, "warning: "+got.Warnings[0]) {
		t.Errorf("warning %q not on stderr: %q", got.Warnings[0], stderr)
	}

	if len(got.Warnings) > 0 {
		if code, _, _ := runCDAPDF(t, "cda", "pdf", "--strict-n1", "-o", filepath.Join(dir, "strict.pdf"), n1); code != 1 {
			t.Errorf("--strict-n1 on a non-PDF/A N1: exit %d, want 1", code)
		}
	}
	if code, _, _ := runCDAPDF(t, "cda", "pdf", n1); code != 2 {
		t.Errorf("without -o: exit %d, want 2", code)
	}
	if code, _, _ := runCDAPDF(t, "cda", "pdf", filepath.Join(samples, "malformed", "truncated.xml"), "-o", out); code != 1 {
		t.Errorf("malformed CDA: exit %d, want 1", code)
	}
}
