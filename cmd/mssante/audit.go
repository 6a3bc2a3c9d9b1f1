package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/store"
)

func init() {
	register(&command{
		name:    "audit verify",
		summary: "check that the audit trail has no changed, inserted or removed record",
		usage:   "audit verify [--data-dir DIR]",
		example: "mssante audit verify --data-dir ./data",
		flags: func(fs *flag.FlagSet) runFunc {
			dataDir := dataDirFlag(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				if err := auditExists(*dataDir); err != nil {
					return err
				}
				trail, closeDB, err := openAudit(ctx, *dataDir)
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
		usage:   "audit export [--since TIME] [--data-dir DIR]",
		example: "mssante audit export --since 2026-11-01 --data-dir ./data",
		flags: func(fs *flag.FlagSet) runFunc {
			dataDir := dataDirFlag(fs)
			since := fs.String("since", "", "only events at or after `TIME` (RFC 3339, or YYYY-MM-DD in local time)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				from, err := parseSince(*since)
				if err != nil {
					return usagef("--since: %v", err)
				}
				if err := auditExists(*dataDir); err != nil {
					return err
				}
				trail, closeDB, err := openAudit(ctx, *dataDir)
				if err != nil {
					return err
				}
				defer closeDB()
				_, err = trail.Export(ctx, env.stdout, from)
				return err
			}
		},
	})
}

// auditExists refuses to verify or export a data directory without a database: a mistyped
// --data-dir must not pass for an intact, empty trail.
func auditExists(dataDir string) error {
	path := filepath.Join(dataDir, store.FileName)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no audit trail in %s: %w", dataDir, err)
	}
	return nil
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

// openAudit opens the audit trail of dataDir and prunes the events past the retention period
// (MSSANTE_AUDIT_RETENTION, a Go duration; six months by default, ECO.4.1.1).
func openAudit(ctx context.Context, dataDir string) (*audit.Trail, func(), error) {
	retention := audit.DefaultRetention
	if v := envOr("MSSANTE_AUDIT_RETENTION", ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, nil, fmt.Errorf("MSSANTE_AUDIT_RETENTION: %w", err)
		}
		retention = d
	}
	db, err := store.Open(ctx, store.DefaultURL(dataDir), audit.Migrations...)
	if err != nil {
		return nil, nil, err
	}
	trail := audit.New(db, nil)
	if _, err := trail.Prune(ctx, retention); err != nil {
		db.Close()
		return nil, nil, err
	}
	return trail, func() { closeQuietly(db) }, nil
}

func closeQuietly(db *store.DB) { _ = db.Close() }
