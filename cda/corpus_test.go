package cda

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/testkit"
)

// TestParse_corpus reads every ANS CI-SIS sample of the shared corpus: each has a level, a type
// code (ECO.2.4.1), a title, and a patient INS or a warning explaining why not (ECO.2.4.2).
func TestParse_corpus(t *testing.T) {
	dir := testkit.Shared(t, "corpus", "cda")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := map[string]bool{"CSE-CS24_2025.01.xml": true, "CSE-MDE_2023.01.xml": true, "OBP-SEM_2024.01.xml": true}
	seen := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.EqualFold(filepath.Ext(name), ".xml") {
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			d, err := Read(f)
			if err != nil {
				t.Fatal(err)
			}
			if d.Level == LevelUnknown || d.Code.Code == "" || d.Title == "" || d.EffectiveTime.IsZero() {
				t.Errorf("level %v, code %q, title %q, effectiveTime %v", d.Level, d.Code.Code, d.Title, d.EffectiveTime)
			}
			id := d.Patient.Identity
			if id.INS.Matricule.IsZero() || !id.INS.OID.Qualifying() {
				t.Errorf("no INS read: %v; IDs %v", id.INS, d.Patient.IDs)
			}
			ke := d.INSKeyError()
			if wrongKey[name] != (ke != nil) {
				t.Errorf("key error = %v, want one: %v", ke, wrongKey[name])
			}
			if ke == nil && id.Qualified() != nil {
				t.Errorf("not qualified: %v", id.Qualified())
			}
			if len(d.Authors) == 0 || d.Custodian == nil || d.Custodian.Name == "" {
				t.Errorf("authors %v, custodian %v", d.Authors, d.Custodian)
			}
			switch d.Level {
			case N1:
				if d.Body == nil || !bytes.HasPrefix(d.Body.Data, []byte("%PDF")) {
					t.Errorf("N1 body is not a PDF")
				}
			case N3:
				if len(d.Sections) == 0 || d.Sections[0].Title == "" {
					t.Errorf("N3 without titled sections: %d", len(d.Sections))
				}
			}
			for _, w := range d.Warnings {
				var kerr *ins.KeyError
				if !errors.As(w, &kerr) && !errors.Is(w, ErrTime) {
					t.Errorf("unexpected warning: %v", w)
				}
			}
		})
	}
	if seen == 0 {
		t.Fatalf("no CDA in %s", dir)
	}
}

func TestParse_corpusUsedName(t *testing.T) {
	p := filepath.Join(testkit.Shared(t, "corpus", "cda"), "eDISP-MED_2024.01.xml")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Skip(err)
	}
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	id := d.Patient.Identity
	if id.BirthName != "NESSI" || id.UsedName != "DECOURCY" || id.FirstName != "RUTH" || id.INS.OID != ins.OIDNIR {
		t.Errorf("identity = %+v", id)
	}
	if len(d.Authors) != 2 || d.Authors[0].Person != nil || d.Authors[0].Device != "Dossier Pharmaceutique" ||
		d.Authors[1].Person == nil || d.Authors[1].Person.Name.Family != "DELIVE" {
		t.Errorf("authors = %+v, want the DP device then the pharmacist", d.Authors)
	}
}

// BenchmarkParse_corpus reads every sample of the shared ANS corpus once per iteration.
func BenchmarkParse_corpus(b *testing.B) {
	dir := testkit.Shared(b, "corpus", "cda")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var all [][]byte
	size := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, data)
		size += len(data)
	}
	b.SetBytes(int64(size))
	for b.Loop() {
		for _, data := range all {
			if _, err := Parse(data); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestParse_corpusRelatedDocument reads relatedDocument/parentDocument of an ANS sample that
// replaces an earlier document (typeCode RPLC): the CI-SIS HL7v2 volet "Transmission LPS de
// documents CDA reçus par courriel MSSanté" turns it into MDM^T10 with TXA-13 = the parent id.
func TestParse_corpusRelatedDocument(t *testing.T) {
	path := testkit.Shared(t, "corpus", "cda", "IMG_CR_IMG_2024.01.xml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := d.Replaces()
	if want := (II{Root: "90E1C8EC-F951-4B26-A305-A34848818DD6"}); !ok || id != want {
		t.Errorf("Replaces() = %v, %v, want %v, true", id, ok, want)
	}
	if len(d.RelatedDocuments) != 1 || d.RelatedDocuments[0].TypeCode != "RPLC" {
		t.Errorf("RelatedDocuments = %+v, want one RPLC", d.RelatedDocuments)
	}
}

// TestParse_noRelatedDocument: an original document replaces nothing.
func TestParse_noRelatedDocument(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "n3-cr-biologie.xml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := d.Replaces(); ok {
		t.Errorf("Replaces() = %v, true, want false", id)
	}
}
