package message

import "testing"

func benchCompose(b *testing.B, cdas [][]byte) {
	d := &Draft{From: drMartin, To: []Address{drDupont}, Text: "Veuillez trouver ci-joint les documents.\n", CDAs: cdas}
	opts := fixedOptions()
	b.ReportAllocs()
	for b.Loop() {
		c, err := Compose(d, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(c.Data)))
	}
}

// BenchmarkCompose_oneDocument: one N3 CDA → XDM + PDF/A + mail.
func BenchmarkCompose_oneDocument(b *testing.B) {
	benchCompose(b, [][]byte{sample(b, "n3-cr-biologie.xml")})
}

// BenchmarkCompose_threeDocuments: three N3 CDA of one patient.
func BenchmarkCompose_threeDocuments(b *testing.B) { benchCompose(b, threeDocs(b)) }

// BenchmarkParse reads back a mail with one document (XDM read included).
func BenchmarkParse(b *testing.B) {
	c, err := Compose(&Draft{From: drMartin, To: []Address{drDupont}, Text: "x", CDAs: [][]byte{sample(b, "n3-cr-biologie.xml")}}, fixedOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(c.Data)))
	for b.Loop() {
		if _, err := Parse(c.Data, nil); err != nil {
			b.Fatal(err)
		}
	}
}
