package pdfa

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ConvertFunc converts a PDF that is not PDF/A-1 into a PDF/A-1b file with the same pages. date is
// the creation date to write in its metadata (Options.Now). Options.ConvertN1 takes one; a
// Ghostscript provides one with its Convert method.
type ConvertFunc func(pdf []byte, date time.Time) ([]byte, error)

// ErrGhostscript wraps the failures of a Ghostscript conversion: the program failed, or wrote a
// file that does not declare PDF/A-1. Render then returns the embedded PDF unchanged.
var ErrGhostscript = errors.New("pdfa: ghostscript conversion to PDF/A-1b failed")

// Ghostscript converts PDF files to PDF/A-1b by running the Ghostscript program (gs, Debian
// package ghostscript, AGPL) found on the machine: it is an optional runtime dependency, run as a
// separate process, never linked. This is the only place of the package that starts a program;
// Render itself does no I/O and only calls the ConvertFunc it is given.
//
// The conversion runs `gs -dSAFER -dPDFA=1 -sColorConversionStrategy=RGB
// -dPDFACompatibilityPolicy=1 -sDEVICE=pdfwrite` with a PostScript prologue written here that
// declares the OutputIntent GTS_PDFA1 with this package's sRGB profile inline (so that -dSAFER
// stays on: nothing but the input file is read). Fonts the input does not embed are replaced by
// Ghostscript's own (Times New Roman by Nimbus Roman…), transparency is flattened, CMYK becomes
// RGB. Ghostscript writes its Info dates as D:…Z00'00', which PDF/A validators (PDFBox
// Preflight) do not read as equal to the XMP dates; Convert rewrites them as D:…+00'00' (same
// length, the cross-reference table stays right). The output is reproducible: the same input
// and date give the same bytes (SOURCE_DATE_EPOCH and TZ=UTC are set for gs).
type Ghostscript struct {
	// Path is the gs executable.
	Path string
	// Timeout bounds one conversion; 60 s when zero.
	Timeout time.Duration
}

// LookGhostscript returns a Ghostscript for the gs program found on PATH, or nil when there is
// none (the caller then keeps the embedded PDF as it is).
func LookGhostscript() *Ghostscript {
	p, err := exec.LookPath("gs")
	if err != nil {
		return nil
	}
	return &Ghostscript{Path: p}
}

// Convert converts pdf to PDF/A-1b with creation and modification date date. It writes the input
// to a private temporary directory removed before it returns.
func (g *Ghostscript) Convert(ctx context.Context, pdf []byte, date time.Time) ([]byte, error) {
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		return nil, fmt.Errorf("%w: the input is not a PDF", ErrGhostscript)
	}
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "mssante-gs-")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGhostscript, err)
	}
	defer os.RemoveAll(dir)
	in, prologue := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "pdfa.ps")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGhostscript, err)
	}
	if err := os.WriteFile(prologue, pdfaPrologue(), 0o600); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGhostscript, err)
	}
	// -sOutputFile=- writes the PDF on stdout and -sstdout=%stderr sends what PostScript prints
	// to stderr; the trailer /ID then depends on neither the temporary path nor the time.
	cmd := exec.CommandContext(ctx, g.Path, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dPDFA=1",
		"-sColorConversionStrategy=RGB", "-dPDFACompatibilityPolicy=1", "-sDEVICE=pdfwrite",
		"-sstdout=%stderr", "-sOutputFile=-", prologue, in)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(date.Unix(), 10), "TZ=UTC")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %v: %s", ErrGhostscript, err, firstLine(stderr.String()))
	}
	// An input gs cannot read at all still gives exit status 0 and a blank page.
	for _, fatal := range []string{"Couldn't initialise file", "No pages will be processed"} {
		if strings.Contains(stderr.String(), fatal) {
			return nil, fmt.Errorf("%w: %s", ErrGhostscript, fatal)
		}
	}
	out := fixGhostscriptDates(stdout.Bytes())
	if !bytes.HasPrefix(out, []byte("%PDF-")) || !declaresPDFA1(out) || !bytes.Contains(out, []byte("/GTS_PDFA1")) {
		return nil, fmt.Errorf("%w: the output does not declare PDF/A-1 (%s)", ErrGhostscript, firstLine(stderr.String()))
	}
	return out, nil
}

// Func returns g.Convert bound to ctx, for Options.ConvertN1.
func (g *Ghostscript) Func(ctx context.Context) ConvertFunc {
	return func(pdf []byte, date time.Time) ([]byte, error) { return g.Convert(ctx, pdf, date) }
}

// pdfaPrologue is the PostScript run before the input: it creates the ICC profile stream (sRGB,
// inline as a hex string), the OutputIntent GTS_PDFA1 pointing to it, and adds it to the catalog.
func pdfaPrologue() []byte {
	var b strings.Builder
	b.WriteString("%!PS\n% mssante: PDF/A-1 output intent for Ghostscript pdfwrite -dPDFA=1\n")
	b.WriteString("[/_objdef {mssICC} /type /stream /OBJ pdfmark\n")
	b.WriteString("[{mssICC} << /N 3 >> /PUT pdfmark\n")
	b.WriteString("[{mssICC} <")
	enc := hex.EncodeToString(srgbICC())
	for len(enc) > 0 {
		n := min(len(enc), 120)
		b.WriteString("\n" + enc[:n])
		enc = enc[n:]
	}
	b.WriteString("\n> /PUT pdfmark\n")
	b.WriteString("[/_objdef {mssIntent} /type /dict /OBJ pdfmark\n")
	fmt.Fprintf(&b, "[{mssIntent} << /Type /OutputIntent /S /GTS_PDFA1 /DestOutputProfile {mssICC} "+
		"/OutputConditionIdentifier (%s) /Info (%s) /RegistryName (http://www.color.org) >> /PUT pdfmark\n",
		srgbProfileName, srgbProfileName)
	b.WriteString("[{Catalog} << /OutputIntents [ {mssIntent} ] >> /PUT pdfmark\n")
	return []byte(b.String())
}

// gsDate matches an Info date as Ghostscript writes it in UTC: D:YYYYMMDDHHmmSSZ00'00'.
var gsDate = regexp.MustCompile(`/(?:CreationDate|ModDate)\s*\(D:\d{14}Z00'00'\)`)

// fixGhostscriptDates rewrites the Info dates D:…Z00'00' as D:…+00'00', which PDF/A validators
// compare equal to the XMP dates "…Z". Both forms are 7 bytes: no offset moves.
func fixGhostscriptDates(pdf []byte) []byte {
	return gsDate.ReplaceAllFunc(pdf, func(m []byte) []byte {
		i := bytes.LastIndex(m, []byte("Z00'00')"))
		out := append([]byte(nil), m...)
		out[i] = '+'
		return out
	})
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
