package pdfa_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/pdfa"
)

// Render a received or composed N3 document to the PDF/A-1b attachment of an MSSanté mail.
func ExampleRender() {
	doc := &cda.Document{
		Level: cda.N3,
		Code:  cda.Code{Code: "11488-4", DisplayName: "Note de consultation"},
		Title: "Note de consultation",
		Sections: []cda.Section{{
			Title: "Conclusion",
			Text: &cda.Node{Kind: cda.NodeBlock, Children: []*cda.Node{
				{Kind: cda.NodeText, Text: "Pas d’anomalie décelée."},
			}},
		}},
	}
	clock := func() time.Time { return time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC) }
	res, err := pdfa.Render(doc, &pdfa.Options{Now: clock})
	if err != nil {
		log.Fatal(err)
	}
	for _, w := range res.Warnings {
		log.Print(w) // degraded but complete: tell the user
	}
	fmt.Println(string(res.PDF[:8]), res.Pages, res.Embedded)
	// Output: %PDF-1.4 1 false
}

// Attach a PDF/A-1 for an N1 document: its embedded PDF when it is PDF/A-1, else its conversion
// by Ghostscript when gs is installed (with the ErrConvertedN1 warning), else the embedded PDF
// as it is (with the ErrNotPDFA warning).
func ExampleGhostscript() {
	data := []byte("…") // a CDA R2 N1 document
	doc, err := cda.Parse(data)
	if err != nil {
		log.Fatal(err)
	}
	opts := &pdfa.Options{}
	if gs := pdfa.LookGhostscript(); gs != nil {
		opts.ConvertN1 = gs.Func(context.Background())
	}
	res, err := pdfa.Render(doc, opts)
	if err != nil {
		log.Fatal(err)
	}
	for _, w := range res.Warnings {
		log.Print(w)
	}
	fmt.Println(res.Embedded, res.Converted)
}
