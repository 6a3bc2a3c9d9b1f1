package cda

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"

	"github.com/mssante/mssante/ins"
)

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func parseSample(t testing.TB, name string) *Document {
	t.Helper()
	d, err := Parse(readSample(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// The header fields feed X-MSS-CODECDA (ECO.2.4.1), X-MSS-INS (ECO.2.4.2), the XDM metadata
// (ECO.2.1.2) and the PDF name (ECO.2.1.6).
func TestParse_samples(t *testing.T) {
	tests := []struct {
		file            string
		level           Level
		code, title     string
		created         string // RFC 3339
		matricule       string
		birthName, used string
		first, given    string
		birthDate       string
		sex             ins.Sex
		birthplace      string
		sections        int
		actDate         string
		facility        string
		practice        string
		qualified       bool
	}{
		{"n3-cr-imagerie.xml", N3, "18748-4", "Compte rendu de scanner thoracique", "2025-03-12T14:30:00+01:00",
			"285077505612370", "BÉRANGER", "", "Éloïse", "Éloïse Marie-Noëlle", "1985-07-12", ins.SexFemale, "75056",
			4, "20250312140500+0100", "SA01", "ETABLISSEMENT", true},
		{"n3-lettre-liaison.xml", N3, "11490-0", "Lettre de liaison de sortie", "2025-02-20T18:00:00+01:00",
			"291121305508744", "LEFÈVRE", "MARTIN-DUPRÉ", "Françoise", "Françoise Anaïs", "1991-12-03", ins.SexFemale, "13055",
			3, "20250214", "SA01", "ETABLISSEMENT", true},
		{"n3-cr-biologie.xml", N3, "11502-2", "Compte rendu d'examens de biologie médicale", "2025-03-10T07:15:00+01:00",
			"162036912304592", "CHÂTEAU", "", "Jérôme", "Jérôme", "1962-03-15", ins.SexMale, "69123",
			2, "20250310063000+0100", "SA29", "AMBULATOIRE", true},
		{"n1-note-consultation-pdf.xml", N1, "11488-4", "Note de consultation", "2025-03-05T10:10:00+01:00",
			"178059935011292", "DAOUDI", "", "Noël", "Noël Karim", "1978-05-21", ins.SexMale, "99350",
			0, "20250305093000+0100", "SA01", "ETABLISSEMENT", true},
		{"n3-sans-ins.xml", N3, "11488-4", "Note de consultation sans INS", "2025-03-05T10:30:00+01:00",
			"", "ROUSSEAU", "", "Clémence", "Clémence", "2004-01-17", ins.SexFemale, "",
			1, "20250305", "SA01", "AMBULATOIRE", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := parseSample(t, tt.file)
			if len(d.Warnings) != 0 {
				t.Errorf("warnings on a clean sample: %v", d.Warnings)
			}
			if d.Level != tt.level || d.Code.Code != tt.code || d.Title != tt.title {
				t.Errorf("level, code, title = %v, %q, %q; want %v, %q, %q", d.Level, d.Code.Code, d.Title, tt.level, tt.code, tt.title)
			}
			if d.Code.CodeSystem != "2.16.840.1.113883.6.1" || d.Code.CodeSystemName != "LOINC" || d.Code.DisplayName == "" {
				t.Errorf("code = %+v", d.Code)
			}
			if got := d.EffectiveTime.Time.Format(time.RFC3339); got != tt.created {
				t.Errorf("effectiveTime = %s, want %s", got, tt.created)
			}
			id := d.Patient.Identity
			if id.INS.Matricule.String() != tt.matricule {
				t.Errorf("INS = %q, want %q", id.INS.Matricule, tt.matricule)
			}
			if tt.matricule != "" && id.INS.OID != ins.OIDTest {
				t.Errorf("INS OID = %q", id.INS.OID)
			}
			if id.BirthName != tt.birthName || id.UsedName != tt.used || id.FirstName != tt.first || id.GivenNames != tt.given {
				t.Errorf("names = %q/%q/%q/%q, want %q/%q/%q/%q", id.BirthName, id.UsedName, id.FirstName, id.GivenNames,
					tt.birthName, tt.used, tt.first, tt.given)
			}
			if got := id.BirthDate.Format(time.DateOnly); got != tt.birthDate || id.BirthDate.Location() != time.UTC {
				t.Errorf("birth date = %s (%v), want %s UTC", got, id.BirthDate.Location(), tt.birthDate)
			}
			if id.Sex != tt.sex || id.BirthplaceCode != tt.birthplace {
				t.Errorf("sex, birthplace = %q, %q; want %q, %q", id.Sex, id.BirthplaceCode, tt.sex, tt.birthplace)
			}
			if err := id.Qualified(); (err == nil) != tt.qualified {
				t.Errorf("Qualified() = %v, want qualified=%v", err, tt.qualified)
			}
			if len(d.Sections) != tt.sections {
				t.Errorf("%d top sections, want %d", len(d.Sections), tt.sections)
			}
			if got := d.ActDate().Raw; got != tt.actDate {
				t.Errorf("act date = %q, want %q", got, tt.actDate)
			}
			if d.HealthcareFacilityType.Code != tt.facility {
				t.Errorf("facility type = %+v", d.HealthcareFacilityType)
			}
			if len(d.ServiceEvents) != 1 || d.ServiceEvents[0].PracticeSetting.Code != tt.practice || d.ServiceEvents[0].Performer == nil {
				t.Errorf("service events = %+v", d.ServiceEvents)
			}
			checkCommonHeader(t, d)
		})
	}
}

func checkCommonHeader(t *testing.T, d *Document) {
	t.Helper()
	if len(d.TemplateIDs) < 2 || d.TemplateIDs[1].Root != "1.2.250.1.213.1.1.1.1" {
		t.Errorf("templateIds = %v", d.TemplateIDs)
	}
	if d.ID.Root == "" || d.ID.Extension == "" || d.SetID.Extension != d.ID.Extension+"-set" {
		t.Errorf("id, setId = %v, %v", d.ID, d.SetID)
	}
	if d.Confidentiality.Code != "N" || d.Language != "fr-FR" || d.Version != "1" {
		t.Errorf("confidentiality, language, version = %v, %q, %q", d.Confidentiality, d.Language, d.Version)
	}
	if len(d.Authors) != 1 || d.Authors[0].Person == nil || d.Authors[0].Organization == nil {
		t.Fatalf("authors = %+v", d.Authors)
	}
	a := d.Authors[0]
	if a.Person.ID.Root != "1.2.250.1.71.4.2.1" || !strings.HasPrefix(a.Person.ID.Extension, "8") ||
		a.Person.Name.Prefix == "" || a.Person.Name.Family == "" || len(a.Person.Name.Given) != 1 ||
		a.Person.Specialty.Code == "" || a.Person.Organization != a.Organization || a.Time.IsZero() {
		t.Errorf("author = %+v, person %+v", a, a.Person)
	}
	if d.Custodian == nil || d.Custodian.Name == "" || d.Custodian.ID.Root != "1.2.250.1.71.4.2.2" ||
		!strings.Contains(d.Custodian.Addr, "13005 MARSEILLE") || len(d.Custodian.Telecom) != 1 {
		t.Errorf("custodian = %+v", d.Custodian)
	}
	if d.LegalAuthenticator == nil || d.LegalAuthenticator.Name.Family != a.Person.Name.Family || d.LegalAuthenticationTime.IsZero() {
		t.Errorf("legal authenticator = %+v at %v", d.LegalAuthenticator, d.LegalAuthenticationTime)
	}
}

func TestParse_patientIDs(t *testing.T) {
	d := parseSample(t, "n3-cr-imagerie.xml")
	want := []II{{"1.2.250.1.213.1.4.10", "285077505612370"}, {"1.2.3.4.5.6.7.8.9", "IPP-000451"}}
	if len(d.Patient.IDs) != 2 || d.Patient.IDs[0] != want[0] || d.Patient.IDs[1] != want[1] {
		t.Errorf("IDs = %v", d.Patient.IDs)
	}
	if d.Patient.Name.Family != "BÉRANGER" || len(d.Patient.Name.Given) != 1 || d.Patient.Name.Given[0] != "Éloïse" {
		t.Errorf("display name = %+v", d.Patient.Name)
	}
	if d.Patient.Gender.Code != "F" || d.Patient.BirthTime.Raw != "19850712" {
		t.Errorf("gender, birth time = %v, %v", d.Patient.Gender, d.Patient.BirthTime)
	}
	// ECO.3.1.5: a qualified INS gives the patient mailbox.
	addr, err := d.Patient.Identity.PatientAddress("")
	if err != nil || addr != "285077505612370@patient.mssante.fr" {
		t.Errorf("PatientAddress = %q, %v", addr, err)
	}
	// Without an INS, the IPP is kept and not read as an INS (ECO.2.2.6: no address).
	d = parseSample(t, "n3-sans-ins.xml")
	if len(d.Patient.IDs) != 1 || d.Patient.IDs[0].Extension != "IPP-778812" || !d.Patient.Identity.INS.Matricule.IsZero() {
		t.Errorf("IDs = %v, INS = %v", d.Patient.IDs, d.Patient.Identity.INS)
	}
	if _, err := d.Patient.Identity.PatientAddress(""); !errors.Is(err, ins.ErrNotQualified) {
		t.Errorf("PatientAddress without INS: %v", err)
	}
}

// variant returns the sample with replacements applied, failing when one does not apply.
func variant(t *testing.T, name string, pairs ...string) []byte {
	t.Helper()
	s := string(readSample(t, name))
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%s does not contain %q", name, pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return []byte(s)
}

// ECO.2.4.2: a wrong key is kept and reported, and the identity is then not qualified.
func TestParse_wrongINSKeyWarns(t *testing.T) {
	d, err := Parse(variant(t, "n3-cr-imagerie.xml", `extension="285077505612370"`, `extension="285077505612371"`))
	if err != nil {
		t.Fatal(err)
	}
	ke := d.INSKeyError()
	if ke == nil || ke.Matricule != "285077505612371" || ke.Want != 70 {
		t.Fatalf("INSKeyError = %v; warnings %v", ke, d.Warnings)
	}
	if d.Patient.Identity.INS.Matricule.String() != "285077505612371" {
		t.Errorf("matricule not kept: %q", d.Patient.Identity.INS.Matricule)
	}
	if err := d.Patient.Identity.Qualified(); !errors.Is(err, ins.ErrKey) {
		t.Errorf("Qualified() = %v, want ErrKey", err)
	}
}

func TestParse_legacyINSWarns(t *testing.T) {
	d, err := Parse(variant(t, "n3-cr-imagerie.xml", `root="1.2.250.1.213.1.4.10"`, `root="1.2.250.1.213.1.4.2"`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Patient.Identity.INS.OID != ins.OIDCalculated || !hasWarning(d, ErrLegacyINS) {
		t.Errorf("INS %v, warnings %v", d.Patient.Identity.INS, d.Warnings)
	}
	if d.Patient.Identity.Qualified() == nil {
		t.Error("a legacy INS-C is qualified")
	}
}

func TestParse_unknownRootIsNotINS(t *testing.T) {
	d, err := Parse(variant(t, "n3-cr-imagerie.xml", `root="1.2.250.1.213.1.4.10"`, `root="1.2.250.1.213.1.4.13"`))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Patient.Identity.INS.Matricule.IsZero() || d.Patient.IDs[0].Root != "1.2.250.1.213.1.4.13" {
		t.Errorf("INS %v from an unknown root; IDs %v", d.Patient.Identity.INS, d.Patient.IDs)
	}
}

func TestParse_missingQualifiersFallBack(t *testing.T) {
	d, err := Parse(variant(t, "n3-cr-imagerie.xml",
		`<family qualifier="BR">BÉRANGER</family>`, `<family>BÉRANGER</family>`,
		`<given qualifier="BR">Éloïse</given>`, ``,
		`<given qualifier="CL">Éloïse</given>`, ``))
	if err != nil {
		t.Fatal(err)
	}
	id := d.Patient.Identity
	if id.BirthName != "BÉRANGER" || id.FirstName != "Éloïse" || id.GivenNames != "Éloïse Marie-Noëlle" {
		t.Errorf("fallback names = %q %q %q", id.BirthName, id.FirstName, id.GivenNames)
	}
	if n := countWarnings(d, ErrMissing); n != 2 {
		t.Errorf("%d ErrMissing warnings, want 2 (BR family and BR given): %v", n, d.Warnings)
	}
}

func TestParse_warnings(t *testing.T) {
	d, err := Parse(variant(t, "n3-sans-ins.xml",
		`<title>Note de consultation sans INS</title>`, ``,
		`<effectiveTime value="202503051030"/>`, `<effectiveTime value="2025-03-05"/>`,
		`<administrativeGenderCode code="F"`, `<administrativeGenderCode code="UN"`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Title != "" || !hasWarning(d, ErrMissing) || !hasWarning(d, ErrTime) {
		t.Errorf("title %q, warnings %v", d.Title, d.Warnings)
	}
	if d.EffectiveTime.Raw != "2025-03-05" || !d.EffectiveTime.IsZero() {
		t.Errorf("unreadable time = %+v", d.EffectiveTime)
	}
	if d.Patient.Identity.Sex != ins.SexUnknown || d.Patient.Gender.Code != "UN" {
		t.Errorf("sex = %q, gender %v", d.Patient.Identity.Sex, d.Patient.Gender)
	}
}

func hasWarning(d *Document, target error) bool { return countWarnings(d, target) > 0 }

func countWarnings(d *Document, target error) int {
	n := 0
	for _, w := range d.Warnings {
		if errors.Is(w, target) {
			n++
		}
	}
	return n
}

func TestParse_malformed(t *testing.T) {
	tests := []struct {
		file string
		want error
	}{
		{"doctype-entity.xml", ErrDTD},
		{"truncated.xml", ErrMalformed},
		{"no-patient.xml", ErrNoPatient},
		{"not-cda.xml", ErrNotCDA},
		{"wrong-namespace.xml", ErrNotCDA},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d, err := Parse(readSample(t, filepath.Join("malformed", tt.file)))
			if !errors.Is(err, tt.want) || d != nil {
				t.Errorf("Parse = %v, %v; want %v", d, err, tt.want)
			}
		})
	}
	for _, in := range []string{"<!ENTITY x \"y\"><ClinicalDocument/>", "<!ATTLIST a b CDATA #IMPLIED>\n<ClinicalDocument/>"} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrDTD) {
			t.Errorf("Parse(%q) = %v, want ErrDTD", in, err)
		}
	}
	for _, in := range []string{"", "   ", "plain text", "<?xml version=\"1.0\"?>", "<?xml version=\"1.0\" encoding=\"EBCDIC\"?><ClinicalDocument/>"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

func TestRead_sizeBound(t *testing.T) {
	data := readSample(t, "n3-cr-biologie.xml")
	if _, err := ReadOptions(bytes.NewReader(data), &Options{MaxSize: int64(len(data))}); err != nil {
		t.Errorf("input of exactly MaxSize refused: %v", err)
	}
	_, err := ReadOptions(bytes.NewReader(data), &Options{MaxSize: int64(len(data)) - 1})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized input: %v, want ErrTooLarge", err)
	}
}

func TestParse_deepNarrativeRefused(t *testing.T) {
	deep := strings.Repeat("<content>", 5000) + "x" + strings.Repeat("</content>", 5000)
	data := variant(t, "n3-sans-ins.xml", "Examen cardio-pulmonaire normal.", deep)
	if _, err := Parse(data); !errors.Is(err, ErrTooLarge) {
		t.Errorf("deep narrative: %v, want ErrTooLarge", err)
	}
}

func TestParse_byteOrderMarkAndLatin1(t *testing.T) {
	data := readSample(t, "n3-sans-ins.xml")
	if d, err := Parse(append([]byte("\xef\xbb\xbf"), data...)); err != nil || d.Title == "" {
		t.Errorf("with a BOM: %v", err)
	}
	latin := strings.Replace(string(data), `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1)
	latin = strings.ReplaceAll(latin, "Clémence", "Cl\xe9mence")
	d, err := Parse([]byte(latin))
	if err != nil || d.Patient.Identity.FirstName != "Clémence" {
		t.Errorf("ISO-8859-1: %v, first name %q", err, d.Patient.Identity.FirstName)
	}
}

// ECO.2.1.5: the narrative of every section is transcribed faithfully, so every narrative kind
// and the table structure must come through.
func TestParse_narrativeTree(t *testing.T) {
	d := parseSample(t, "n3-cr-imagerie.xml")
	results := d.Sections[2]
	if results.Title != "Résultats" || len(results.Sections) != 2 || results.Sections[1].Title != "Mesures" {
		t.Fatalf("nested sections = %+v", results)
	}
	if results.Code.Code != "18782-3" || d.Sections[0].ID.Root != "1.2.3.4.5.6.7.8.9.100.1" {
		t.Errorf("section code, id = %v, %v", results.Code, d.Sections[0].ID)
	}
	count := map[NodeKind]int{}
	var walk func(n *Node)
	walk = func(n *Node) {
		count[n.Kind]++
		for _, c := range n.Children {
			walk(c)
		}
	}
	var walkSections func([]Section)
	walkSections = func(ss []Section) {
		for _, s := range ss {
			if s.Text != nil {
				walk(s.Text)
			}
			walkSections(s.Sections)
		}
	}
	walkSections(d.Sections)
	for k := NodeText; k <= NodeMultiMedia; k++ {
		if count[k] == 0 {
			t.Errorf("no node of kind %d in the imaging sample", k)
		}
	}
	text := results.Text.PlainText()
	if !strings.Contains(text, "Œdème péri-lésionnel discret.") || !strings.Contains(text, "Pas d'adénopathie axillaire.") {
		t.Errorf("folded text = %q", text)
	}
	table := results.Sections[1].Text.Children[0]
	if table.Kind != NodeTable || table.Children[0].Kind != NodeCaption || len(table.Children) != 4 {
		t.Fatalf("table = %+v", table)
	}
	head := table.Children[1].Children[0]
	if len(head.Children) != 3 || head.Children[1].ColSpan != 2 || head.Children[1].Kind != NodeHeaderCell {
		t.Errorf("thead row = %+v", head.Children)
	}
	if cell := table.Children[2].Children[0].Children[3]; cell.RowSpan != 2 || cell.Children[0].Text != "Stable" {
		t.Errorf("rowspan cell = %+v", cell)
	}
	list := d.Sections[1].Text.Children[0]
	if list.Kind != NodeList || !list.Ordered || len(list.Children) != 2 || list.Children[1].Children[1].Kind != NodeBreak {
		t.Errorf("ordered list = %+v", list)
	}
	link := results.Text.Children[3].Children[1]
	if link.Kind != NodeLink || !strings.HasPrefix(link.Href, "https://") {
		t.Errorf("link = %+v", link)
	}
	if mm := results.Text.Children[2]; mm.Kind != NodeMultiMedia || mm.Href != "img1" {
		t.Errorf("renderMultiMedia = %+v", mm)
	}
}

func TestParse_longTable(t *testing.T) {
	d := parseSample(t, "n3-lettre-liaison.xml")
	table := d.Sections[1].Text.Children[1]
	if table.Kind != NodeTable {
		t.Fatalf("second block = %+v", table)
	}
	body := table.Children[2]
	if body.Kind != NodeTBody || len(body.Children) != 64 {
		t.Errorf("tbody has %d rows, want 64", len(body.Children))
	}
	for _, row := range body.Children {
		if len(row.Children) != 4 {
			t.Fatalf("row with %d cells", len(row.Children))
		}
	}
}

// ECO.2.1.5: for N1 the PDF is the embedded one, byte for byte.
func TestParse_nonXMLBody(t *testing.T) {
	d := parseSample(t, "n1-note-consultation-pdf.xml")
	if d.Body == nil || d.Body.MediaType != "application/pdf" || d.Body.Representation != "B64" {
		t.Fatalf("body = %+v", d.Body)
	}
	if !bytes.HasPrefix(d.Body.Data, []byte("%PDF-")) || !bytes.Contains(d.Body.Data, []byte("%%EOF")) {
		t.Errorf("body is not a whole PDF: %q…", d.Body.Data[:min(len(d.Body.Data), 16)])
	}
	if d.Sections != nil {
		t.Errorf("N1 with sections")
	}
	bad, err := Parse(variant(t, "n1-note-consultation-pdf.xml", `representation="B64">`, `representation="B64">%%%`))
	if err != nil || !hasWarning(bad, ErrBody) {
		t.Errorf("bad base64: %v, warnings %v", err, bad.Warnings)
	}
}

func TestParseTS(t *testing.T) {
	paris := Paris()
	tests := []struct {
		raw     string
		want    time.Time
		zone    bool
		prec    int
		wantErr bool
	}{
		{"2019", time.Date(2019, 1, 1, 0, 0, 0, 0, paris), false, 4, false},
		{"201907", time.Date(2019, 7, 1, 0, 0, 0, 0, paris), false, 6, false},
		{"19790328", time.Date(1979, 3, 28, 0, 0, 0, 0, paris), false, 8, false},
		{"201912031330", time.Date(2019, 12, 3, 13, 30, 0, 0, paris), false, 12, false},
		{"20191203133000+0100", time.Date(2019, 12, 3, 12, 30, 0, 0, time.UTC), true, 14, false},
		{"20190715133000.25-0230", time.Date(2019, 7, 15, 16, 0, 0, 250e6, time.UTC), true, 14, false},
		{"20190715133000", time.Date(2019, 7, 15, 11, 30, 0, 0, time.UTC), false, 14, false}, // CEST
		{"", time.Time{}, false, 0, false},
		{"20240106113623+100", time.Time{}, false, 14, true},
		{"20190230", time.Time{}, false, 8, true},
		{"2019-03-28", time.Time{}, false, 4, true},
		{"201912031", time.Time{}, false, 9, true},
		{"20191203246000", time.Time{}, false, 14, true},
	}
	for _, tt := range tests {
		ts, err := ParseTS(tt.raw)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrTime)) {
			t.Errorf("ParseTS(%q) error = %v", tt.raw, err)
		}
		if !ts.Time.Equal(tt.want) || ts.HasZone != tt.zone || ts.Raw != tt.raw || ts.Precision() != tt.prec {
			t.Errorf("ParseTS(%q) = %+v (precision %d), want %v zone=%v precision %d", tt.raw, ts, ts.Precision(), tt.want, tt.zone, tt.prec)
		}
	}
}

// largeSample repeats the sections of the discharge letter to about 1 MiB.
func largeSample(tb testing.TB) []byte {
	tb.Helper()
	s := string(readSample(tb, "n3-lettre-liaison.xml"))
	open := strings.Index(s, "<structuredBody>") + len("<structuredBody>")
	end := strings.Index(s, "</structuredBody>")
	sections := s[open:end]
	var b strings.Builder
	b.WriteString(s[:open])
	for b.Len() < 1<<20 {
		b.WriteString(sections)
	}
	b.WriteString(s[end:])
	return []byte(b.String())
}

func TestParse_largeSample(t *testing.T) {
	d, err := Parse(largeSample(t))
	if err != nil || len(d.Sections) < 3*60 {
		t.Fatalf("large sample: %v, %d sections", err, len(d.Sections))
	}
}

func TestTS_String(t *testing.T) {
	for raw, want := range map[string]string{
		"2019": "2019", "201907": "2019-07", "19790328": "1979-03-28",
		"20191203133000+0100": "2019-12-03T13:30:00+01:00", "201912031330": "2019-12-03T13:30:00+01:00",
		"2019-12": "2019-12", "": "",
	} {
		ts, _ := ParseTS(raw)
		if got := ts.String(); got != want {
			t.Errorf("ParseTS(%q).String() = %q, want %q", raw, got, want)
		}
	}
}

func TestName_String(t *testing.T) {
	n := Name{Prefix: "Dr", Given: []string{"Hélène", "Marie"}, Family: "MARCHAND", Suffix: "PhD"}
	if got := n.String(); got != "Dr Hélène Marie MARCHAND PhD" {
		t.Errorf("Name.String() = %q", got)
	}
	if got := (Name{Family: "ROUSSEAU"}).String(); got != "ROUSSEAU" {
		t.Errorf("Name.String() = %q", got)
	}
}

func TestParse_titleWithMarkup(t *testing.T) {
	d, err := Parse(variant(t, "n3-sans-ins.xml", "<title>Note de consultation sans INS</title>",
		"<title>Note <b>de</b>\n  consultation</title>"))
	if err != nil || d.Title != "Note de consultation" {
		t.Errorf("title = %q, %v", d.Title, err)
	}
}

func TestParse_nonXMLBodyRepresentations(t *testing.T) {
	d, err := Parse(variant(t, "n1-note-consultation-pdf.xml", `mediaType="application/pdf" representation="B64">`,
		`mediaType="text/plain" representation="TXT">Compte rendu en texte.<!--`, `      </text>`, `--></text>`))
	if err != nil || d.Body.MediaType != "text/plain" || string(d.Body.Data) != "Compte rendu en texte." {
		t.Fatalf("TXT body = %+v, %v", d.Body, err)
	}
	d, err = Parse(variant(t, "n1-note-consultation-pdf.xml", `representation="B64"`, `representation="HEX"`, `mediaType="application/pdf" `, ``))
	if err != nil || !hasWarning(d, ErrBody) || !hasWarning(d, ErrMissing) || d.Body.Data != nil {
		t.Errorf("unknown representation: %v, %v", err, d.Warnings)
	}
}

func TestFoldSpace(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "a b": "a b", "a  b": "a b", "a\n\t b": "a b", " a ": " a ", "\r\n": " ", "Œdème\u00a0x": "Œdème\u00a0x",
	} {
		if got := foldSpace(in); got != want {
			t.Errorf("foldSpace(%q) = %q, want %q", in, got, want)
		}
	}
}

// Text split by many comments is merged in linear time (a quadratic merge would make this test
// run for minutes).
func TestParse_textSplitByComments(t *testing.T) {
	split := "Examen" + strings.Repeat(" <!-- c --> normal", 200000) + "."
	d, err := Parse(variant(t, "n3-sans-ins.xml", "Examen cardio-pulmonaire normal. Tension 12/8.", split))
	if err != nil {
		t.Fatal(err)
	}
	p := d.Sections[0].Text.Children[0]
	if len(p.Children) != 1 || !strings.HasPrefix(p.Children[0].Text, "Examen normal normal") || strings.Contains(p.Children[0].Text, "  ") {
		t.Errorf("paragraph = %d children, %.40q", len(p.Children), p.Children[0].Text)
	}
}

// ECO.2.4.2: a document that names the patient by a used name only (family@SP or @CL, no
// family@BR and no unqualified family) has no birth name, so its INS is not qualified; the used
// name stays available for the subject and the display.
func TestParse_usedNameIsNotBirthName(t *testing.T) {
	for _, q := range []string{"SP", "CL"} {
		t.Run(q, func(t *testing.T) {
			d, err := Parse(variant(t, "n3-cr-imagerie.xml",
				`<family qualifier="BR">BÉRANGER</family>`, ``,
				`<family qualifier="CL">BÉRANGER</family>`, `<family qualifier="`+q+`">DUPRÉ-LAGRANGE</family>`))
			if err != nil {
				t.Fatal(err)
			}
			id := d.Patient.Identity
			if id.BirthName != "" || id.UsedName != "DUPRÉ-LAGRANGE" || d.Patient.Name.Family != "DUPRÉ-LAGRANGE" {
				t.Errorf("birth name %q, used name %q, display family %q; want \"\", DUPRÉ-LAGRANGE, DUPRÉ-LAGRANGE",
					id.BirthName, id.UsedName, d.Patient.Name.Family)
			}
			if err := id.Qualified(); err == nil {
				t.Error("an identity without birth name is qualified")
			}
			if countWarnings(d, ErrMissing) != 1 {
				t.Errorf("warnings = %v, want one ErrMissing for the birth name", d.Warnings)
			}
		})
	}
}

// UTF-16 CDA files (with a byte order mark in either order, or without one) read like their
// UTF-8 original; a UTF-16 declaration on UTF-8 bytes is still refused.
func TestParse_utf16(t *testing.T) {
	data := readSample(t, "n3-sans-ins.xml")
	want, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	decl := []byte(strings.Replace(string(data), `encoding="UTF-8"`, `encoding="UTF-16"`, 1))
	if bytes.Equal(decl, data) {
		t.Fatal("sample has no UTF-8 declaration to replace")
	}
	for _, tc := range []struct {
		name string
		enc  encoding.Encoding
	}{
		{"LE with BOM", unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)},
		{"BE with BOM", unicode.UTF16(unicode.BigEndian, unicode.UseBOM)},
		{"LE without BOM", unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)},
		{"BE without BOM", unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)},
	} {
		u16, err := tc.enc.NewEncoder().Bytes(decl)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(u16)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if d.Title != want.Title || d.Patient.Identity.FirstName != want.Patient.Identity.FirstName || len(d.Sections) != len(want.Sections) {
			t.Errorf("%s: title %q, first name %q, %d sections; want %q, %q, %d", tc.name, d.Title,
				d.Patient.Identity.FirstName, len(d.Sections), want.Title, want.Patient.Identity.FirstName, len(want.Sections))
		}
	}
	if _, err := Parse(decl); !errors.Is(err, ErrMalformed) {
		t.Errorf("UTF-8 bytes declared UTF-16: %v, want ErrMalformed", err)
	}
}

// ECO.2.1.5: text marked <content revised="delete"> was deleted by its author: it is not part of
// the narrative (the HL7 CDA stylesheet hides it); revised="insert" text stays.
func TestParse_deletedContentLeftOut(t *testing.T) {
	d, err := Parse(variant(t, "n3-sans-ins.xml", "Examen cardio-pulmonaire normal.",
		`Examen <content revised="delete">anormal <content>imbriqué</content></content><content revised="insert">normal</content>.`))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, s := range d.Sections {
		if s.Text != nil {
			all.WriteString(s.Text.PlainText())
		}
	}
	got := all.String()
	if strings.Contains(got, "anormal") || strings.Contains(got, "imbriqué") || !strings.Contains(got, "Examen normal.") {
		t.Errorf("narrative = %q, want the deleted text left out and \"Examen normal.\"", got)
	}
}

// Other declarations met in the wild: US-ASCII (read as Windows-1252, so 8-bit accents declared
// as ASCII still read) and "utf8" without a dash.
func TestParse_asciiAndUTF8Labels(t *testing.T) {
	data := string(readSample(t, "n3-sans-ins.xml"))
	ascii := strings.ReplaceAll(strings.Replace(data, `encoding="UTF-8"`, `encoding="US-ASCII"`, 1), "Clémence", "Cl\xe9mence")
	if d, err := Parse([]byte(ascii)); err != nil || d.Patient.Identity.FirstName != "Clémence" {
		t.Errorf("US-ASCII: %v", err)
	}
	utf8 := strings.Replace(data, `encoding="UTF-8"`, `encoding="utf8"`, 1)
	if d, err := Parse([]byte(utf8)); err != nil || d.Patient.Identity.FirstName != "Clémence" {
		t.Errorf("utf8: %v", err)
	}
}
