package sandbox

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/annuaire"
)

// Seed data, all invented: two professionals (national ids under the 8-99700 test range of RPPS
// numbers), each with a personal mailbox, sharing an organisational one; the second one also
// member of another organisational mailbox; an applicative mailbox (the hospital's DPI) with its
// client certificate; three patients, two with a qualified INS under the test OID (one of whom has
// a closed mailbox) and one without INS; a directory extraction file in the 31-column format.

// The CDA documents of the seed mails are copies of cda/testdata samples (synthetic identities).
var (
	//go:embed seed/n3-cr-biologie.xml
	seedCRBiologie []byte
	//go:embed seed/n3-lettre-liaison.xml
	seedLettreLiaison []byte
)

// DemoCDA returns a copy of the seed laboratory report of the sandbox patient whose mailbox is
// open (CHÂTEAU Jérôme, qualified INS under the test OID): a document `mssante demo --sandbox`
// can send to that patient inside the sandbox.
func DemoCDA() []byte { return append([]byte(nil), seedCRBiologie...) }

// directoryFile is the seed directory extraction, in the data directory.
const directoryFile = "annuaire-extraction.txt"

// seedOrgID is the organisation id of the seed hospital (the structure of the seed CDAs), the OU
// of the applicative mailbox's certificate.
const seedOrgID = "1990000029"

func seedConfig(pro, org, patient string) *Config {
	jeanne := Professional{NationalID: "899700200016", GivenName: "Jeanne", FamilyName: "ESSAI-SANDBOX",
		Profession: "10", Mailboxes: []string{"jeanne.essai@" + pro, "cardiologie@" + org}}
	paul := Professional{NationalID: "899700300014", GivenName: "Paul", FamilyName: "FICTIF-DEMO",
		Profession: "60", Mailboxes: []string{"paul.fictif@" + pro, "cardiologie@" + org, "urgences@" + org}}
	c := &Config{Version: 1, ProDomain: pro, OrgDomain: org, PatientDomain: patient,
		Professionals: []Professional{jeanne, paul}}
	c.Accounts = []Account{
		{Address: jeanne.Mailboxes[0], Kind: "personal", NationalID: jeanne.NationalID,
			NationalIDs: []string{jeanne.NationalID}, Name: "Dr Jeanne ESSAI-SANDBOX"},
		{Address: paul.Mailboxes[0], Kind: "personal", NationalID: paul.NationalID,
			NationalIDs: []string{paul.NationalID}, Name: "Paul FICTIF-DEMO"},
		{Address: "cardiologie@" + org, Kind: "organisational", NationalID: jeanne.NationalID,
			NationalIDs: []string{jeanne.NationalID, paul.NationalID}, Name: "Service de cardiologie"},
		{Address: "urgences@" + org, Kind: "organisational", NationalID: paul.NationalID,
			NationalIDs: []string{paul.NationalID}, Name: "Accueil des urgences"},
		{Address: "dpi@" + org, Kind: "applicative", OrgID: seedOrgID, Name: "DPI du Centre hospitalier Sandbox"},
	}
	c.Patients = []Patient{
		{BirthName: "CHÂTEAU", GivenNames: "Jérôme", BirthDate: "1962-03-15", Sex: "M",
			INS: "162036912304592", OID: string(ins.OIDTest)},
		{BirthName: "LEFÈVRE", GivenNames: "Françoise Anaïs", UsedName: "MARTIN-DUPRÉ", BirthDate: "1991-12-03",
			Sex: "F", INS: "291121305508744", OID: string(ins.OIDTest), Closed: true},
		{BirthName: "ROUSSEAU", GivenNames: "Lucas", BirthDate: "2001-07-09", Sex: "M", IPP: "IPP-778812"},
	}
	for i, p := range c.Patients {
		if p.INS == "" {
			continue
		}
		addr := p.INS + "@" + patient
		c.Patients[i].Mailbox = addr
		c.Accounts = append(c.Accounts, Account{Address: addr, Kind: "patient", NationalID: p.INS,
			Closed: p.Closed, Name: p.GivenNames + " " + p.BirthName})
	}
	return c
}

// checkSeedPatients verifies the seed INS: valid key, test OID (a safeguard on the invented data).
func checkSeedPatients(c *Config) error {
	for _, p := range c.Patients {
		if p.INS == "" {
			continue
		}
		m, err := ins.Parse(p.INS)
		if err != nil || !m.KeyValid() || ins.OID(p.OID) != ins.OIDTest {
			return fmt.Errorf("sandbox seed: patient %s: INS %s not a valid test INS", p.BirthName, p.INS)
		}
	}
	return nil
}

// writeDirectory writes the seed directory extraction (Extraction_Correspondance_MSSante format:
// UTF-8 with BOM, "|" separated, 31 columns, one header line).
func writeDirectory(dataDir string, c *Config) error {
	var b bytes.Buffer
	b.WriteString("\ufeff")
	b.WriteString(strings.Join(annuaire.ExtractionHeader[:], "|"))
	b.WriteString("\r\n")
	structure := []string{"Centre hospitalier Sandbox", "", "", "", "10", "", "RUE", "DE L'ESSAI"}
	row := func(cols ...string) {
		b.WriteString(strings.Join(cols, "|"))
		b.WriteString("\r\n")
	}
	for _, p := range c.Professionals {
		civ, cat, label := "DR", "C", "Médecin"
		if p.Profession == "60" {
			civ, label = "M", "Infirmier"
		}
		cols := []string{"PER", p.Mailboxes[0], "8", p.NationalID[1:], p.NationalID, "1", seedOrgID[1:], "",
			civ, p.FamilyName, p.GivenName, cat, "Civil", p.Profession, label, "", "", "True"}
		cols = append(cols, structure...)
		cols = append(cols, "", "75014 PARIS", "75014", "75", "FRANCE")
		row(cols...)
	}
	for _, a := range c.Accounts {
		var typ string
		switch a.Kind {
		case "organisational":
			typ = "ORG"
		case "applicative":
			typ = "APP"
		default:
			continue
		}
		cols := []string{typ, a.Address, "", "", "", "1", seedOrgID[1:], a.Name, "", "", "", "", "", "", "", "", "", "True"}
		cols = append(cols, structure...)
		cols = append(cols, "", "75014 PARIS", "75014", "75", "FRANCE")
		row(cols...)
	}
	return writeFileAtomic(filepath.Join(dataDir, directoryFile), b.Bytes(), 0o644)
}

// ensureDir creates dir (0700).
func ensureDir(dir string) error { return os.MkdirAll(dir, 0o700) }
