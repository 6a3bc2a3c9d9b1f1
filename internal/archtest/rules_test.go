package archtest

import (
	"slices"
	"strings"
	"testing"
)

// A small table and a clean graph that obeys it; each case of TestCheck_fails breaks one rule.
var fakeTable = []row{
	{path: "cmd/app", layer: entry},
	{path: "internal/web", layer: delivery},
	{path: "internal/operator", layer: delivery, libs: []string{goIMAP, goIMAPServer}},
	{path: "internal/mailbox", layer: application},
	{path: "internal/config", layer: application, importers: []string{"cmd/app"}},
	{path: "lps", layer: protocol, libs: []string{goIMAP, goIMAPClient}, noDeps: []string{"net/http"}},
	{path: "ins", layer: content, noDeps: []string{"net"}},
	{path: "message", layer: content, libs: []string{goMessage}, noImports: []string{"net"}},
	{path: "internal/testkit", layer: testSupport},
	{path: "internal/peertest", layer: testSupport},
	{path: "internal/next", layer: application}, // planned
}

var fakePlanned = map[string]bool{"internal/next": true}

func fakeGraph() map[string]pkg {
	m := func(p string) string { return module + "/" + p }
	g := map[string]pkg{}
	add := func(path string, imports, deps []string) {
		g[m(path)] = pkg{ImportPath: m(path), Imports: imports, Deps: deps}
	}
	add("cmd/app", []string{m("internal/web"), m("internal/config"), m("lps")}, nil)
	add("internal/web", []string{m("internal/mailbox"), "net/http"}, []string{"net", "net/http"})
	add("internal/operator", []string{goIMAP, goIMAPServer, m("lps")}, nil)
	add("internal/mailbox", []string{m("lps"), m("ins"), m("message")}, nil)
	add("internal/config", nil, nil)
	add("lps", []string{goIMAP, goIMAPClient, "crypto/tls"}, []string{"crypto/tls", "net"})
	add("ins", []string{"strings"}, []string{"strings"})
	add("message", []string{goMessage + "/mail", "net/mail"}, []string{"net", "net/mail"})
	add("internal/testkit", []string{"testing"}, nil)
	add("internal/peertest", []string{m("internal/testkit"), m("lps"), m("internal/operator")}, nil)
	return g
}

// The clean graph passes: test support imports any layer but entry, the same layer and lower ones
// are imported freely, and message may depend on net through net/mail.
func TestCheck_clean(t *testing.T) {
	if v := check(fakeTable, fakePlanned, fakeGraph()); len(v) != 0 {
		t.Fatalf("clean graph: %q", v)
	}
}

// Each rule can fail: one mutation of the clean graph or table per rule, and the message it must
// produce.
func TestCheck_fails(t *testing.T) {
	m := func(p string) string { return module + "/" + p }
	addImport := func(from, imp string) func(map[string]pkg) {
		return func(g map[string]pkg) {
			p := g[m(from)]
			p.Imports = append(slices.Clone(p.Imports), imp)
			g[m(from)] = p
		}
	}
	addDep := func(from, dep string) func(map[string]pkg) {
		return func(g map[string]pkg) {
			p := g[m(from)]
			p.Deps = append(slices.Clone(p.Deps), dep)
			g[m(from)] = p
		}
	}
	cases := []struct {
		name    string
		table   func([]row) []row
		planned map[string]bool
		graph   func(map[string]pkg)
		want    string
	}{
		{name: "unclassified package",
			graph: func(g map[string]pkg) { g[m("internal/stray")] = pkg{ImportPath: m("internal/stray")} },
			want:  "internal/stray: not classified"},
		{name: "row naming no package",
			table: func(t []row) []row { return append(t, row{path: "internal/gone", layer: application}) },
			want:  "internal/gone: in the table but not in go list"},
		{name: "planned package now exists",
			graph: func(g map[string]pkg) { g[m("internal/next")] = pkg{ImportPath: m("internal/next")} },
			want:  "internal/next: exists now; remove it from planned"},
		{name: "planned without a row",
			planned: map[string]bool{"internal/next": true, "internal/ghost": true},
			want:    "internal/ghost: planned but has no row"},
		{name: "duplicate row",
			table: func(t []row) []row { return append(t, row{path: "ins", layer: content}) },
			want:  "ins: two rows in the table"},
		{name: "upward: protocol imports application",
			graph: addImport("lps", m("internal/mailbox")),
			want:  "lps (protocol) imports internal/mailbox (application): upward import"},
		{name: "upward: content imports protocol",
			graph: addImport("ins", m("lps")),
			want:  "ins (content) imports lps (protocol): upward import"},
		{name: "upward: application imports delivery",
			graph: addImport("internal/mailbox", m("internal/web")),
			want:  "internal/mailbox (application) imports internal/web (delivery): upward import"},
		{name: "entry imported",
			graph: addImport("internal/peertest", m("cmd/app")),
			want:  "nothing imports the entry"},
		{name: "test support imported by non-test code",
			graph: addImport("internal/mailbox", m("internal/testkit")),
			want:  "internal/mailbox (application) imports internal/testkit (test support): test support is imported from _test.go files only"},
		{name: "importers column",
			graph: addImport("internal/web", m("internal/config")),
			want:  "internal/web imports internal/config; only [cmd/app] may"},
		{name: "imap client outside lps",
			graph: addImport("internal/mailbox", goIMAPClient),
			want:  "internal/mailbox imports " + goIMAPClient + "; only [lps] may"},
		{name: "imap server outside the operator",
			graph: addImport("lps", goIMAPServer),
			want:  "lps imports " + goIMAPServer + "; only [internal/operator] may"},
		{name: "go-message subpackage outside message",
			graph: addImport("internal/web", goMessage+"/textproto"),
			want:  "internal/web imports " + goMessage + "/textproto; only [message] may"},
		{name: "go-smtp, owned by nobody here",
			graph: addImport("lps", goSMTP),
			want:  "lps imports " + goSMTP + "; only [] may"},
		{name: "document package depends on net",
			graph: addDep("ins", "net/netip"),
			want:  "ins depends on net/netip, which its row forbids"},
		{name: "lps depends on net/http",
			graph: addDep("lps", "net/http"),
			want:  "lps depends on net/http, which its row forbids"},
		{name: "message imports net directly",
			graph: addImport("message", "net"),
			want:  "message imports net, which its row forbids"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			table := slices.Clone(fakeTable)
			if c.table != nil {
				table = c.table(table)
			}
			planned := fakePlanned
			if c.planned != nil {
				planned = c.planned
			}
			g := fakeGraph()
			if c.graph != nil {
				c.graph(g)
			}
			v := check(table, planned, g)
			if len(v) != 1 || !strings.Contains(v[0], c.want) {
				t.Fatalf("violations %q; want exactly one containing %q", v, c.want)
			}
		})
	}
}

func TestConfinedLib_longestPrefix(t *testing.T) {
	for imp, want := range map[string]string{
		goIMAP:                      goIMAP,
		goIMAPClient:                goIMAPClient,
		goIMAPServer + "/internal":  goIMAPServer,
		goMessage + "/mail":         goMessage,
		"github.com/emersion/go-im": "",
		goSMTP + "x":                "",
	} {
		if got := confinedLib(imp); got != want {
			t.Errorf("confinedLib(%q) = %q, want %q", imp, got, want)
		}
	}
}
