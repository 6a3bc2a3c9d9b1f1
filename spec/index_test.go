// Package spec_test checks spec/index.txt, the map from every requirement id of the referential to
// its code and tests.
package spec_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/testkit"
)

type row struct {
	line        int
	id, status  string
	code, tests []string
	note        string
}

var idPattern = regexp.MustCompile(`ECO\.[0-9]+\.[0-9]+\.[0-9]+`)

func readIndex(t *testing.T, root string) []row {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "spec", "index.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		text, note, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 4 {
			t.Errorf("spec/index.txt:%d: want 4 fields (id status code tests), got %d", n, len(fields))
			continue
		}
		rows = append(rows, row{line: n, id: fields[0], status: fields[1], code: list(fields[2]), tests: list(fields[3]), note: strings.TrimSpace(note)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func list(s string) []string {
	if s == "-" {
		return nil
	}
	return strings.Split(s, ",")
}

// TestIndex_doneIDsNameTests fails when an id marked done names no code, no test, a missing file,
// or a test file that does not mention the id.
func TestIndex_doneIDsNameTests(t *testing.T) {
	root := testkit.ModuleRoot(t)
	seen := map[string]int{}
	for _, r := range readIndex(t, root) {
		if !idPattern.MatchString(r.id) {
			t.Errorf("spec/index.txt:%d: %q is not an ECO id", r.line, r.id)
		}
		if prev, dup := seen[r.id]; dup {
			t.Errorf("spec/index.txt:%d: %s already listed at line %d", r.line, r.id, prev)
		}
		seen[r.id] = r.line
		switch r.status {
		case "open":
		case "partial":
			if r.note == "" {
				t.Errorf("spec/index.txt:%d: %s is partial without a note saying what is missing", r.line, r.id)
			}
		case "done":
			if len(r.code) == 0 || len(r.tests) == 0 {
				t.Errorf("spec/index.txt:%d: %s is done but names no code or no test", r.line, r.id)
			}
		default:
			t.Errorf("spec/index.txt:%d: unknown status %q", r.line, r.status)
		}
		for _, p := range r.code {
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("spec/index.txt:%d: %s: code %s: %v", r.line, r.id, p, err)
			}
		}
		for _, p := range r.tests {
			b, err := os.ReadFile(filepath.Join(root, p))
			if err != nil {
				t.Errorf("spec/index.txt:%d: %s: test %s: %v", r.line, r.id, p, err)
				continue
			}
			if !strings.HasSuffix(p, "_test.go") || !strings.Contains(string(b), r.id) {
				t.Errorf("spec/index.txt:%d: %s: %s is not a test file naming %s", r.line, r.id, p, r.id)
			}
		}
	}
}

// TestIndex_coversReferential fails when an id of the referential's requirement list is missing
// from the index.
func TestIndex_coversReferential(t *testing.T) {
	root := testkit.ModuleRoot(t)
	req, err := os.ReadFile(testkit.Shared(t, "spec", "REQUIREMENTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, r := range readIndex(t, root) {
		listed[r.id] = true
	}
	for _, id := range idPattern.FindAllString(string(req), -1) {
		if !listed[id] {
			t.Errorf("%s of REQUIREMENTS.md is missing from spec/index.txt", id)
			listed[id] = true
		}
	}
}
