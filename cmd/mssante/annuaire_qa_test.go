package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The professional reads in French what to do when there is no index or the file is not the
// extraction; a failed import keeps the old index (ECO.3.1.4).
func TestAnnuaire_errorsInFrench(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := runMain(t, "annuaire", "search", "martin", "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "aucun index local") || !strings.Contains(errOut, "mssante annuaire import") {
		t.Errorf("search without index: code %d, %q", code, errOut)
	}
	if _, errOut, code := runMain(t, "annuaire", "import", smallExtraction, "--data-dir", dir); code != 0 {
		t.Fatalf("import: code %d, %s", code, errOut)
	}
	other := filepath.Join(t.TempDir(), "liste.csv")
	if err := os.WriteFile(other, []byte("nom;adresse\nMARTIN;m@x.fr\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runMain(t, "annuaire", "import", other, "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "n'est pas l'extraction") || !strings.Contains(errOut, "l'index actuel est conservé") {
		t.Errorf("import of another file: code %d, %q", code, errOut)
	}
	if out, errOut, code := runMain(t, "annuaire", "search", "a", "--data-dir", dir); code != 0 || out == "" {
		t.Errorf("search after a failed import: code %d, %q", code, errOut)
	}
}
