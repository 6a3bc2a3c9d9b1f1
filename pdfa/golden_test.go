package pdfa

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/pdfcheck"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

// TestRender_golden compares the text pdftotext -layout extracts from renderings of synthetic
// documents with reviewed golden files: header, headings, list items in order, table rows and
// columns, page breaks (form feeds) and footers. Run with -update after a deliberate layout
// change and review the diff. ECO.2.1.5
func TestRender_golden(t *testing.T) {
	cases := map[string]*cda.Document{
		"synthetic-45-rows": syntheticDocument(45),
		"synthetic-narrative": func() *cda.Document {
			d := syntheticDocument(0)
			d.Sections = append(d.Sections[:2], cda.Section{Title: "Tableau irrégulier", Text: el(cda.NodeBlock,
				el(cda.NodeTable,
					el(cda.NodeTHead, row(cda.NodeHeaderCell, "Lésion", "Dimensions (mm)")),
					el(cda.NodeTBody,
						row(cda.NodeCell, "Nodule lobaire supérieur droit", "12", "9"),
						row(cda.NodeCell, "Adénopathie hilaire"),
						el(cda.NodeRow, &cda.Node{Kind: cda.NodeCell, RowSpan: 2, Children: []*cda.Node{txt("Fusionnée sur deux lignes")}},
							el(cda.NodeCell, txt("a1")), el(cda.NodeCell, txt("b1"))),
						row(cda.NodeCell, "a2", "b2"))),
				&cda.Node{Kind: cda.NodeFootnote, ID: "fn1", Children: []*cda.Node{txt("Critères RECIST 1.1.")}},
			)})
			return d
		}(),
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			res, err := Render(doc, &Options{Now: testClock})
			if err != nil {
				t.Fatal(err)
			}
			got := pdfcheck.LayoutText(t, pdfcheck.WriteTemp(t, name+".pdf", res.PDF))
			golden := filepath.Join("testdata", name+".txt.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("text of %s differs from %s (go test -update, then review the diff):\n%s", name, golden, got)
			}
		})
	}
}
