package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/config"
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
			strict := fs.Bool("strict-n1", false, "fail (exit 1) when an N1 document embeds a PDF that does not declare PDF/A-1")
			conf := useConfig(fs, "pdf.producer", "pdf.n1_as_is")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if *out == "" || len(args) != 1 {
					return usagef("one CDA file and -o are required")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				now := pdfClock(cfg.PDF)
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				doc, err := cda.Read(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				res, err := pdfa.Render(doc, &pdfa.Options{Now: now, Producer: cfg.PDF.Producer, StrictN1: *strict,
					ConvertN1: n1Converter(ctx, cfg.PDF.N1AsIs)})
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

// pdfClock honours SOURCE_DATE_EPOCH (reproducible-builds.org, pdf.source_date_epoch) for the PDF
// creation date, so that the same CDA gives the same bytes; otherwise the current time.
func pdfClock(p config.PDF) func() time.Time {
	if t, ok := p.Epoch(); ok {
		return func() time.Time { return t }
	}
	return time.Now
}
