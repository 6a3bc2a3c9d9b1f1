package hl7

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestBuildMDM_fixtures writes the MDM of each synthetic fixture and reads it back (CI-SIS volet
// "Transmission LPS de documents CDA reçus par courriel MSSanté", profils-messages.md).
func TestBuildMDM_fixtures(t *testing.T) {
	for _, path := range fixtures {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, h := readFixture(t, path)
			m, out := build(t, data, h)
			checkMDM(t, m, data, h)
			if bytes.Contains(out, []byte("\n")) {
				t.Error("the message contains LF: segments end with CR and values escape line breaks")
			}
		})
	}
}

// TestBuildMDM_corpus writes the MDM of each ANS CI-SIS sample of ../shared/corpus.
func TestBuildMDM_corpus(t *testing.T) {
	dir := testkit.Shared(t, "corpus", "cda")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.EqualFold(filepath.Ext(e.Name()), ".xml") {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			data, h := readFixture(t, filepath.Join(dir, e.Name()))
			m, _ := build(t, data, h)
			checkMDM(t, m, data, h)
		})
	}
}

// checkMDM checks the fields the volet fixes, against the CDA header.
func checkMDM(t *testing.T, m *Message, data []byte, h *cda.Document) {
	t.Helper()
	ev := EventOf(h)
	msh := seg(t, m, "MSH")
	if got, want := msh.Field(9).Rep(0).Comp(2).Sub(1), string(ev); got != want || msh.Value(9, 1) != "MDM" || msh.Value(9, 3) != "MDM_T02" {
		t.Errorf("MSH-9 = %v, want MDM^%s^MDM_T02", msh.Field(9), want)
	}
	if msh.Value(12, 1) != "2.6" || msh.Value(17, 1) != "FRA" || msh.Value(18, 1) != "UNICODE UTF-8" {
		t.Errorf("MSH-12/17/18 = %q %q %q", msh.Value(12, 1), msh.Value(17, 1), msh.Value(18, 1))
	}
	if msh.Value(21, 1) != "1.1" || msh.Value(21, 2) != "CISIS_CDA_HL7_LPS" {
		t.Errorf("MSH-21 = %v, want 1.1^CISIS_CDA_HL7_LPS", msh.Field(21))
	}
	if msh.Value(10, 1) != "MSG-0001" || msh.Value(7, 1) != "20260312153005+0100" {
		t.Errorf("MSH-10, MSH-7 = %q, %q", msh.Value(10, 1), msh.Value(7, 1))
	}
	checkPID(t, seg(t, m, "PID"), h)
	if pv1 := seg(t, m, "PV1"); pv1.Value(2, 1) != "N" {
		t.Errorf("PV1-2 = %q, want N", pv1.Value(2, 1))
	}
	orc, wantORC, wantStatus := seg(t, m, "ORC"), "NW", "F"
	if ev == EventReplace {
		wantORC, wantStatus = "RO", "C"
	}
	if orc.Value(1, 1) != wantORC {
		t.Errorf("ORC-1 = %q, want %q", orc.Value(1, 1), wantORC)
	}
	txa := seg(t, m, "TXA")
	if txa.Value(2, 1) != h.Code.Code || txa.Value(3, 1) != "TEXT" || txa.Value(17, 1) != "AU" {
		t.Errorf("TXA-2/3/17 = %q %q %q", txa.Value(2, 1), txa.Value(3, 1), txa.Value(17, 1))
	}
	checkEI(t, "TXA-12", txa, 12, h.ID)
	if parent, ok := h.Replaces(); ok {
		checkEI(t, "TXA-13", txa, 13, parent)
	} else if len(txa.Field(13)) != 0 {
		t.Errorf("TXA-13 = %v for an original document", txa.Field(13))
	}
	obx := m.All("OBX")
	if len(obx) != 6 {
		t.Fatalf("%d OBX, want 6 (CDA, mail, 4 restriction metadata)", len(obx))
	}
	if o := obx[0]; o.Value(1, 1) != "1" || o.Value(2, 1) != "ED" || o.Value(3, 1) != h.Code.Code ||
		o.Value(5, 2) != "text" || o.Value(5, 3) != "XML" || o.Value(5, 4) != "Base64" || o.Value(11, 1) != wantStatus {
		t.Errorf("OBX 1 = %v %v %v …%v", o.Field(2), o.Field(3), o.Field(11), o.Field(5).Rep(0)[:4])
	}
	if got := b64(t, obx[0].Value(5, 5)); !bytes.Equal(got, data) {
		t.Error("OBX-5.5 of OBX 1 does not decode to the CDA bytes")
	}
	checkMail(t, m, obx[1])
	for i, code := range []string{"MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REP_LEGAUX", "MODIF_CONF_CODE"} {
		o := obx[2+i]
		if o.Value(2, 1) != "CWE" || o.Value(3, 1) != code || o.Value(3, 3) != "MetaDMPMSS" || o.Value(5, 1) != "N" || o.Value(11, 1) != "F" {
			t.Errorf("OBX %d = %v %v %v, want CWE %s N", 3+i, o.Field(2), o.Field(3), o.Field(5), code)
		}
	}
	// Order: OBX 1, then its PRT, then OBX 2.
	var names []string
	for _, s := range m.Segments {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, " "), "MSH EVN PID PV1 ORC OBR TXA OBX PRT PRT PRT PRT OBX OBX OBX OBX OBX"; got != want {
		t.Errorf("segments = %s, want %s", got, want)
	}
}

func checkEI(t *testing.T, name string, s Segment, n int, id cda.II) {
	t.Helper()
	want := []string{id.Extension, "", id.Root, "ISO"}
	if id.Extension == "" {
		want = []string{id.Root, "", "", ""}
	}
	got := []string{s.Value(n, 1), s.Value(n, 2), s.Value(n, 3), s.Value(n, 4)}
	if strings.Join(got, "^") != strings.Join(want, "^") {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}

// checkPID: PID-3 equals recordTarget/patientRole/id, every id with its assigning authority.
func checkPID(t *testing.T, pid Segment, h *cda.Document) {
	t.Helper()
	var want []cda.II
	for _, id := range h.Patient.IDs {
		if id.Extension != "" {
			want = append(want, id)
		}
	}
	f := pid.Field(3)
	if len(f) != len(want) {
		t.Fatalf("PID-3 has %d repetitions, want %d (%v)", len(f), len(want), want)
	}
	for i, id := range want {
		r := f.Rep(i)
		if r.Comp(1).Sub(1) != id.Extension || r.Comp(4).Sub(2) != id.Root || r.Comp(4).Sub(3) != "ISO" {
			t.Errorf("PID-3[%d] = %v, want %s under %s", i, r, id.Extension, id.Root)
		}
		if _, isINS := insNamespaces[insOID(id.Root)]; isINS != (r.Comp(5).Sub(1) == "INS") {
			t.Errorf("PID-3[%d] type = %q for root %s", i, r.Comp(5).Sub(1), id.Root)
		}
	}
	if want := map[bool]string{true: "VALI"}[h.Patient.Identity.Qualified() == nil]; pid.Value(32, 1) != want {
		t.Errorf("PID-32 = %q, want %q", pid.Value(32, 1), want)
	}
	if h.Patient.Identity.BirthName != "" && pid.Value(5, 1) != h.Patient.Identity.BirthName {
		t.Errorf("PID-5.1 = %q, want %q", pid.Value(5, 1), h.Patient.Identity.BirthName)
	}
}

// checkMail: OBX 2 is the mail (Message-ID, subject, body), the PRT follow OBX 1.
func checkMail(t *testing.T, m *Message, o Segment) {
	t.Helper()
	mail := testMail()
	if o.Value(1, 1) != "2" || o.Value(2, 1) != "ED" || o.Value(3, 1) != mail.MessageID || o.Value(3, 2) != mail.Subject || o.Value(11, 1) != "F" {
		t.Errorf("OBX 2 = %v %v %v", o.Field(2), o.Field(3), o.Field(11))
	}
	if got := string(b64(t, o.Value(5, 5))); got != mail.Body {
		t.Errorf("OBX 2 body = %q, want %q", got, mail.Body)
	}
	prt := m.All("PRT")
	want := [][3]string{
		{"SB", "jeanne.essai@hopital.essai.mssante.fr", "899700200016"},
		{"RCT", "dpi@ch-essai.mssante.fr", ""},
		{"RCT", "paul.fictif@ch-essai.mssante.fr", ""},
		{"REPLY", "secretariat@hopital.essai.mssante.fr", ""},
	}
	for i, w := range want {
		p := prt[i]
		if p.Value(2, 1) != "UC" || p.Value(4, 1) != w[0] || p.Value(4, 3) != "participation" ||
			p.Value(15, 3) != "X.400" || p.Value(15, 4) != w[1] || p.Value(5, 1) != w[2] {
			t.Errorf("PRT %d = %v %v %v, want %v", i, p.Field(4), p.Field(5), p.Field(15), w)
		}
	}
	if sb := prt[0]; sb.Value(5, 13) != "IDNPS" || sb.Get(5, 0, 9, 2) != oidIDNPS || sb.Value(5, 2) != "ESSAI" {
		t.Errorf("PRT SB PRT-5 = %v", sb.Field(5))
	}
	if rct := prt[1]; rct.Value(8, 1) != "Service de cardiologie" || rct.Value(8, 7) != "IDNST" || rct.Value(8, 10) != "1123456789" {
		t.Errorf("PRT RCT PRT-8 = %v", rct.Field(8))
	}
}

// TestBuildMDM_replace: a CDA with relatedDocument RPLC gives MDM^T10 with TXA-13 = the parent
// (evenements-declenchants.md).
func TestBuildMDM_replace(t *testing.T) {
	data, _ := readFixture(t, "../cda/testdata/n3-cr-biologie.xml")
	parent := cda.II{Root: "1.2.250.1.213.1.1.9.77", Extension: "CR-2025-0001"}
	data = replacing(t, data, parent)
	h, err := cda.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if EventOf(h) != EventReplace {
		t.Fatalf("EventOf = %v, want T10", EventOf(h))
	}
	m, _ := build(t, data, h)
	checkMDM(t, m, data, h)
	if got := seg(t, m, "TXA").Value(13, 1); got != "CR-2025-0001" {
		t.Errorf("TXA-13.1 = %q", got)
	}
}

// TestBuildMDM_parsesCDA: without a Header, BuildMDM reads the CDA itself.
func TestBuildMDM_parsesCDA(t *testing.T) {
	data, h := readFixture(t, "../cda/testdata/n3-cr-imagerie.xml")
	a, err := BuildMDM(&Document{CDA: data, Header: h, Mail: testMail()}, testEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildMDM(&Document{CDA: data, Mail: testMail()}, testEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("BuildMDM without Header differs from BuildMDM with the parsed header")
	}
}

// TestBuildMDM_golden: the writing is deterministic (injected control id and time); the golden
// file is reviewed in the diff (-update rewrites it).
func TestBuildMDM_golden(t *testing.T) {
	data, h := readFixture(t, "../cda/testdata/n3-cr-imagerie.xml")
	d := &Document{CDA: data, Header: h, Mail: testMail(), Restrictions: Restrictions{InvisibleToPatient: true}}
	out, err := BuildMDM(d, testEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	// The golden file shows the segments one per line, the base64 of the CDA cut.
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\r"), "\r") {
		if strings.HasPrefix(line, "OBX|1|") {
			if i := strings.Index(line, "Base64^"); i >= 0 {
				line = line[:i+len("Base64^")+40] + "…" + line[strings.LastIndex(line, "||||||"):]
			}
		}
		b.WriteString(line + "\n")
	}
	golden := filepath.Join("testdata", "n3-cr-imagerie.mdm.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("BuildMDM = \n%s\nwant\n%s", b.String(), want)
	}
}

// TestBuildMDM_missing: the values the profile requires are checked, every one named.
func TestBuildMDM_missing(t *testing.T) {
	data, h := readFixture(t, "../cda/testdata/n3-cr-imagerie.xml")
	tests := []struct {
		name string
		doc  *Document
		env  Envelope
		want string
	}{
		{"no CDA", &Document{Mail: testMail()}, testEnvelope(), "the CDA document"},
		{"no control id", &Document{CDA: data, Header: h, Mail: testMail()}, Envelope{Time: testTime}, "MSH-10"},
		{"no time", &Document{CDA: data, Header: h, Mail: testMail()}, Envelope{ControlID: "1"}, "MSH-7"},
		{"no sender", &Document{CDA: data, Header: h}, testEnvelope(), "PRT SB"},
		{"no patient id", &Document{CDA: data, Header: &cda.Document{ID: h.ID}, Mail: testMail()}, testEnvelope(), "PID-3"},
		{"no document id", &Document{CDA: data, Header: &cda.Document{Patient: h.Patient}, Mail: testMail()}, testEnvelope(), "TXA-12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildMDM(tt.doc, tt.env)
			if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("BuildMDM = %v, want ErrMissing naming %q", err, tt.want)
			}
		})
	}
}

// TestBuildMDM_restrictions: the four metadata are written Y/N in the volet's order.
func TestBuildMDM_restrictions(t *testing.T) {
	data, h := readFixture(t, "../cda/testdata/n3-cr-imagerie.xml")
	r := Restrictions{HiddenFromProfessionals: true, InvisibleToLegalGuardians: true}
	out, err := BuildMDM(&Document{CDA: data, Header: h, Mail: testMail(), Restrictions: r}, testEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range m.All("OBX")[2:] {
		got = append(got, o.Value(3, 1)+"="+o.Value(5, 1))
	}
	if want := "MASQUE_PS=Y INVISIBLE_PATIENT=N INVISIBLE_REP_LEGAUX=Y MODIF_CONF_CODE=N"; strings.Join(got, " ") != want {
		t.Errorf("restrictions = %v, want %s", got, want)
	}
}

// TestBuildMDM_injection: delimiters and line breaks in outside values (the CDA of a sender, the
// subject of a mail) stay inside their field: no segment, field or component is added, and the
// value reads back unchanged.
func TestBuildMDM_injection(t *testing.T) {
	data, _ := readFixture(t, "../cda/testdata/n3-cr-imagerie.xml")
	evilID := `X|Y^Z&W~V\U`
	data = bytes.Replace(data, []byte(`extension="CRIMG-2025-0001"`), []byte(`extension="X|Y^Z&amp;W~V\U"`), 1)
	h, err := cda.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID.Extension != evilID {
		t.Fatalf("fixture edit: id extension = %q", h.ID.Extension)
	}
	d := &Document{CDA: data, Header: h, Mail: testMail()}
	d.Mail.Subject = "Objet\r\nMSH|^~\\&|EVIL\rPID|||1"
	out, err := BuildMDM(d, testEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Segments) != 17 {
		t.Errorf("%d segments, want 17", len(m.Segments))
	}
	txa := seg(t, m, "TXA")
	if txa.Value(12, 1) != evilID || txa.Value(12, 3) != h.ID.Root || len(txa.Fields) != 17 {
		t.Errorf("TXA-12 = %v (%d fields)", txa.Field(12), len(txa.Fields))
	}
	if got := m.All("OBX")[1].Value(3, 2); got != d.Mail.Subject {
		t.Errorf("OBX 2 subject = %q, want %q", got, d.Mail.Subject)
	}
}

// TestRestrictionsOf: the XDS masking codes of the XDM metadata give the restriction OBX.
func TestRestrictionsOf(t *testing.T) {
	got := RestrictionsOf([]string{"N", "MASQUE_PS", "invisible_rep_legal"})
	if want := (Restrictions{HiddenFromProfessionals: true, InvisibleToLegalGuardians: true}); got != want {
		t.Errorf("RestrictionsOf = %+v, want %+v", got, want)
	}
	if got := RestrictionsOf([]string{"INVISIBLE_PATIENT"}); !got.InvisibleToPatient || got.HiddenFromProfessionals {
		t.Errorf("RestrictionsOf(INVISIBLE_PATIENT) = %+v", got)
	}
	if RestrictionsOf(nil) != (Restrictions{}) {
		t.Error("no code must give no restriction")
	}
}
