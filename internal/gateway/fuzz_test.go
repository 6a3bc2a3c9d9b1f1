package gateway

import (
	"testing"
)

// FuzzExtract: a received mail (outside input) never panics the reading of its documents, and
// every document found has an id.
func FuzzExtract(f *testing.F) {
	f.Add(mailWithCDA(f, appli, cdaFixture(f, "n3-cr-biologie.xml", "FUZZ-1"), "Texte."))
	f.Add([]byte("From: <a@b.fr>\r\nSubject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Disposition: attachment; filename=IHE_XDM.zip\r\n\r\nPK\x03\x04\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		info, err := extract(raw, "")
		if err != nil {
			return
		}
		for _, d := range info.docs {
			if d.documentID == "" && len(d.cda) > 0 {
				t.Errorf("document without id: %+v", d.patient)
			}
		}
		_ = replacedID(raw)
	})
}
