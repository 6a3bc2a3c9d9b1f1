// Package archtest checks the layering of DESIGN.md and STYLE.md §9.1-9.2 with go list: content
// packages know nothing of the network, protocol packages nothing of the application, and each
// third-party protocol library has one importer.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/testkit"
)

const module = "github.com/mssante/mssante"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listAll(t *testing.T) map[string]pkg {
	t.Helper()
	goBin := testkit.LookPath(t, "go")
	cmd := exec.Command(goBin, "list", "-deps=false", "-json", "./...")
	cmd.Dir = testkit.ModuleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

func hasPrefixAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p+"/") {
			return true
		}
	}
	return false
}

func TestLayers(t *testing.T) {
	pkgs := listAll(t)
	content := []string{"ins", "cda", "xdm", "pdfa", "message"}
	protocol := []string{"trust", "autoconfig", "lps"}
	rules := []struct {
		pkgs      []string
		forbidden []string
		why       string
	}{
		{content, []string{"net", "crypto/tls", "database/sql", module + "/internal", module + "/lps", module + "/trust", module + "/autoconfig"}, "content packages: bytes in, typed values out"},
		{protocol, []string{module + "/internal", module + "/cmd", "database/sql"}, "protocol packages know nothing of the application"},
		{[]string{"lps"}, []string{"net/http"}, "lps speaks SMTP and IMAP only"},
	}
	for _, r := range rules {
		for _, name := range r.pkgs {
			p, ok := pkgs[module+"/"+name]
			if !ok {
				continue // not written yet
			}
			for _, dep := range p.Deps {
				if hasPrefixAny(dep, r.forbidden...) && dep != module+"/internal/testkit" {
					t.Errorf("%s depends on %s (%s)", name, dep, r.why)
				}
			}
		}
	}
}

func TestThirdPartyConfinement(t *testing.T) {
	owners := map[string]string{
		"github.com/emersion/go-smtp":    module + "/lps",
		"github.com/emersion/go-imap":    module + "/lps",
		"github.com/emersion/go-sasl":    module + "/lps",
		"github.com/emersion/go-message": module + "/message",
	}
	for _, p := range listAll(t) {
		for _, imp := range p.Imports {
			for lib, owner := range owners {
				if hasPrefixAny(imp, lib) || strings.HasPrefix(imp, lib+"/") {
					if !hasPrefixAny(p.ImportPath, owner) {
						t.Errorf("%s imports %s; only %s may (STYLE.md §9.2)", p.ImportPath, imp, owner)
					}
				}
			}
		}
	}
}
