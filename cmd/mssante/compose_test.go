package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/testkit"
)

func composeSample(t *testing.T, name string) string {
	return filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", name)
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, s)
	}
	return v
}

// compose → inspect → mdn through the CLI contract (ECO.2.1.1, 2.1.3, 2.2.8, 2.3.x, 2.4.x, 3.1.x).
func TestCompose_inspect_mdn(t *testing.T) {
	dir := t.TempDir()
	eml := filepath.Join(dir, "out.eml")
	text := filepath.Join(dir, "mot.txt")
	if err := os.WriteFile(text, []byte("Bonjour, vos résultats.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runMain(t, "compose", "--from", "marie.martin@medecin.mssante.fr", "--from-label", "Dr Marie MARTIN",
		"--to", "162036912304592@patient.mssante.fr", "--cda", composeSample(t, "n3-cr-biologie.xml"), "--text", text,
		"--mes-fin", "--dsn", "--mdn", "--nil", "REF-TEST", "--record-number", "42", "-o", eml)
	if code != 0 {
		t.Fatalf("compose exit %d: %s", code, stderr)
	}
	out := decodeJSON(t, stdout)
	if out["subject"] != "XDM/1.0/DDM+CR d'examens biologiques CHATEAU JEROME 15/03/1962" {
		t.Errorf("subject = %v", out["subject"])
	}
	h := out["headers"].(map[string]any)
	if h["X-MSS-CODECDA"] != "11502-2" || h["X-MSS-INS"] != "O" || h["X-MSS-NIL"] != "REF-TEST" || h["X-MSS-MES"] != "FIN" {
		t.Errorf("headers = %v", h)
	}

	stdout, stderr, code = runMain(t, "inspect", eml)
	if code != 0 {
		t.Fatalf("inspect exit %d: %s", code, stderr)
	}
	in := decodeJSON(t, stdout)
	if in["sender_kind"] != "professional" || in["display_subject"] != "CR d'examens biologiques CHATEAU JEROME 15/03/1962" ||
		in["mdn_requested"] != true || in["dsn_requested"] != true {
		t.Errorf("inspect = %v", in)
	}
	docs := in["documents"].([]any)
	if len(docs) != 1 || docs[0].(map[string]any)["patient_id"] != "162036912304592^^^&1.2.250.1.213.1.4.10&ISO^NH" ||
		docs[0].(map[string]any)["level"] != "N3" {
		t.Errorf("documents = %v", docs)
	}
	if pdfs := in["pdfs"].([]any); len(pdfs) != 1 || pdfs[0] != "20250310_CR d'examens biologiques_CHATEAU_Jerome_42.pdf" {
		t.Errorf("pdfs = %v", pdfs)
	}

	receipt := filepath.Join(dir, "mdn.eml")
	stdout, stderr, code = runMain(t, "mdn", eml, "--from", "162036912304592@patient.mssante.fr", "-o", receipt)
	if code != 0 {
		t.Fatalf("mdn exit %d: %s", code, stderr)
	}
	if decodeJSON(t, stdout)["to"] != "marie.martin@medecin.mssante.fr" {
		t.Errorf("mdn = %s", stdout)
	}
	stdout, _, _ = runMain(t, "inspect", receipt)
	if in := decodeJSON(t, stdout); in["sender_kind"] != "patient" || len(in["reports"].([]any)) != 1 {
		t.Errorf("inspect mdn = %s", stdout)
	}
	// ECO.2.2.2: a reply names the mail it answers.
	reply := filepath.Join(dir, "reply.eml")
	if _, stderr, code = runMain(t, "compose", "--from", "jean.dupont@hopital-a.mssante.fr", "--from-label", "Dr Jean DUPONT",
		"--to", "marie.martin@medecin.mssante.fr", "--reply-to-eml", eml, "--text", text, "-o", reply); code != 0 {
		t.Fatalf("reply exit %d: %s", code, stderr)
	}
	stdout, _, _ = runMain(t, "inspect", reply)
	if r := decodeJSON(t, stdout); r["in_reply_to"].([]any)[0] != in["message_id"] || !strings.HasPrefix(r["subject"].(string), "Re: CR d'examens") {
		t.Errorf("reply = %v", r)
	}
	// A receipt never asks for a receipt: answering it is refused (exit 1).
	if _, stderr, code = runMain(t, "mdn", receipt, "--from", "marie.martin@medecin.mssante.fr", "-o", filepath.Join(dir, "x.eml")); code != 1 {
		t.Errorf("mdn of a mail without request: exit %d, %s", code, stderr)
	}
}

// Refusals exit 1 with the reason on stderr; usage errors exit 2.
func TestCompose_refusals(t *testing.T) {
	dir := t.TempDir()
	base := []string{"compose", "--from", "marie.martin@medecin.mssante.fr", "--from-label", "Dr Marie MARTIN", "-o", filepath.Join(dir, "o.eml")}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"two patients", []string{"--to", "a@b.mssante.fr", "--cda", composeSample(t, "n3-cr-biologie.xml"), "--cda", composeSample(t, "n3-cr-imagerie.xml")}, 1, "patient"},
		{"MES FIN to a professional", []string{"--to", "a@b.mssante.fr", "--mes-fin"}, 1, "X-MSS-MES"},
		{"unqualified patient", []string{"--to", "285077505612370@patient.mssante.fr", "--cda", composeSample(t, "n3-sans-ins.xml")}, 1, "qualified"},
		{"patient without documents", []string{"--to", "285077505612370@patient.mssante.fr"}, 1, "qualified"},
		{"no recipient", nil, 2, "required"},
	} {
		_, stderr, code := runMain(t, append(append([]string(nil), base...), tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q", tc.name, code, stderr, tc.code, tc.want)
		}
	}
	// ECO.2.2.6 derogation: accepted, with the decoded traits to confirm.
	stdout, stderr, code := runMain(t, append(base, "--to", "285077505612370@patient.mssante.fr", "--derogation")...)
	if code != 0 || !strings.Contains(stdout, `"birth_year": 1985`) {
		t.Errorf("derogation: exit %d, %s %s", code, stdout, stderr)
	}
}

// compose --attach: plain files after the documents, named by their base name (ECO.2.1.1).
func TestCompose_attach(t *testing.T) {
	dir := t.TempDir()
	eml, scan := filepath.Join(dir, "out.eml"), filepath.Join(dir, "courrier scanné.pdf")
	if err := os.WriteFile(scan, []byte("%PDF-1.4 synthetic scan"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runMain(t, "compose", "--from", "marie.martin@medecin.mssante.fr", "--from-label", "Dr Marie MARTIN",
		"--to", "jean.dupont@hopital-a.mssante.fr", "--cda", composeSample(t, "n3-cr-biologie.xml"), "--attach", scan, "-o", eml)
	if code != 0 {
		t.Fatalf("compose exit %d: %s", code, stderr)
	}
	if out := decodeJSON(t, stdout); out["headers"].(map[string]any)["X-MSS-CODECDA"] != "11502-2" {
		t.Errorf("compose = %v", out)
	}
	stdout, stderr, code = runMain(t, "inspect", eml)
	if code != 0 {
		t.Fatalf("inspect exit %d: %s", code, stderr)
	}
	var names []string
	for _, a := range decodeJSON(t, stdout)["attachments"].([]any) {
		names = append(names, a.(map[string]any)["name"].(string)+" "+a.(map[string]any)["content_type"].(string))
	}
	if len(names) != 3 || names[0] != "IHE_XDM.zip application/zip" || names[2] != "courrier scanné.pdf application/pdf" {
		t.Errorf("attachments %q", names)
	}
	_, stderr, code = runMain(t, "compose", "--from", "marie.martin@medecin.mssante.fr", "--from-label", "Dr Marie MARTIN",
		"--to", "jean.dupont@hopital-a.mssante.fr", "--attach", filepath.Join(dir, "absent.pdf"), "-o", eml)
	if code != 1 || !strings.Contains(stderr, "absent.pdf") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
}
