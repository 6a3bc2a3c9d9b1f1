package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/message"
)

// demoCDA is a synthetic CI-SIS imaging report (invented patient, test INS OID), the same shape as
// cda/testdata/n3-cr-imagerie.xml.
//
//go:embed demo/cr-imagerie.xml
var demoCDA []byte

func init() {
	register(&command{
		name:    "demo",
		summary: "compose an MSSanté mail with an embedded example CDA (IHE XDM + PDF/A-1), then read it back",
		usage:   "demo -o OUT.eml [--cda FILE]",
		example: "mssante demo -o demo.eml",
		flags: func(fs *flag.FlagSet) runFunc {
			out := fs.String("o", "demo.eml", "output `file` for the composed mail")
			cdaFile := fs.String("cda", "", "use this CDA `file` instead of the embedded example")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				doc := demoCDA
				if *cdaFile != "" {
					b, err := os.ReadFile(*cdaFile)
					if err != nil {
						return err
					}
					doc = b
				}
				return runDemo(env, doc, *out)
			}
		},
	})
}

// runDemo sends the document to its patient (the address built from the CDA's qualified INS) with
// a copy to a colleague, asks for both receipts, writes the mail, and prints what a receiver reads.
func runDemo(env *cmdEnv, doc []byte, out string) error {
	parsed, err := cda.Parse(doc)
	if err != nil {
		return err
	}
	patient, err := parsed.Patient.Identity.PatientAddress("")
	if err != nil {
		return err
	}
	label, err := message.SenderLabel{Kind: message.Personal, Title: "Dr", FirstName: "Marie", Name: "Martin", Entity: "Cabinet de radiologie des Tilleuls"}.Label()
	if err != nil {
		return err
	}
	c, err := message.Compose(&message.Draft{
		From: message.Address{Name: label, Addr: "marie.martin@medecin.mssante.fr"},
		To:   []message.Address{{Addr: patient}},
		Cc:   []message.Address{{Name: "Dr Paul DURAND", Addr: "paul.durand@medecin.mssante.fr"}},
		Text: "Bonjour,\n\nVeuillez trouver ci-joint le compte rendu de votre examen.\n\nBien cordialement,\nDr Marie MARTIN",
		CDAs: [][]byte{doc},
		DSN:  true, MDN: true,
	}, nil)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, c.Data, 0o600); err != nil {
		return err
	}
	m, err := message.Parse(c.Data, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "Courriel écrit dans %s (%d octets) : %s\n", out, len(c.Data), c.Subject)
	return writeJSON(env.stdout, map[string]any{"file": out, "subject": c.Subject, "pdf_names": c.PDFNames, "headers": c.Headers, "warnings": c.Warnings, "read_back": m})
}
