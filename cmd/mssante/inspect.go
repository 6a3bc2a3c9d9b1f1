package main

import (
	"context"
	"flag"
	"os"

	"github.com/mssante/mssante/message"
)

func init() {
	register(&command{
		name:    "inspect",
		summary: "read a received MSSanté mail: sender kind, patient, documents, receipts, reports",
		usage:   "inspect [--patient-domain D] FILE.eml",
		example: "mssante inspect recu.eml",
		flags: func(fs *flag.FlagSet) runFunc {
			domain := fs.String("patient-domain", "", "patients' mail `domain` (env MSSANTE_PATIENT_DOMAIN, default patient.mssante.fr)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 {
					return usagef("one mail file is required")
				}
				b, err := os.ReadFile(args[0])
				if err != nil {
					return err
				}
				m, err := message.Parse(b, &message.ReadOptions{PatientDomain: msgFirstSet(*domain, os.Getenv("MSSANTE_PATIENT_DOMAIN"))})
				if err != nil {
					return err
				}
				return writeJSON(env.stdout, m)
			}
		},
	})
}
