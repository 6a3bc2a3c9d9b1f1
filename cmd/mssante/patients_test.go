package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mssante/mssante/ins"
)

// runPatients runs the CLI with a private data directory and returns exit code, stdout, stderr.
func runPatients(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), &cmdEnv{stdout: &out, stderr: &errOut, stdin: strings.NewReader("")},
		append(args, "--data-dir", dir))
	return code, out.String(), errOut.String()
}

func testNIR(t *testing.T, number string) string {
	t.Helper()
	m, err := ins.FromNumber(number)
	if err != nil {
		t.Fatal(err)
	}
	return m.String()
}

// ECO.2.2.6, ECO.3.1.5: patients address gives the address of a qualified identity only and
// explains the derogation path otherwise.
func TestPatientsCLI_address_ECO_2_2_6_ECO_3_1_5(t *testing.T) {
	dir := t.TempDir()
	adult, child, provisional := testNIR(t, "2790351215189"), testNIR(t, "1150575123456"), testNIR(t, "1840699350042")
	for _, args := range [][]string{
		{"--ins", adult, "--oid", string(ins.OIDTest), "--birth-name", "LEFÈVRE", "--first-name", "Héloïse",
			"--birth-date", "1979-03-12", "--sex", "F", "--status", "qualifiée"},
		{"--ins", child, "--oid", string(ins.OIDTest), "--birth-name", "MARTIN", "--first-name", "Léo",
			"--birth-date", "2015-05-02", "--sex", "M", "--status", "qualifiee"},
		{"--ins", provisional, "--oid", string(ins.OIDTest), "--birth-name", "NGUYEN", "--first-name", "Paul",
			"--birth-date", "1984-06-30", "--sex", "M"},
	} {
		if code, _, stderr := runPatients(t, dir, append([]string{"patients", "add"}, args...)...); code != 0 {
			t.Fatalf("patients add %v: exit %d: %s", args, code, stderr)
		}
	}
	if code, _, _ := runPatients(t, dir, "patients", "add", "--ins", adult, "--oid", string(ins.OIDTest),
		"--birth-name", "X", "--first-name", "Y", "--birth-date", "1979-03-12", "--sex", "F"); code != 1 {
		t.Errorf("duplicate add: exit %d, want 1", code)
	}

	// Qualified adult and child: their own address.
	for _, nir := range []string{adult, child} {
		code, stdout, stderr := runPatients(t, dir, "patients", "address", "--ins", nir)
		var got addressJSON
		if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
			t.Fatalf("address %s: exit %d, %s%s", nir, code, stdout, stderr)
		}
		if got.Address != nir+"@"+ins.DefaultPatientDomain || !got.Qualified {
			t.Errorf("address %s = %+v", nir, got)
		}
	}

	// Provisional identity: refused, with the derogation path explained in French.
	code, stdout, stderr := runPatients(t, dir, "patients", "address", "--ins", provisional)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "identité provisoire") || !strings.Contains(stderr, "--derogation") {
		t.Errorf("unqualified: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// With --derogation: the decoded data to confirm.
	code, stdout, stderr = runPatients(t, dir, "patients", "address", "--ins", provisional, "--derogation")
	var d addressJSON
	if code != 0 || json.Unmarshal([]byte(stdout), &d) != nil {
		t.Fatalf("derogation: exit %d, %s%s", code, stdout, stderr)
	}
	if d.Qualified || !d.ConfirmRequired || !d.KeyValid || d.Sex != "M" || d.BirthYear != 1984 || d.BirthMonth != 6 ||
		!d.KnownPatient || !strings.Contains(d.ConfirmMessage, "juin 1984") {
		t.Errorf("derogation data = %+v", d)
	}
	// A typed NIR unknown to the base: refused without --derogation, decoded with it.
	typed := testNIR(t, "2920175123123")
	if code, _, stderr := runPatients(t, dir, "patients", "address", "--ins", typed); code != 1 || !strings.Contains(stderr, "aucun patient connu") {
		t.Errorf("unknown NIR: exit %d, %s", code, stderr)
	}
	code, stdout, _ = runPatients(t, dir, "patients", "address", "--ins", typed, "--derogation", "--patient-domain", "patient.test")
	if code != 0 || !strings.Contains(stdout, typed+"@patient.test") || !strings.Contains(stdout, `"known_patient": false`) {
		t.Errorf("typed NIR derogation: exit %d, %s", code, stdout)
	}
	// A typed NIR with a wrong key: refused, saying why.
	wrong := typed[:13] + "00"
	if typed[13:] == "00" {
		wrong = typed[:13] + "01"
	}
	if code, _, stderr := runPatients(t, dir, "patients", "address", "--ins", wrong, "--derogation"); code != 1 || !strings.Contains(stderr, "clé") {
		t.Errorf("wrong key derogation: exit %d, %s", code, stderr)
	}
	if code, _, _ := runPatients(t, dir, "patients", "address"); code != 2 {
		t.Errorf("address without --ins/--id: exit %d, want 2", code)
	}
}

func TestPatientsCLI_listSearch(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runPatients(t, dir, "patients", "add", "--ins", testNIR(t, "2790351215189"), "--oid", string(ins.OIDTest),
		"--birth-name", "LEFÈVRE", "--used-name", "DURAND", "--first-name", "Héloïse", "--birth-date", "1979-03-12", "--sex", "F",
		"--opposition"); code != 0 {
		t.Fatal(stderr)
	}
	for _, args := range [][]string{{"patients", "list"}, {"patients", "search", "lefevre"}, {"patients", "search", "HELO"}, {"patients", "search", "27903"}} {
		code, stdout, stderr := runPatients(t, dir, args...)
		var p patientJSON
		if code != 0 || json.Unmarshal([]byte(stdout), &p) != nil || p.BirthName != "LEFÈVRE" || !p.Opposition || p.Status != "provisoire" {
			t.Errorf("%v: exit %d, %q %s", args, code, stdout, stderr)
		}
	}
	if code, stdout, _ := runPatients(t, dir, "patients", "search", "martin"); code != 0 || stdout != "" {
		t.Errorf("search martin: exit %d, %q", code, stdout)
	}
	if code, _, stderr := runPatients(t, dir, "patients", "address", "--id", "1", "--derogation"); code != 1 || !strings.Contains(stderr, "opposé") {
		t.Errorf("opposition: exit %d, %s", code, stderr)
	}
}
