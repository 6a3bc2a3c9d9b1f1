package hl7

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/ins"
)

// fixtures are our synthetic CDA documents (invented identities, INS under the test OID).
var fixtures = []string{
	"../cda/testdata/n1-note-consultation-pdf.xml",
	"../cda/testdata/n3-cr-biologie.xml",
	"../cda/testdata/n3-cr-imagerie.xml",
	"../cda/testdata/n3-lettre-liaison.xml",
	"../cda/testdata/n3-sans-ins.xml",
	"../xdm/testdata/cr-consultation.xml",
	"../xdm/testdata/note-ecg-n1.xml",
	"../xdm/testdata/other-patient.xml",
}

var testTime = time.Date(2026, 3, 12, 14, 30, 5, 0, time.UTC)

func testEnvelope() Envelope {
	return Envelope{SendingApplication: "MSSANTE", SendingFacility: "CH_ESSAI", ReceivingApplication: "DPI",
		ReceivingFacility: "CH_ESSAI", ControlID: "MSG-0001", Time: testTime}
}

func testMail() Mail {
	return Mail{
		MessageID: "20260312.1@hopital.essai.mssante.fr",
		Subject:   "XDM/1.0/DDM+CR | résultats ^ & ~ \\ essai",
		Body:      "Bonjour,\r\nci-joint le compte rendu.\r\n",
		From: Participant{Address: "jeanne.essai@hopital.essai.mssante.fr", Person: &cda.Person{
			ID:   cda.II{Root: oidIDNPS, Extension: "899700200016"},
			Name: cda.Name{Family: "ESSAI", Given: []string{"Jeanne"}},
		}},
		To: []Participant{
			{Address: "dpi@ch-essai.mssante.fr", Organization: &cda.Organization{Name: "Service de cardiologie",
				ID: cda.II{Root: oidIDNST, Extension: "1123456789"}}},
			{Address: "paul.fictif@ch-essai.mssante.fr"},
		},
		ReplyTo:  []string{"secretariat@hopital.essai.mssante.fr"},
		Received: testTime.Add(-time.Hour),
	}
}

func readFixture(t *testing.T, path string) ([]byte, *cda.Document) {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	h, err := cda.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return data, h
}

// replacing returns a CDA that replaces parent (relatedDocument RPLC before componentOf or the
// body), as a sender's second version would.
func replacing(t *testing.T, data []byte, parent cda.II) []byte {
	t.Helper()
	rel := []byte(`<relatedDocument typeCode="RPLC"><parentDocument><id root="` + parent.Root +
		`" extension="` + parent.Extension + `"/></parentDocument></relatedDocument>`)
	for _, anchor := range []string{"<componentOf>", "<component>"} {
		if i := bytes.Index(data, []byte(anchor)); i >= 0 {
			return append(append(append([]byte{}, data[:i]...), rel...), data[i:]...)
		}
	}
	t.Fatal("no anchor for relatedDocument")
	return nil
}

func build(t *testing.T, data []byte, h *cda.Document) (*Message, []byte) {
	t.Helper()
	out, err := BuildMDM(&Document{CDA: data, Header: h, Mail: testMail()}, testEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(BuildMDM) = %v", err)
	}
	return m, out
}

func seg(t *testing.T, m *Message, name string) Segment {
	t.Helper()
	s, ok := m.Segment(name)
	if !ok {
		t.Fatalf("no %s segment", name)
	}
	return s
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func insOID(root string) ins.OID { return ins.OID(root) }
