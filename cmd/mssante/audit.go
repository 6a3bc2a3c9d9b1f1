package main

import (
	"context"
	"flag"
	"time"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/config"
	"github.com/mssante/mssante/internal/store"
)

func init() {
	register(&command{
		name:    "audit verify",
		summary: "check that the audit trail has no changed, inserted or removed record",
		usage:   "audit verify [--db URL] [--data-dir DIR]",
		example: "mssante audit verify --data-dir ./data",
		flags: func(fs *flag.FlagSet) runFunc {
			conf := useConfig(fs, "data_dir", "db")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				trail, closeDB, err := openExistingAudit(ctx, cfg)
				if err != nil {
					return err
				}
				defer closeDB()
				report, verr := trail.Verify(ctx)
				if report.Problems == nil {
					report.Problems = []audit.Problem{}
				}
				if err := writeJSON(env.stdout, report); err != nil {
					return err
				}
				return verr
			}
		},
	})
	register(&command{
		name:    "audit export",
		summary: "write the audit trail as JSON lines",
		usage:   "audit export [--since TIME] [--db URL] [--data-dir DIR]",
		example: "mssante audit export --since 2026-11-01 --data-dir ./data",
		flags: func(fs *flag.FlagSet) runFunc {
			conf := useConfig(fs, "data_dir", "db")
			since := fs.String("since", "", "only events at or after `TIME` (RFC 3339, or YYYY-MM-DD in local time)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				from, err := parseSince(*since)
				if err != nil {
					return usagef("--since: %v", err)
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				trail, closeDB, err := openExistingAudit(ctx, cfg)
				if err != nil {
					return err
				}
				defer closeDB()
				_, err = trail.Export(ctx, env.stdout, from)
				return err
			}
		},
	})
	register(&command{
		name:    "audit append",
		summary: "append operator notes to the audit trail (a test and operations tool)",
		usage:   "audit append --action ACTION [--detail TEXT] [--author ID] [--account ADDRESS] [--count N] [--pause DURATION] [--db URL] [--data-dir DIR]",
		example: "mssante audit append --action note --detail 'maintenance: certificate renewed' --db postgres://mssante@db.example/mssante",
		flags:   auditAppend,
	})
}

// auditAppend writes events that no mail operation made: an operator's note in the trail, and
// the way the acceptance checks make several processes append to one database at the same time
// (--count N appends N events, each in its own transaction).
func auditAppend(fs *flag.FlagSet) runFunc {
	conf := useConfig(fs, "data_dir", "db")
	action := fs.String("action", "", "`action` of the events: note, or one of the mail actions (connect, send, list…) (required)")
	detail := fs.String("detail", "", "`text` recorded as the request of the events (redacted like every request)")
	author := fs.String("author", "operator", "`author` recorded in the events")
	account := fs.String("account", "", "mailbox `address` the events are about")
	count := fs.Int("count", 1, "`number` of events to append")
	pause := fs.Duration("pause", 0, "`duration` to wait between two events (lets concurrent processes interleave on SQLite, whose waiting writer sleeps)")
	return func(ctx context.Context, env *cmdEnv, args []string) error {
		if len(args) != 0 {
			return usagef("no argument expected")
		}
		if !audit.Action(*action).Known() {
			return usagef("--action: %q is not an audit action", *action)
		}
		if *count < 1 {
			return usagef("--count must be at least 1")
		}
		cfg, err := conf()
		if err != nil {
			return err
		}
		trail, closeDB, err := openAuditURL(ctx, string(cfg.DB), cfg.Audit.Retention)
		if err != nil {
			return err
		}
		defer closeDB()
		var first, last audit.Event
		for i := range *count {
			e, err := trail.Append(ctx, audit.Event{Author: *author, Account: *account, Action: audit.Action(*action),
				Request: *detail, OK: true})
			if err != nil {
				return err
			}
			if i == 0 {
				first = e
			}
			last = e
			if *pause > 0 && i+1 < *count {
				time.Sleep(*pause)
			}
		}
		return writeJSON(env.stdout, struct {
			Appended int    `json:"appended"`
			FirstSeq int64  `json:"first_seq"`
			LastSeq  int64  `json:"last_seq"`
			LastHash string `json:"last_hash"`
		}{*count, first.Seq, last.Seq, last.Hash})
	}
}

func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02", s, time.Local)
}

// openAuditURL opens the audit trail of the database at url, creating it when needed, and prunes
// the events older than retention (audit.retention: six months by default, ECO.4.1.1).
func openAuditURL(ctx context.Context, url string, retention time.Duration) (*audit.Trail, func(), error) {
	db, err := store.Open(ctx, url, audit.Migrations...)
	if err != nil {
		return nil, nil, err
	}
	return pruned(ctx, db, retention)
}

// openExistingAudit opens the trail of the configured database for the commands that read it:
// a database without a trail (a mistyped --db or --data-dir) is an error, not an intact empty
// trail.
func openExistingAudit(ctx context.Context, cfg *config.Config) (*audit.Trail, func(), error) {
	db, err := openExisting(ctx, string(cfg.DB), "audit", "audit trail", audit.Migrations...)
	if err != nil {
		return nil, nil, err
	}
	return pruned(ctx, db, cfg.Audit.Retention)
}

func pruned(ctx context.Context, db *store.DB, retention time.Duration) (*audit.Trail, func(), error) {
	trail := audit.New(db, nil)
	if _, err := trail.Prune(ctx, retention); err != nil {
		db.Close()
		return nil, nil, err
	}
	return trail, func() { closeQuietly(db) }, nil
}

func closeQuietly(db *store.DB) { _ = db.Close() }
