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
			conf := useConfig(fs, "patient_domain")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 {
					return usagef("one mail file is required")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				b, err := os.ReadFile(args[0])
				if err != nil {
					return err
				}
				m, err := message.Parse(b, &message.ReadOptions{PatientDomain: cfg.PatientDomain})
				if err != nil {
					return err
				}
				return writeJSON(env.stdout, m)
			}
		},
	})
}
