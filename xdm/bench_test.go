package xdm

import (
	"bytes"
	"testing"
)

// BenchmarkBuild measures Build + WriteTo of two synthetic CDAs.
func BenchmarkBuild(b *testing.B) {
	cdas := [][]byte{readTestdata(b, "cr-consultation.xml"), readTestdata(b, "note-ecg-n1.xml")}
	b.ReportAllocs()
	for b.Loop() {
		p, err := Build(cdas, testOptions())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.WriteTo(&bytes.Buffer{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead measures Read (unzip, metadata, integrity, CDA parsing) of that archive.
func BenchmarkRead(b *testing.B) {
	_, z := buildArchive(b, "cr-consultation.xml", "note-ecg-n1.xml")
	b.SetBytes(int64(len(z)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(z, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead_bomb measures how fast a 3 MiB-of-zeros entry is refused.
func BenchmarkRead_bomb(b *testing.B) {
	valid := validFiles(b)
	z := makeZip(b, with(valid, "IHE_XDM/SUBSET01/BOMB.XML", make([]byte, 3<<20)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(z, nil); err == nil {
			b.Fatal("bomb accepted")
		}
	}
}
