package message

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Plain files travel after the MSSanté attachments, byte for byte, under their name (accents kept,
// RFC 2231), with a type from the extension when none is given; X-MSS-CODECDA still names the CDA
// documents only (ECO.2.1.1, ECO.2.4.1).
func TestCompose_files_ECO_2_1_1(t *testing.T) {
	scan := bytes.Repeat([]byte{0x00, 0xff, 0x89, 'P', 'N', 'G'}, 5000)
	d := &Draft{From: drMartin, To: []Address{drDupont}, Text: "ci-joint", CDAs: [][]byte{sample(t, "n3-cr-biologie.xml")},
		Files: []File{
			{Name: "ordonnance signée.png", Data: scan},
			{Name: "notes.txt", ContentType: "text/plain; charset=utf-8", Data: []byte("ligne 1\r\nligne 2\r\n")},
			{Name: "inconnu.zz9", Data: []byte("x")},
		}}
	c := mustCompose(t, d, fixedOptions())
	m := mustParse(t, c.Data)
	if len(m.Documents) != 1 || len(m.PDFs) != 1 {
		t.Fatalf("documents %d, pdfs %v: the CDA is still packaged", len(m.Documents), m.PDFs)
	}
	var names []string
	for _, a := range m.Attachments {
		names = append(names, a.Name)
	}
	want := []string{XDMFileName, m.PDFs[0], "ordonnance signée.png", "notes.txt", "inconnu.zz9"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Fatalf("attachments %q, want %q", names, want)
	}
	files := m.Attachments[2:]
	if !bytes.Equal(files[0].Data, scan) || files[0].ContentType != "image/png" {
		t.Errorf("png: %d bytes (want %d), type %q", len(files[0].Data), len(scan), files[0].ContentType)
	}
	if string(files[1].Data) != "ligne 1\r\nligne 2\r\n" || !strings.HasPrefix(files[1].ContentType, "text/plain") {
		t.Errorf("txt: %q, type %q", files[1].Data, files[1].ContentType)
	}
	if files[2].ContentType != "application/octet-stream" {
		t.Errorf("unknown extension: type %q, want application/octet-stream", files[2].ContentType)
	}
	if v, _ := headerValue(c.Data, HeaderCodeCDA); v != "11502-2" {
		t.Errorf("X-MSS-CODECDA = %q, want the CDA code only", v)
	}
	if len(c.Warnings) != 0 && strings.Contains(strings.Join(c.Warnings, " "), "simple fichier") {
		t.Errorf("warnings %v: no file here is a CDA", c.Warnings)
	}
}

// A mail without documents can carry files: multipart/mixed, the subject the user's, no XDM prefix
// and no X-MSS-CODECDA (ECO.2.1.3 applies to mails with XDM only).
func TestCompose_filesWithoutDocuments_ECO_2_1_3(t *testing.T) {
	c := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Subject: "Courrier scanné", Text: "Bonjour",
		Files: []File{{Name: "courrier.pdf", Data: []byte("%PDF-1.4 synthetic")}}}, fixedOptions())
	m := mustParse(t, c.Data)
	if m.Subject != "Courrier scanné" || m.XDM != nil || len(m.Attachments) != 1 {
		t.Fatalf("subject %q, xdm %v, attachments %+v", m.Subject, m.XDM != nil, m.Attachments)
	}
	if a := m.Attachments[0]; a.Name != "courrier.pdf" || a.ContentType != "application/pdf" || string(a.Data) != "%PDF-1.4 synthetic" {
		t.Errorf("attachment %+v", a)
	}
	if _, ok := headerValue(c.Data, HeaderCodeCDA); ok {
		t.Error("X-MSS-CODECDA set on a mail without CDA document")
	}
	if !strings.Contains(m.Text, "Bonjour") {
		t.Errorf("text %q", m.Text)
	}
}

// A file that is a CDA is sent as the user asked, with a warning that it is not packaged.
func TestCompose_cdaAsFileWarns(t *testing.T) {
	c := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Text: "x",
		Files: []File{{Name: "cr.xml", Data: sample(t, "n3-cr-biologie.xml")}}}, fixedOptions())
	if !strings.Contains(strings.Join(c.Warnings, " "), `"cr.xml" est un document CDA`) {
		t.Errorf("warnings %v, want one on cr.xml", c.Warnings)
	}
	if _, ok := headerValue(c.Data, HeaderCodeCDA); ok {
		t.Error("a CDA sent as a file sets X-MSS-CODECDA")
	}
}

func TestCompose_refusesBadFiles(t *testing.T) {
	for name, f := range map[string]File{
		"empty name": {Name: "  ", Data: []byte("x")},
		"path":       {Name: "../etc/passwd", Data: []byte("x")},
		"windows":    {Name: `C:\scan.pdf`, Data: []byte("x")},
		"control":    {Name: "a\r\nb.txt", Data: []byte("x")},
		"xdm name":   {Name: "ihe_xdm.ZIP", Data: []byte("x")},
		"bad type":   {Name: "a.txt", ContentType: "text/", Data: []byte("x")},
		"dot dot":    {Name: "..", Data: []byte("x")},
		"only a dot": {Name: ".", Data: []byte("x")},
	} {
		_, err := Compose(&Draft{From: drMartin, To: []Address{drDupont}, Text: "x", Files: []File{f}}, nil)
		if !errors.Is(err, ErrFile) {
			t.Errorf("%s: error %v, want ErrFile", name, err)
		}
	}
}

// Files count in the Mon espace santé size limit.
func TestCompose_filesTooLargeForPatient(t *testing.T) {
	opts := fixedOptions()
	opts.MaxPatientSize = 100000
	d := &Draft{From: drMartin, To: []Address{{Addr: bioPatient}}, Text: "x", Derogation: true,
		Files: []File{{Name: "scan.bin", Data: bytes.Repeat([]byte{1}, 80000)}}}
	if _, err := Compose(d, opts); !errors.Is(err, ErrTooLargeForPatient) {
		t.Errorf("error = %v, want ErrTooLargeForPatient (80 kB base64-encoded is over 100 kB)", err)
	}
}
