package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/pdfa"
)

func init() {
	register(&command{
		name:    "cda pdf",
		summary: "render a CDA R2 document as PDF/A-1b (N3) or extract its embedded PDF (N1, converted to PDF/A-1b when it is not PDF/A-1)",
		usage:   "cda pdf IN.xml -o OUT.pdf [--n1-as-is] [--strict-n1] [--producer NAME]",
		example: "mssante cda pdf cr-imagerie.xml -o cr-imagerie.pdf",
		flags: func(fs *flag.FlagSet) runFunc {
			out := fs.String("o", "", "output `file` (required)")
			producer := fs.String("producer", envOr("MSSANTE_PDF_PRODUCER", pdfa.DefaultProducer),
				"`name` written as the PDF producer (env MSSANTE_PDF_PRODUCER)")
			strict := fs.Bool("strict-n1", false, "fail (exit 1) when an N1 document embeds a PDF that does not declare PDF/A-1")
			asIs := n1AsIsFlag(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if *out == "" || len(args) != 1 {
					return usagef("one CDA file and -o are required")
				}
				now, err := pdfClock()
				if err != nil {
					return err
				}
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				doc, err := cda.Read(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				res, err := pdfa.Render(doc, &pdfa.Options{Now: now, Producer: *producer, StrictN1: *strict,
					ConvertN1: n1Converter(ctx, *asIs)})
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				if err := os.WriteFile(*out, res.PDF, 0o600); err != nil {
					return err
				}
				warnings := []string{}
				for _, w := range res.Warnings {
					fmt.Fprintf(env.stderr, "mssante cda pdf: warning: %v\n", w)
					warnings = append(warnings, w.Error())
				}
				return writeJSON(env.stdout, cdaPDFJSON{
					Output: *out, Level: doc.Level.String(), Embedded: res.Embedded, Converted: res.Converted,
					Pages: res.Pages, Bytes: len(res.PDF), Warnings: warnings,
				})
			}
		},
	})
}

// cdaPDFJSON is the output of "cda pdf".
type cdaPDFJSON struct {
	Output    string   `json:"output"`
	Level     string   `json:"level"`     // N1 or N3
	Embedded  bool     `json:"embedded"`  // N1: the file is the embedded PDF, unchanged
	Converted bool     `json:"converted"` // N1: the embedded PDF was not PDF/A-1 and was converted to PDF/A-1b
	Pages     int      `json:"pages"`     // N3: pages rendered; 0 for N1
	Bytes     int      `json:"bytes"`
	Warnings  []string `json:"warnings"`
}

// n1AsIsFlag declares --n1-as-is (env MSSANTE_N1_AS_IS=1), shared by "cda pdf" and "compose".
func n1AsIsFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("n1-as-is", os.Getenv("MSSANTE_N1_AS_IS") == "1",
		"keep an N1 document's embedded PDF byte for byte even when it is not PDF/A-1 (no Ghostscript conversion; env MSSANTE_N1_AS_IS=1)")
}

// n1Converter returns the conversion of non-PDF/A-1 N1 PDFs to PDF/A-1b (ECO.2.1.1, ECO.2.1.5):
// Ghostscript (gs on PATH, Debian package ghostscript, an optional runtime dependency), or nil
// when asIs is set or gs is not installed: the embedded PDF is then kept with a warning.
func n1Converter(ctx context.Context, asIs bool) pdfa.ConvertFunc {
	if asIs {
		return nil
	}
	gs := pdfa.LookGhostscript()
	if gs == nil {
		return nil
	}
	return gs.Func(ctx)
}

// pdfClock honours SOURCE_DATE_EPOCH (reproducible-builds.org) for the PDF creation date, so that
// the same CDA gives the same bytes; otherwise the current time.
func pdfClock() (func() time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Now, nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
	}
	t := time.Unix(sec, 0).UTC()
	return func() time.Time { return t }, nil
}
