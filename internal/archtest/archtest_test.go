// Package archtest checks the layering of develop.md, DESIGN.md and STYLE.md §9.1-9.2 with go list:
// a table (table_test.go) gives every package of the module a layer and its own allow-lists, and
// check fails on an unclassified package, a row naming no package, an upward import, a test-support
// package imported by non-test code, and a confined library or forbidden dependency out of place.
package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/testkit"
)

const module = "github.com/mssante/mssante"

// listAll returns the packages of the module as go list describes them, keyed by import path.
func listAll(t *testing.T) map[string]pkg {
	t.Helper()
	goBin := testkit.LookPath(t, "go")
	cmd := exec.Command(goBin, "list", "-json=ImportPath,Imports,Deps", "./...")
	cmd.Dir = testkit.ModuleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("go list: %v\n%s", err, exit.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// TestLayers holds the module to the table: STYLE.md §9.1 (layers) and §9.2 (one owner per library).
func TestLayers(t *testing.T) {
	graph := listAll(t)
	if len(graph) < 10 {
		t.Fatalf("go list found %d packages; expected the whole module", len(graph))
	}
	for _, v := range check(packages, planned, graph) {
		t.Error(v)
	}
}
