package main

import (
	"strings"
	"testing"

	"github.com/mssante/mssante/ins"
)

// patients add explains its refusals in French to the professional: a wrong key gives the key
// computed, a duplicate says how to find the known patient (UI strings in French).
func TestPatientsCLI_addRefusalsInFrench(t *testing.T) {
	dir := t.TempDir()
	nir := testNIR(t, "1800575115042") // key 02
	base := []string{"patients", "add", "--oid", string(ins.OIDTest), "--birth-name", "D'ALMEIDA",
		"--first-name", "Jean", "--birth-date", "1980-05-12", "--sex", "M"}
	if code, _, stderr := runPatients(t, dir, append(base, "--ins", nir)...); code != 0 {
		t.Fatalf("add: exit %d: %s", code, stderr)
	}
	for _, c := range []struct{ ins, want string }{
		{nir, "un patient connu a déjà le matricule " + nir},
		{nir[:13] + "03", "la clé calculée est 02"},
		{"18005751150", "doit compter 15 caractères"},
	} {
		code, _, stderr := runPatients(t, dir, append(base, "--ins", c.ins)...)
		if code != 1 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "expected") || strings.Contains(stderr, "already") {
			t.Errorf("add --ins %s: exit %d, stderr %q; want exit 1 and %q in French", c.ins, code, stderr, c.want)
		}
	}
}
