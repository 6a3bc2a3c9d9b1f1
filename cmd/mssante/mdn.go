package main

import (
	"context"
	"flag"
	"os"

	"github.com/mssante/mssante/message"
)

func init() {
	register(&command{
		name:    "mdn",
		summary: "build the read receipt (RFC 8098 MDN, displayed) of a received mail that asks for one",
		usage:   "mdn FILE.eml --from ADDR [--nil REF] -o OUT.eml",
		example: "mssante mdn recu.eml --from marie.martin@medecin.mssante.fr -o accuse.eml",
		flags: func(fs *flag.FlagSet) runFunc {
			from := fs.String("from", "", "the recipient mailbox sending the receipt, `address` or \"Label <address>\" (required)")
			conf := useConfig(fs, "message.nil")
			out := fs.String("o", "", "output `file` (required)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 || *from == "" || *out == "" {
					return usagef("one mail file, --from and -o are required")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				fromAddr, err := message.ParseAddress(*from)
				if err != nil {
					return err
				}
				orig, err := msgReadMail(args[0], cfg.PatientDomain)
				if err != nil {
					return err
				}
				c, err := message.BuildMDN(orig, fromAddr, &message.Options{NIL: cfg.Message.NIL})
				if err != nil {
					return err
				}
				if err := os.WriteFile(*out, c.Data, 0o600); err != nil {
					return err
				}
				return writeJSON(env.stdout, map[string]any{"output": *out, "message_id": c.MessageID,
					"to": orig.MDNTo[0].Addr, "original_message_id": orig.MessageID, "disposition": "displayed",
					"headers": c.Headers, "warnings": msgNonNil(c.Warnings)})
			}
		},
	})
}
