package cda

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes the reader panic and that a document read has a patient.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.xml", "testdata/malformed/*.xml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(`<ClinicalDocument xmlns="urn:hl7-org:v3"><recordTarget><patientRole/></recordTarget></ClinicalDocument>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			if d != nil {
				t.Fatalf("document and error: %v", err)
			}
			return
		}
		if d.Level == N1 && d.Body == nil {
			t.Fatal("N1 without body")
		}
		_ = d.ActDate()
		for _, s := range d.Sections {
			if s.Text != nil {
				_ = s.Text.PlainText()
			}
		}
	})
}

func FuzzParseTS(f *testing.F) {
	for _, s := range []string{"2019", "20191203133000+0100", "20190715133000.25-0230", "20190230", "+0100", "1.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ts, err := ParseTS(raw)
		if err == nil && ts.Raw != "" && ts.IsZero() {
			t.Fatalf("%q read without error but zero", raw)
		}
	})
}

// BenchmarkParse reads the 64-row discharge letter repeated to about 1 MiB of sections.
func BenchmarkParse(b *testing.B) {
	data := largeSample(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse_N1(b *testing.B) {
	data := readSample(b, "n1-note-consultation-pdf.xml")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
