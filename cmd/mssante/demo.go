package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/sandbox"
	"github.com/mssante/mssante/message"
)

// demoCDA is a synthetic CI-SIS imaging report (invented patient, test INS OID), the same shape as
// cda/testdata/n3-cr-imagerie.xml.
//
//go:embed demo/cr-imagerie.xml
var demoCDA []byte

func init() {
	register(&command{
		name:    "demo",
		summary: "compose an MSSanté mail with an embedded example CDA (IHE XDM + PDF/A-1), then read it back",
		usage:   "demo -o OUT.eml [--cda FILE] [--sandbox [--data-dir DIR]]",
		example: "mssante demo -o demo.eml",
		flags: func(fs *flag.FlagSet) runFunc {
			out := fs.String("o", "demo.eml", "output `file` for the composed mail")
			cdaFile := fs.String("cda", "", "use this CDA `file` instead of the embedded example")
			inSandbox := fs.Bool("sandbox", false, "write the mail between sandbox mailboxes (from its first professional to a sandbox patient, copy to the second one, a CDA of that patient), so that `mssante send` can send it there")
			dir := sandboxDirFlag(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				doc, parties := demoCDA, defaultDemoParties
				if *inSandbox {
					var err error
					if parties, err = sandboxDemoParties(*dir); err != nil {
						return err
					}
					doc = sandbox.DemoCDA()
				}
				if *cdaFile != "" {
					b, err := os.ReadFile(*cdaFile)
					if err != nil {
						return err
					}
					doc = b
				}
				return runDemo(env, doc, *out, parties)
			}
		},
	})
}

// demoParties are the sender, the colleague in copy and the patient domain of the demo mail.
type demoParties struct {
	sender        message.SenderLabel
	from          string
	cc            message.Address
	patientDomain string // "" for patient.mssante.fr
	sandbox       bool
}

var defaultDemoParties = demoParties{
	sender: message.SenderLabel{Kind: message.Personal, Title: "Dr", FirstName: "Marie", Name: "Martin", Entity: "Cabinet de radiologie des Tilleuls"},
	from:   "marie.martin@medecin.mssante.fr",
	cc:     message.Address{Name: "Dr Paul DURAND", Addr: "paul.durand@medecin.mssante.fr"},
}

// sandboxDemoParties takes the parties from the sandbox in dir: its first professional writes
// from their personal mailbox, with a copy to the second one, to the sandbox's patient domain.
func sandboxDemoParties(dir string) (demoParties, error) {
	c, err := sandbox.LoadConfig(dir)
	if err != nil {
		return demoParties{}, err
	}
	if len(c.Professionals) < 2 || len(c.Professionals[0].Mailboxes) == 0 || len(c.Professionals[1].Mailboxes) == 0 {
		return demoParties{}, fmt.Errorf("sandbox %s: two professionals with a mailbox expected", dir)
	}
	p, q := c.Professionals[0], c.Professionals[1]
	return demoParties{
		sender:        message.SenderLabel{Kind: message.Personal, Title: "Dr", FirstName: p.GivenName, Name: p.FamilyName, Entity: "Bac à sable MSSanté"},
		from:          p.Mailboxes[0],
		cc:            message.Address{Name: q.GivenName + " " + q.FamilyName, Addr: q.Mailboxes[0]},
		patientDomain: c.PatientDomain,
		sandbox:       true,
	}, nil
}

// runDemo sends the document to its patient (the address built from the CDA's qualified INS) with
// a copy to a colleague, asks for both receipts, writes the mail, and prints what a receiver reads.
func runDemo(env *cmdEnv, doc []byte, out string, parties demoParties) error {
	parsed, err := cda.Parse(doc)
	if err != nil {
		return err
	}
	patient, err := parsed.Patient.Identity.PatientAddress(parties.patientDomain)
	if err != nil {
		return err
	}
	label, err := parties.sender.Label()
	if err != nil {
		return err
	}
	c, err := message.Compose(&message.Draft{
		From: message.Address{Name: label, Addr: parties.from},
		To:   []message.Address{{Addr: patient}},
		Cc:   []message.Address{parties.cc},
		Text: "Bonjour,\n\nVeuillez trouver ci-joint le compte rendu de votre examen.\n\nBien cordialement,\n" + parties.sender.Title + " " + parties.sender.FirstName + " " + strings.ToUpper(parties.sender.Name),
		CDAs: [][]byte{doc},
		DSN:  true, MDN: true,
	}, nil)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, c.Data, 0o600); err != nil {
		return err
	}
	m, err := message.Parse(c.Data, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "Courriel écrit dans %s (%d octets) : %s\n", out, len(c.Data), c.Subject)
	if parties.sandbox {
		fmt.Fprintf(env.stderr, "Pour l'envoyer dans le bac à sable : mssante send %s --account %s --token-file JETON --autoconfig-url … --trust-root … (voir mssante sandbox env)\n", out, parties.from)
	}
	return writeJSON(env.stdout, map[string]any{"file": out, "subject": c.Subject, "pdf_names": c.PDFNames, "headers": c.Headers, "warnings": c.Warnings, "read_back": m})
}
