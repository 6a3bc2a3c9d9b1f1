package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mssante/mssante/message"
)

func init() {
	register(&command{
		name:    "compose",
		summary: "compose a MSSanté mail (subject, headers, IHE_XDM.zip and PDF/A from CDA documents)",
		usage: "compose --from ADDR --from-label LABEL --to ADDR [--to ADDR]… [--cc ADDR]… [--subject S] " +
			"[--text FILE] [--html FILE] [--cda FILE]… [--attach FILE]… [--record-number N] [--dsn] [--mdn] [--mes-fin] [--nil REF] " +
			"[--reply-to-eml FILE] [--app-contact ADDR] [--derogation] [--patient-domain D] [--n1-as-is] -o OUT.eml",
		example: `mssante compose --from marie.martin@medecin.mssante.fr --from-label "Dr Marie MARTIN" ` +
			`--to 279035121518989@patient.mssante.fr --cda cr.xml --text mot.txt --mdn -o out.eml`,
		flags: func(fs *flag.FlagSet) runFunc {
			var to, cc, cdas, files stringList
			from := fs.String("from", "", "sender `address` (required)")
			label := fs.String("from-label", "", "sender display `label` as shown, e.g. \"Dr Marie MARTIN\" (required, ECO.2.2.7)")
			fs.Var(&to, "to", "recipient `address` (repeatable)")
			fs.Var(&cc, "cc", "copy recipient `address` (repeatable)")
			subject := fs.String("subject", "", "`subject` of a mail without documents (with --cda the MSSanté subject is generated)")
			text := fs.String("text", "", "plain-text body `file` (UTF-8)")
			html := fs.String("html", "", "HTML body `file` (UTF-8), same content as --text")
			fs.Var(&cdas, "cda", "CDA R2 document `file` to attach (repeatable, one patient)")
			fs.Var(&files, "attach", "plain `file` to attach as it is, after the documents (repeatable)")
			record := fs.String("record-number", "", "record `number` appended to the PDF names (ECO.2.1.6)")
			dsn := fs.Bool("dsn", false, "ask for a delivery status notification (Return-Receipt-To)")
			mdn := fs.Bool("mdn", false, "ask for a read receipt (Disposition-Notification-To)")
			mesFin := fs.Bool("mes-fin", false, "X-MSS-MES: FIN, the patient may not answer (patient recipient required)")
			replyTo := fs.String("reply-to-eml", "", "the received mail `file` this mail answers (In-Reply-To, References)")
			appContact := fs.String("app-contact", "", "applicative mailbox: the personal or organisational `address` to contact (Reply-To and closing notice)")
			derogation := fs.Bool("derogation", false, "allow a patient recipient without qualified INS (ECO.2.2.6 derogation; the key is checked)")
			conf := useConfig(fs, "message.nil", "patient_domain", "pdf.n1_as_is")
			out := fs.String("o", "", "output `file` (required)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				sender, err := message.ParseAddress(*from)
				if err != nil {
					return usagef("--from: %v", err)
				}
				if *label != "" {
					sender.Name = *label
				}
				if *out == "" || sender.Name == "" || len(to)+len(cc) == 0 {
					return usagef("--from, --from-label, -o and at least one --to or --cc are required")
				}
				if len(args) > 0 {
					return usagef("unexpected argument %q", args[0])
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				d := &message.Draft{From: sender, Subject: *subject,
					RecordNumber: *record, DSN: *dsn, MDN: *mdn, MESFin: *mesFin, Derogation: *derogation}
				if d.To, err = msgParseAddresses(to); err != nil {
					return err
				}
				if d.Cc, err = msgParseAddresses(cc); err != nil {
					return err
				}
				if d.Text, err = msgReadFile(*text); err != nil {
					return err
				}
				if d.HTML, err = msgReadFile(*html); err != nil {
					return err
				}
				for _, f := range cdas {
					b, err := os.ReadFile(f)
					if err != nil {
						return err
					}
					d.CDAs = append(d.CDAs, b)
				}
				for _, f := range files {
					b, err := os.ReadFile(f)
					if err != nil {
						return err
					}
					d.Files = append(d.Files, message.File{Name: filepath.Base(f), Data: b})
				}
				if *appContact != "" {
					a, err := message.ParseAddress(*appContact)
					if err != nil {
						return err
					}
					d.AppContact = &a
				}
				if *replyTo != "" {
					if d.Parent, err = msgParent(*replyTo, cfg.PatientDomain); err != nil {
						return err
					}
				}
				opts := &message.Options{NIL: cfg.Message.NIL, PatientDomain: cfg.PatientDomain,
					ConvertN1: n1Converter(ctx, cfg.PDF.N1AsIs)}
				c, err := message.Compose(d, opts)
				if err != nil {
					return err
				}
				if err := os.WriteFile(*out, c.Data, 0o600); err != nil {
					return err
				}
				return writeJSON(env.stdout, composeOutput(*out, c))
			}
		},
	})
}

func composeOutput(out string, c *message.Composed) map[string]any {
	docs := make([]map[string]string, len(c.Documents))
	for i, d := range c.Documents {
		docs[i] = map[string]string{"code": d.Code, "display_name": d.TypeName, "title": d.Title, "pdf": c.PDFNames[i]}
	}
	derogations := make([]map[string]any, len(c.Derogations))
	for i, r := range c.Derogations {
		derogations[i] = map[string]any{"address": r.Address, "sex": string(r.Decoded.Sex), "birth_year": r.BirthYear,
			"birth_month": int(r.Decoded.Month)}
	}
	return map[string]any{
		"output": out, "message_id": c.MessageID, "subject": c.Subject, "size": len(c.Data),
		"headers": c.Headers, "documents": docs, "pdfs": msgNonNil(c.PDFNames), "derogations": derogations,
		"warnings": msgNonNil(c.Warnings),
	}
}

func msgNonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func msgParseAddresses(list []string) ([]message.Address, error) {
	out := make([]message.Address, 0, len(list))
	for _, s := range list {
		for _, one := range strings.Split(s, ",") {
			if strings.TrimSpace(one) == "" {
				continue
			}
			a, err := message.ParseAddress(one)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
	return out, nil
}

func msgReadFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	return string(b), err
}

// msgParent reads the mail a reply answers.
func msgParent(path, patientDomain string) (*message.Parent, error) {
	m, err := msgReadMail(path, patientDomain)
	if err != nil {
		return nil, err
	}
	if m.MessageID == "" {
		return nil, fmt.Errorf("%s has no Message-ID to answer", path)
	}
	return message.ParentOf(m), nil
}

func msgReadMail(path, patientDomain string) (*message.Message, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return message.Parse(b, &message.ReadOptions{PatientDomain: patientDomain})
}
