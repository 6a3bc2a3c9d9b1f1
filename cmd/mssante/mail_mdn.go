package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/store"
)

// Read receipts asked by received mail (ECO.3.1.6): `mail settings` records the account's
// policy (never, ask, always), `mail displayed` applies it to a message of the local store that
// has been displayed: the receipt goes into the durable outbox (sent by `outbox run`) once, and
// the mail is flagged $MDNSent on the server.

func init() {
	register(&command{
		name:    "mail settings",
		summary: "show or set the mail settings of an account: the read receipt policy (never, ask, always)",
		usage:   "mail settings --account ADDR [--mdn never|ask|always] [--db URL] [--data-dir DIR]",
		example: "mssante mail settings --account dr.martin@test.mssante.fr --mdn always",
		flags: func(fs *flag.FlagSet) runFunc {
			mdn := fs.String("mdn", "", "read receipts asked by received mail: never, ask (each time; the default) or always (`policy`)")
			sf := stateFlagsOf(fs, "mail.account")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				acct := sf.cfg.MailAccount()
				account := &acct.Address
				if err := checkAccount(*account); err != nil {
					return err
				}
				var p mailstore.MDNPolicy
				if *mdn != "" {
					var err error
					if p, err = mailstore.ParseMDNPolicy(*mdn); err != nil {
						return usagef("--mdn: %v", err)
					}
				}
				db, err := store.Open(ctx, sf.url(), mailstore.Migrations()...)
				if err != nil {
					return err
				}
				defer closeQuietly(db)
				ms := mailstore.New(db, nil)
				if p != "" {
					if err := ms.SetMDNPolicy(ctx, *account, p); err != nil {
						return err
					}
				}
				s, err := ms.Settings(ctx, *account)
				if err != nil {
					return err
				}
				return writeJSON(env.stdout, s)
			}
		},
	})
	register(&command{
		name:    "mail displayed",
		summary: "a synchronised message has been displayed: queue the read receipt it asks for, once, as the account's policy says (IMAP 143, STARTTLS for $MDNSent)",
		usage:   "mail displayed --account ADDR --uid N [--folder F] [--answer send|deny] (--token-file F | --cert F --key F) [--autoconfig-url URL | --imap HOST:PORT] [--trust-root PEM]… [--server-name NAME] [--profile production|test] [--db URL] [--data-dir DIR]",
		example: "mssante mail displayed --account dr.martin@test.mssante.fr --uid 42 --token-file ~/.psc-token --imap imap.test.mssante.fr:143",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "imap")
			uid := fs.Uint("uid", 0, "`UID` of the message in --folder (mail list gives it)")
			folder := fs.String("folder", "INBOX", "`folder` of --uid")
			answer := fs.String("answer", "", "the professional's answer when the policy is ask: send or deny (`answer`)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				if *uid == 0 || *uid > 1<<32-1 {
					return usagef("--uid is required")
				}
				a := mailbox.MDNAnswer(*answer)
				if a != mailbox.AnswerNone && a != mailbox.AnswerSend && a != mailbox.AnswerDeny {
					return usagef("--answer: send or deny")
				}
				if err := c.checkAccount(); err != nil {
					return err
				}
				return runMailDisplayed(ctx, env, c, *folder, uint32(*uid), a)
			}
		},
	})
}

func runMailDisplayed(ctx context.Context, env *cmdEnv, c *connFlags, folder string, uid uint32, answer mailbox.MDNAnswer) error {
	url := *c.db
	db, err := openExisting(ctx, url, mailstore.Package, "mail index (run mssante sync first)", append(mailstore.Migrations(), outbox.Migrations...)...)
	if err != nil {
		return err
	}
	defer closeQuietly(db)
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	acct, done, err := c.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	res, err := acct.Displayed(ctx, mailstore.New(db, nil), outbox.New(db, nil), folder, uid, &mailbox.DisplayedOptions{Answer: answer})
	if res != nil {
		if werr := writeJSON(env.stdout, res); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return err
	}
	switch res.Outcome {
	case mailbox.OutcomeAsk:
		fmt.Fprintf(env.stderr, "mssante mail displayed: l'expéditeur demande un accusé de lecture (%s) : répondez avec --answer send ou --answer deny\n", res.To)
	case mailbox.OutcomeQueued:
		fmt.Fprintf(env.stderr, "mssante mail displayed: accusé de lecture pour %s placé dans la boîte d'envoi (mssante outbox run l'envoie)\n", res.To)
	}
	return nil
}
