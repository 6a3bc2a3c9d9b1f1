package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/message"
)

// Outbox commands (issue 9): add stores messages, run sends them, status shows them. The
// account and credential flags are the transport commands' (connFlags); the database is --db
// (db.go), the one of the audit trail.

func openOutbox(ctx context.Context, url string, opts *outbox.Options) (*outbox.Outbox, func(), error) {
	db, err := store.Open(ctx, url, outbox.Migrations...)
	if err != nil {
		return nil, nil, err
	}
	return outbox.New(db, opts), func() { closeQuietly(db) }, nil
}

func init() {
	register(&command{
		name:    "outbox add",
		summary: "store .eml messages in the durable outbox, queued for outbox run (JSON line per message)",
		usage:   "outbox add FILE.eml… --account ADDR [--dsn] [--db URL] [--data-dir DIR] (credential flags are accepted and used by outbox run)",
		example: "mssante outbox add cr1.eml cr2.eml --account dr.martin@test.mssante.fr --dsn",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "smtp")
			dsn := fs.Bool("dsn", false, "ask for delivery status notifications (RFC 3461) when the server offers DSN")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) == 0 {
					return usagef("at least one message file expected")
				}
				if err := checkAccount(*c.account); err != nil {
					return err
				}
				return runOutboxAdd(ctx, env, *c.account, *c.db, args, *dsn)
			}
		},
	})
	register(&command{
		name:    "outbox run",
		summary: "send the queued messages of an account (SMTP 587, STARTTLS); --once stops when none is due",
		usage:   "outbox run --account ADDR (--token-file F | --cert F --key F) [--autoconfig-url URL | --smtp HOST:PORT] [--trust-root PEM]… [--server-name NAME] [--profile production|test] [--once] [--workers N] [--lease D] [--db URL] [--data-dir DIR]",
		example: "mssante outbox run --account dr.martin@test.mssante.fr --token-file ~/.psc-token --smtp smtp.test.mssante.fr:587 --once",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "smtp")
			once := fs.Bool("once", false, "send what is due, wait for messages being sent, then exit (else keep running until interrupted)")
			workers := fs.Int("workers", 1, "`N` messages sent at once, each worker over its own SMTP session")
			lease := fs.Duration("lease", time.Minute, "a message taken by a run that died is taken again after `duration` (at once when the run was a killed process of this host on a SQLite database)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				if *workers < 1 || *lease < time.Second {
					return usagef("--workers must be ≥ 1 and --lease ≥ 1s")
				}
				return runOutboxRun(ctx, env, c, *once, *workers, *lease)
			}
		},
	})
	register(&command{
		name:    "outbox status",
		summary: "list the outbox messages and their state as JSON lines (queued, sending, sent, delivered, read, bounced, failed)",
		usage:   "outbox status [--account ADDR] [--state STATE] [--timeline] [--db URL] [--data-dir DIR] (delivered, read, bounced come from the reports mssante sync brought into the same database)",
		example: "mssante outbox status --account dr.martin@test.mssante.fr --state failed --timeline",
		flags: func(fs *flag.FlagSet) runFunc {
			sf := stateFlagsOf(fs, "mail.account")
			reword(fs, "account", "only the messages of this mailbox `address`")
			state := fs.String("state", "", "only the messages in this `state`")
			timeline := fs.Bool("timeline", false, "add each message's state changes")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				var f outbox.Filter
				f.Account = sf.cfg.Mail.Account
				if *state != "" {
					switch s := outbox.State(*state); s {
					case outbox.Queued, outbox.Sending, outbox.Sent, outbox.Delivered, outbox.Read, outbox.Bounced, outbox.Failed:
						f.States = []outbox.State{s}
					default:
						return usagef("--state: %q is not a state", *state)
					}
				}
				return runOutboxStatus(ctx, env, sf.url(), f, *timeline)
			}
		},
	})
}

func checkAccount(a string) error {
	if a == "" {
		return usagef("--account is required")
	}
	if _, err := mail.ParseAddress(a); err != nil || strings.ContainsAny(a, "<> ") {
		return usagef("--account: %q is not a mailbox address", a)
	}
	return nil
}

type outboxLine struct {
	ID        int64          `json:"id"`
	MessageID string         `json:"message_id"`
	State     outbox.State   `json:"state"`
	Reason    string         `json:"reason,omitempty"`
	File      string         `json:"file,omitempty"`
	Account   string         `json:"account,omitempty"`
	Rcpts     []string       `json:"rcpts,omitempty"`
	Attempts  int            `json:"attempts"`
	Next      *time.Time     `json:"next_attempt_at,omitempty"`
	Updated   time.Time      `json:"updated_at"`
	Timeline  []outbox.Event `json:"timeline,omitempty"`
}

func outboxLineOf(e outbox.Entry) outboxLine {
	l := outboxLine{ID: e.ID, MessageID: e.MessageID, State: e.State, Reason: e.Reason, Account: e.Account,
		Rcpts: e.Rcpts, Attempts: e.Attempts, Updated: e.UpdatedAt}
	if !e.NextAttemptAt.IsZero() {
		l.Next = &e.NextAttemptAt
	}
	return l
}

func runOutboxAdd(ctx context.Context, env *cmdEnv, account, url string, files []string, dsn bool) error {
	// Every file is read and checked before any is stored: a typo in the last name stores nothing.
	type prepared struct {
		file  string
		rcpts []string
		raw   []byte
		dsn   bool // the mail asks for one (Return-Receipt-To, as compose --dsn writes it)
		added string
	}
	var msgs []prepared
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		raw, id, added, err := outbox.EnsureMessageID(raw, account, rand.Reader)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		env, err := message.EnvelopeOf(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		p := prepared{file: file, rcpts: env.Recipients, raw: env.Data, dsn: env.DSN}
		if added {
			p.added = id
		}
		msgs = append(msgs, p)
	}
	ob, closeDB, err := openOutbox(ctx, url, nil)
	if err != nil {
		return err
	}
	defer closeDB()
	for _, p := range msgs {
		m := outbox.Message{Account: account, From: account, Rcpts: p.rcpts, Raw: p.raw}
		if dsn || p.dsn {
			m.DSN = &outbox.DSN{}
		}
		e, err := ob.Add(ctx, m)
		if err != nil {
			return fmt.Errorf("%s: %w", p.file, err)
		}
		if p.added != "" {
			fmt.Fprintf(env.stderr, "mssante outbox add: %s has no Message-ID: <%s> added to the stored copy (adding the file again queues another message)\n", p.file, p.added)
		}
		if !e.Added {
			fmt.Fprintf(env.stderr, "mssante outbox add: %s: <%s> is already in the outbox (id %d, %s): not added again\n", p.file, e.MessageID, e.ID, e.State)
		}
		l := outboxLineOf(e)
		l.File = p.file
		if err := writeJSONLine(env.stdout, l); err != nil {
			return err
		}
	}
	return nil
}

// cliSender opens the sessions of the run's account: one mailbox.Account (one SMTP session) per
// worker, sharing the policy and the audit trail.
type cliSender struct {
	account string
	opts    mailbox.Options
	timeout time.Duration
}

func (s *cliSender) Open(ctx context.Context, account string) (outbox.Session, error) {
	if !strings.EqualFold(account, s.account) {
		return nil, fmt.Errorf("no credentials for %s in this run (--account %s)", account, s.account)
	}
	acct, err := mailbox.New(s.opts)
	if err != nil {
		return nil, err
	}
	return mailbox.OutboxSession(acct, s.timeout), nil
}

func runOutboxRun(ctx context.Context, env *cmdEnv, c *connFlags, once bool, workers int, lease time.Duration) error {
	if err := c.checkAccount(); err != nil {
		return err
	}
	creds, author, err := c.credentials()
	if err != nil {
		return err
	}
	o, err := c.options(env, creds, author)
	if err != nil {
		return err
	}
	if o.Policy, err = c.policy(env.stderr); err != nil {
		return err
	}
	url := *c.db
	trail, closeAudit, err := openAuditURL(ctx, url, c.cfg.Audit.Retention)
	if err != nil {
		return err
	}
	defer closeAudit()
	o.Audit = trail
	opts := &outbox.Options{Lease: lease, Logger: o.Logger}
	if strings.HasPrefix(url, "sqlite:") {
		// One host's processes share a SQLite file: a killed run's messages are taken at once.
		opts.Dead = outbox.LocalDead
	}
	ob, closeDB, err := openOutbox(ctx, url, opts)
	if err != nil {
		return err
	}
	defer closeDB()
	s := &cliSender{account: *c.account, opts: o, timeout: *c.timeout}
	progress := func(e outbox.Entry) {
		switch e.State {
		case outbox.Queued:
			fmt.Fprintf(env.stderr, "mssante outbox run: %d <%s> refused for now (attempt %d), retry at %s: %s\n", e.ID, e.MessageID, e.Attempts, e.NextAttemptAt.Format(time.RFC3339), e.Reason)
		case outbox.Failed:
			fmt.Fprintf(env.stderr, "mssante outbox run: %d <%s> failed (attempt %d): %s\n", e.ID, e.MessageID, e.Attempts, e.Reason)
		default:
			fmt.Fprintf(env.stderr, "mssante outbox run: %d <%s> %s (attempt %d)\n", e.ID, e.MessageID, e.State, e.Attempts)
		}
	}
	fmt.Fprintf(env.stderr, "mssante outbox run: sending the messages of %s (%d worker(s), lease %v)\n", *c.account, workers, lease)
	st, err := ob.Run(ctx, s, outbox.RunOptions{Once: once, Workers: workers, Account: *c.account, Progress: progress})
	if err != nil && !(errors.Is(err, context.Canceled) && !once) {
		return err
	}
	if err := writeJSON(env.stdout, st); err != nil {
		return err
	}
	if once {
		left, err := ob.List(ctx, outbox.Filter{Account: *c.account, States: []outbox.State{outbox.Queued}})
		if err == nil && len(left) > 0 {
			fmt.Fprintf(env.stderr, "mssante outbox run: %d message(s) wait for a retry\n", len(left))
		}
	}
	if st.Failed > 0 {
		return fmt.Errorf("%d message(s) failed (see mssante outbox status --state failed)", st.Failed)
	}
	return nil
}

func runOutboxStatus(ctx context.Context, env *cmdEnv, url string, f outbox.Filter, timeline bool) error {
	db, err := openExisting(ctx, url, "outbox", "outbox", outbox.Migrations...)
	if err != nil {
		return err
	}
	defer closeQuietly(db)
	ob := outbox.New(db, nil)
	// The reports sync brought into the same database move sent messages to delivered, read or
	// bounced (recorded in their timeline); without a mail index, the states are the outbox's.
	if v, err := db.Version(ctx, mailstore.Package); err != nil {
		return err
	} else if v > 0 {
		if err := store.Migrate(ctx, db, mailstore.Migrations()...); err != nil {
			return err
		}
		if _, err := ob.Refresh(ctx, mailReports{mailstore.New(db, nil)}, f); err != nil {
			return err
		}
	}
	entries, err := ob.List(ctx, f)
	if err != nil {
		return err
	}
	for _, e := range entries {
		l := outboxLineOf(e)
		if timeline {
			if l.Timeline, err = ob.Timeline(ctx, e.ID); err != nil {
				return err
			}
		}
		if err := writeJSONLine(env.stdout, l); err != nil {
			return err
		}
	}
	return nil
}
