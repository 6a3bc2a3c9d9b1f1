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
		// message reads addresses and MIME headers with net/mail and net/textproto (parsers, no I/O);
		// every other content package stays clear of net entirely.
		{content, []string{"net/http", "net/smtp", "net/rpc", "crypto/tls", "database/sql", module + "/internal", module + "/lps", module + "/trust", module + "/autoconfig"}, "content packages: bytes in, typed values out"},
		{[]string{"ins", "cda", "xdm", "pdfa"}, []string{"net"}, "document packages know nothing of the network"},
		{protocol, []string{module + "/internal", module + "/cmd", "database/sql"}, "protocol packages know nothing of the application"},
		{[]string{"lps"}, []string{"net/http"}, "lps speaks SMTP and IMAP only"},
		{[]string{"internal/serverapi"}, []string{module + "/internal", module + "/cmd", module + "/lps"}, "the server's API types and client stand alone: the server and its clients import them"},
		{[]string{"internal/mailbox"}, []string{module + "/internal/server", module + "/internal/sandbox", module + "/cmd"}, "the application layer knows nothing of delivery"},
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
	// The client side of each library has one owner; the sandbox operator is the one place that
	// runs their servers.
	sandbox := module + "/internal/sandbox"
	owners := map[string][]string{
		"github.com/emersion/go-smtp":    {module + "/lps", sandbox},
		"github.com/emersion/go-imap":    {module + "/lps", sandbox},
		"github.com/emersion/go-sasl":    {module + "/lps", sandbox},
		"github.com/emersion/go-message": {module + "/message", sandbox},
	}
	for _, p := range listAll(t) {
		for _, imp := range p.Imports {
			for lib, allowed := range owners {
				if hasPrefixAny(imp, lib) && !hasPrefixAny(p.ImportPath, allowed...) {
					t.Errorf("%s imports %s; only %v may (STYLE.md §9.2)", p.ImportPath, imp, allowed)
				}
			}
		}
	}
}
