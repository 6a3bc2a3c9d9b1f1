package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mssante/mssante/internal/annuaire"
)

const smallExtraction = "../../internal/annuaire/testdata/extraction_small.txt"

func jsonLines(t *testing.T, out string) []annuaire.Entry {
	t.Helper()
	var got []annuaire.Entry
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e annuaire.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		got = append(got, e)
	}
	return got
}

// ECO.3.1.4: import then search from the command line, JSON summary and JSON lines.
func TestAnnuaire_importAndSearch(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runMain(t, "annuaire", "import", smallExtraction, "--data-dir", dir)
	if code != 0 {
		t.Fatalf("import: code %d, %s", code, errOut)
	}
	var sum annuaire.ImportResult
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Entries != 8 || sum.Duplicates != 1 || sum.BadLines != 2 {
		t.Fatalf("import summary = %+v, %v: %s", sum, err, out)
	}
	out, errOut, code = runMain(t, "annuaire", "search", "Ferrandière", "--data-dir", dir)
	got := jsonLines(t, out)
	if code != 0 || len(got) != 1 || got[0].Address != "agathe.ferrandiere@sagefemme.mssante.fr" || got[0].City != "MARSEILLE" {
		t.Fatalf("search: code %d %q %+v", code, errOut, got)
	}
	out, _, code = runMain(t, "annuaire", "search", "zorbalet", "--type", "ORG", "--limit", "5", "--data-dir", dir)
	if got := jsonLines(t, out); code != 0 || len(got) != 1 || got[0].Type != "ORG" {
		t.Errorf("search --type ORG: code %d, %+v", code, got)
	}
	// A word with its accents, several words and the postcode.
	out, _, _ = runMain(t, "annuaire", "search", "--data-dir", dir, "castagnol", "75013")
	if got := jsonLines(t, out); len(got) != 1 {
		t.Errorf("search castagnol 75013: %+v", got)
	}
}

func TestAnnuaire_errors(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := runMain(t, "annuaire", "search", "x", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "annuaire import") {
		t.Errorf("search without index: code %d, %q", code, errOut)
	}
	if _, _, code := runMain(t, "annuaire", "search", "x", "--type", "XYZ", "--data-dir", dir); code != 2 {
		t.Errorf("bad --type: code %d, want 2", code)
	}
	if _, _, code := runMain(t, "annuaire", "search", "x", "--source", "carrier-pigeon", "--data-dir", dir); code != 2 {
		t.Errorf("bad --source: code %d, want 2", code)
	}
	if _, _, code := runMain(t, "annuaire", "import", "--data-dir", dir); code != 2 {
		t.Errorf("import without file: code %d, want 2", code)
	}
	if _, _, code := runMain(t, "annuaire", "search", "x", "--source", "ldap", "--data-dir", dir); code != 2 {
		t.Errorf("--source ldap without --ldap-url: code %d, want 2", code)
	}
}

// fhirBundle is a FHIR searchset with one Organization holding MSSanté mailboxes.
func fhirBundle(name string, mailboxes ...string) string {
	var telecoms []string
	for _, m := range mailboxes {
		telecoms = append(telecoms, fmt.Sprintf(`{"system":"email","value":%q,"extension":[{
			"url":"https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata",
			"extension":[{"url":"type","valueCodeableConcept":{"coding":[{
				"system":"https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL","code":"ORG"}]}},
				{"url":"service","valueString":"Imagerie"}]}]}`, m))
	}
	return fmt.Sprintf(`{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"resource":{
		"resourceType":"Organization","id":"org-1","name":%q,"telecom":[%s]},"search":{"mode":"match"}}]}`,
		name, strings.Join(telecoms, ","))
}

// ECO.3.1.4: --source local,fhir merges both directories, deduplicated by address; a failing
// source leaves the others' results on stdout with exit 1.
func TestAnnuaire_searchMergesSources(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := runMain(t, "annuaire", "import", smallExtraction, "--data-dir", dir); code != 0 {
		t.Fatal(errOut)
	}
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("ESANTE-API-KEY"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/fhir+json")
		if strings.HasSuffix(r.URL.Path, "/Organization") {
			fmt.Fprint(w, fhirBundle("Centre Hospitalier Universitaire Zorbalet",
				"secretariat.cardio@chu-zorbalet.mssante.fr", "imagerie@chu-zorbalet.mssante.fr"))
			return
		}
		fmt.Fprint(w, `{"resourceType":"Bundle","type":"searchset","total":0}`)
	}))
	defer srv.Close()
	t.Setenv("MSSANTE_FHIR_API_KEY", "test-key-not-secret")
	out, errOut, code := runMain(t, "annuaire", "search", "zorbalet", "--source", "local,fhir",
		"--fhir-url", srv.URL, "--data-dir", dir)
	if code != 0 {
		t.Fatalf("search: code %d, %s", code, errOut)
	}
	got := jsonLines(t, out)
	count := map[string]int{}
	for _, e := range got {
		count[strings.ToLower(e.Address)]++
	}
	for _, a := range []string{"helene.zorbalet@medecin.mssante.fr", "secretariat.cardio@chu-zorbalet.mssante.fr", "imagerie@chu-zorbalet.mssante.fr"} {
		if count[a] != 1 {
			t.Errorf("%s appears %d times in %+v", a, count[a], got)
		}
	}
	mu.Lock()
	if len(keys) == 0 || keys[0] != "test-key-not-secret" {
		t.Errorf("API key sent = %q", keys)
	}
	mu.Unlock()

	// The FHIR API down: the local results still come, exit 1 with the reason.
	srv.Close()
	out, errOut, code = runMain(t, "annuaire", "search", "zorbalet", "--source", "local,fhir",
		"--fhir-url", srv.URL, "--data-dir", dir)
	if got := jsonLines(t, out); code != 1 || len(got) != 2 || !strings.Contains(errOut, "fhir") {
		t.Errorf("with FHIR down: code %d, %d results, stderr %q", code, len(got), errOut)
	}
	if strings.Contains(errOut, "test-key-not-secret") {
		t.Errorf("the API key leaked on stderr: %q", errOut)
	}
}
