package archtest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// pkg is one package as `go list -json` describes it (full import paths). Imports and Deps leave
// out the _test.go files, whose imports (TestImports, XTestImports) may name any layer: a protocol
// test runs the sandbox operator as its peer, every test uses test support.
type pkg struct {
	ImportPath string
	Imports    []string // non-test imports
	Deps       []string // transitive non-test dependencies
}

// check returns every violation of the table (paths relative to the module) by the import graph
// (keyed by full import path), sorted.
func check(table []row, planned map[string]bool, graph map[string]pkg) []string {
	var bad []string
	report := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }

	rows := map[string]row{}
	for _, r := range table {
		if _, dup := rows[r.path]; dup {
			report("%s: two rows in the table", r.path)
		}
		rows[r.path] = r
		_, exists := graph[module+"/"+r.path]
		switch {
		case !exists && !planned[r.path]:
			report("%s: in the table but not in go list ./... (renamed or removed? or mark it planned)", r.path)
		case exists && planned[r.path]:
			report("%s: exists now; remove it from planned", r.path)
		}
	}
	for p := range planned {
		if _, ok := rows[p]; !ok {
			report("%s: planned but has no row in the table", p)
		}
	}

	for full, p := range graph {
		path := rel(full)
		r, ok := rows[path]
		if !ok {
			report("%s: not classified: add a row to the table in table_test.go", path)
			continue
		}
		for _, imp := range p.Imports {
			if to, inModule := rows[rel(imp)]; inModule && imp != rel(imp) {
				if msg := layerViolation(r, to); msg != "" {
					report("%s (%s) imports %s (%s): %s", path, r.layer, rel(imp), to.layer, msg)
				}
				if to.importers != nil && !slices.Contains(to.importers, path) {
					report("%s imports %s; only %v may", path, rel(imp), to.importers)
				}
			}
			if lib := confinedLib(imp); lib != "" && !slices.Contains(r.libs, lib) {
				report("%s imports %s; only %v may", path, imp, owners(table, lib))
			}
			if slices.Contains(r.noImports, imp) {
				report("%s imports %s, which its row forbids", path, imp)
			}
		}
		for _, dep := range p.Deps {
			if hasPrefixAny(dep, r.noDeps...) {
				report("%s depends on %s, which its row forbids", path, rel(dep))
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// layerViolation says why a non-test import from a package of row from to one of row to breaks the
// layering, or "" when it does not.
func layerViolation(from, to row) string {
	switch {
	case to.layer == entry:
		return "nothing imports the entry"
	case to.layer == testSupport && from.layer != testSupport:
		return "test support is imported from _test.go files only"
	case from.layer == testSupport:
		return ""
	case to.layer > from.layer:
		return "upward import: data flows down, never up"
	}
	return ""
}

// confinedLib returns the longest confined package the import path falls under, or "".
func confinedLib(imp string) string {
	best := ""
	for _, lib := range confined {
		if hasPrefixAny(imp, lib) && len(lib) > len(best) {
			best = lib
		}
	}
	return best
}

func owners(table []row, lib string) []string {
	var o []string
	for _, r := range table {
		if slices.Contains(r.libs, lib) {
			o = append(o, r.path)
		}
	}
	return o
}

func rel(importPath string) string { return strings.TrimPrefix(importPath, module+"/") }

func hasPrefixAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p+"/") {
			return true
		}
	}
	return false
}
