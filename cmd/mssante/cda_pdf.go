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
		summary: "render a CDA R2 document as PDF/A-1b (N3) or extract its embedded PDF (N1)",
		usage:   "cda pdf IN.xml -o OUT.pdf",
		example: "mssante cda pdf cr-imagerie.xml -o cr-imagerie.pdf",
		flags: func(fs *flag.FlagSet) runFunc {
			out := fs.String("o", "", "output `file` (required)")
			producer := fs.String("producer", envOr("MSSANTE_PDF_PRODUCER", pdfa.DefaultProducer),
				"`name` written as the PDF producer (env MSSANTE_PDF_PRODUCER)")
			strict := fs.Bool("strict-n1", false, "fail (exit 1) when an N1 document embeds a PDF that does not declare PDF/A-1")
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
				res, err := pdfa.Render(doc, &pdfa.Options{Now: now, Producer: *producer, StrictN1: *strict})
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
					Output: *out, Level: doc.Level.String(), Embedded: res.Embedded,
					Pages: res.Pages, Bytes: len(res.PDF), Warnings: warnings,
				})
			}
		},
	})
}

// cdaPDFJSON is the output of "cda pdf".
type cdaPDFJSON struct {
	Output   string   `json:"output"`
	Level    string   `json:"level"`    // N1 or N3
	Embedded bool     `json:"embedded"` // N1: the file is the embedded PDF, unchanged
	Pages    int      `json:"pages"`    // N3: pages rendered; 0 for N1
	Bytes    int      `json:"bytes"`
	Warnings []string `json:"warnings"`
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
