package message

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/cda"
)

// TestCompose_N1ConvertedPDF: with Options.ConvertN1, an N1 document whose embedded PDF is not
// PDF/A-1 gets the converted PDF attached, the French conversion warning, and the XDM still
// carries the CDA unchanged. ECO.2.1.1, ECO.2.1.5.
func TestCompose_N1ConvertedPDF(t *testing.T) {
	raw := sample(t, "n1-note-consultation-pdf.xml")
	doc, err := cda.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	converted := []byte("%PDF-1.4\n% converted\n<pdfaid:part>1</pdfaid:part>\n%%EOF\n")
	var got []byte
	opts := fixedOptions()
	opts.ConvertN1 = func(pdf []byte, date time.Time) ([]byte, error) {
		got = pdf
		if !date.Equal(opts.Now().Truncate(time.Second)) {
			t.Errorf("converter got date %v, want Options.Now", date)
		}
		return converted, nil
	}
	d := &Draft{From: drMartin, To: []Address{drDupont}, Text: "Compte rendu.\n", CDAs: [][]byte{raw}}
	c := mustCompose(t, d, opts)
	if !bytes.Equal(got, doc.Body.Data) {
		t.Error("the converter did not get the embedded PDF")
	}
	m := mustParse(t, c.Data)
	if len(m.PDFs) != 1 || !bytes.Equal(attachmentData(t, m, m.PDFs[0]), converted) {
		t.Fatalf("PDF attachments %v: the converted PDF is not attached", m.PDFs)
	}
	if !strings.Contains(strings.Join(c.Warnings, "\n"), "converti en PDF/A-1b") {
		t.Errorf("warnings %q lack the conversion notice", c.Warnings)
	}
}
