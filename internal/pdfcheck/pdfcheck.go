// Package pdfcheck holds test helpers that check PDF files with outside programs: Apache PDFBox
// Preflight for PDF/A-1b conformance and poppler's pdftotext for the text a reader extracts.
// Both go through internal/testkit: on a developer's machine without the programs the test is
// skipped, in CI (MSSANTE_REQUIRE_PEERS=1) it fails.
//
// Debian packages: default-jre-headless, libpdfbox2-java, libactivation-java, libjaxb-api-java
// (Preflight) and poppler-utils (pdftotext), listed in scripts/debian-packages.txt.
package pdfcheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/testkit"
)

// JavaDir is where Debian installs the jars Preflight needs.
const JavaDir = "/usr/share/java"

// preflightJars is the class path of PDFBox Preflight 2 as Debian ships it.
var preflightJars = []string{
	"preflight.jar", "pdfbox2.jar", "fontbox2.jar", "xmpbox.jar", "commons-logging.jar",
	"javax.activation.jar", "jaxb-api.jar",
}

// PreflightResult is the outcome of one validation.
type PreflightResult struct {
	Valid  bool
	Output string // what Preflight printed: the verdict or the list of errors
}

// RunPreflight validates path with org.apache.pdfbox.preflight.Validator_A1b and returns its
// verdict (exit status 0 means valid). It skips or fails the test when Java or the jars are
// missing, and fails it when Preflight cannot run.
func RunPreflight(t testing.TB, path string) PreflightResult {
	t.Helper()
	java := testkit.LookPath(t, "java")
	cp := make([]string, len(preflightJars))
	for i, j := range preflightJars {
		cp[i] = testkit.RequireFile(t, filepath.Join(JavaDir, j))
	}
	cmd := exec.Command(java, "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", strings.Join(cp, ":"),
		"org.apache.pdfbox.preflight.Validator_A1b", path)
	out, err := cmd.CombinedOutput()
	res := PreflightResult{Output: string(out)}
	if err == nil {
		res.Valid = true
		return res
	}
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("run preflight on %s: %v", path, err)
	}
	return res
}

// Preflight fails the test unless path is a valid PDF/A-1b file according to PDFBox Preflight.
func Preflight(t testing.TB, path string) {
	t.Helper()
	if res := RunPreflight(t, path); !res.Valid {
		t.Errorf("preflight: %s is not PDF/A-1b:\n%s", path, res.Output)
	}
}

// Text returns the text of the PDF at path as `pdftotext -enc UTF-8 FILE -` extracts it.
func Text(t testing.TB, path string) string {
	t.Helper()
	return pdftotext(t, path)
}

// LayoutText returns the text as `pdftotext -layout` extracts it: table columns stay aligned,
// which makes readable golden files.
func LayoutText(t testing.TB, path string) string {
	t.Helper()
	return pdftotext(t, path, "-layout")
}

func pdftotext(t testing.TB, path string, args ...string) string {
	t.Helper()
	bin := testkit.LookPath(t, "pdftotext")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, append(args, "-enc", "UTF-8", path, "-")...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext %s: %v: %s", path, err, stderr.String())
	}
	return string(out)
}

// WriteTemp writes pdf to a file in a test temporary directory and returns its path.
func WriteTemp(t testing.TB, name string, pdf []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

// Normalize folds runs of white space to one space, so that text wrapped over lines or table
// cells compares with the source text.
func Normalize(s string) string { return strings.Join(strings.Fields(s), " ") }
