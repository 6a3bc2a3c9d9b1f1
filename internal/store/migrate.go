package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Migration is one step of one package's schema, applied once, in order, under a lock.
type Migration struct {
	Package  string // "audit", "patients", "mail", "outbox"…
	Version  int    // 1, 2, … within the package, without gaps
	SQL      string // portable SQL, used by both dialects when Postgres is empty
	Postgres string // PostgreSQL variant when the SQL differs (types, identity columns, FTS)
}

// AheadError is returned by Open and Migrate when the database holds a later schema of a package
// than this program knows: a newer mssante migrated it, and this one must not write to it.
type AheadError struct {
	Package string
	Applied int // highest version applied in the database
	Known   int // highest version this program has
}

func (e *AheadError) Error() string {
	return fmt.Sprintf("the database has schema version %d of %q but this program knows only up to %d: it was migrated by a newer mssante; upgrade this program",
		e.Applied, e.Package, e.Known)
}

// ErrMigration is wrapped by the errors of a malformed list of migrations (a programming error).
var ErrMigration = errors.New("malformed migrations")

// advisoryLockKey is the PostgreSQL advisory lock every migration runner takes ("mssante" in
// ASCII): one runner at a time per server, whatever the schema.
const advisoryLockKey = 0x6d7373616e7465

// Migrate applies the migrations not yet recorded in schema_migrations, in order of package (as
// first given) and version, all in one transaction that holds the migration lock (PostgreSQL
// pg_advisory_xact_lock; SQLite the write lock of BEGIN IMMEDIATE): concurrent runners, in this
// process or others, apply each step once. It refuses a database whose applied version of a
// package given is ahead of the migrations given (*AheadError). Without migrations it does
// nothing, not even create schema_migrations: opening a database to look at it changes nothing.
func Migrate(ctx context.Context, db *DB, migrations ...Migration) error {
	plan, err := plan(migrations)
	if err != nil || len(plan) == 0 {
		return err
	}
	return db.InTx(ctx, func(tx *Tx) error {
		if db.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(advisoryLockKey)); err != nil {
				return fmt.Errorf("migration lock: %w", err)
			}
		}
		if err := ensureTable(ctx, tx); err != nil {
			return err
		}
		applied, err := appliedVersions(ctx, tx)
		if err != nil {
			return err
		}
		for _, p := range plan {
			if a, k := applied[p.pkg], len(p.steps); a > k {
				return &AheadError{Package: p.pkg, Applied: a, Known: k}
			}
		}
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for _, p := range plan {
			for _, m := range p.steps[applied[p.pkg]:] {
				query := m.SQL
				if db.dialect == Postgres && m.Postgres != "" {
					query = m.Postgres
				}
				// Run unrebound: a migration has no parameters, and its text may hold '?'.
				if _, err := tx.tx.ExecContext(ctx, query); err != nil {
					return fmt.Errorf("migration %s/%d: %w", m.Package, m.Version, err)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (package, version, applied_at) VALUES (?, ?, ?)`,
					m.Package, m.Version, now); err != nil {
					return fmt.Errorf("migration %s/%d: record: %w", m.Package, m.Version, err)
				}
			}
		}
		return nil
	})
}

type pkgPlan struct {
	pkg   string
	steps []Migration // steps[i].Version == i+1
}

// plan groups migrations by package and checks that each package's versions run 1, 2, … n.
func plan(migrations []Migration) ([]pkgPlan, error) {
	var out []pkgPlan
	index := map[string]int{}
	for _, m := range migrations {
		if m.Package == "" || m.Version < 1 || m.SQL == "" {
			return nil, fmt.Errorf("%w: %q version %d: package, version ≥ 1 and SQL are required", ErrMigration, m.Package, m.Version)
		}
		i, ok := index[m.Package]
		if !ok {
			i = len(out)
			index[m.Package] = i
			out = append(out, pkgPlan{pkg: m.Package})
		}
		out[i].steps = append(out[i].steps, m)
	}
	for _, p := range out {
		sort.SliceStable(p.steps, func(a, b int) bool { return p.steps[a].Version < p.steps[b].Version })
		for i, m := range p.steps {
			if m.Version != i+1 {
				return nil, fmt.Errorf("%w: %q has version %d where %d is expected (versions run 1, 2, … without gaps or repeats)", ErrMigration, p.pkg, m.Version, i+1)
			}
		}
	}
	return out, nil
}

// ensureTable creates schema_migrations, or adds applied_at to the table of the first releases.
func ensureTable(ctx context.Context, tx *Tx) error {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		package    TEXT NOT NULL,
		version    INTEGER NOT NULL,
		applied_at TEXT NOT NULL,
		PRIMARY KEY (package, version))`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	if tx.dialect == SQLite {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('schema_migrations') WHERE name = 'applied_at'`).Scan(&n); err != nil {
			return fmt.Errorf("migrations table: %w", err)
		}
		if n == 0 {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE schema_migrations ADD COLUMN applied_at TEXT NOT NULL DEFAULT ''`); err != nil {
				return fmt.Errorf("migrations table: %w", err)
			}
		}
	}
	return nil
}

func appliedVersions(ctx context.Context, tx *Tx) (map[string]int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT package, MAX(version) FROM schema_migrations GROUP BY package`)
	if err != nil {
		return nil, fmt.Errorf("migrations table: %w", err)
	}
	defer rows.Close()
	applied := map[string]int{}
	for rows.Next() {
		var pkg string
		var v int
		if err := rows.Scan(&pkg, &v); err != nil {
			return nil, fmt.Errorf("migrations table: %w", err)
		}
		applied[pkg] = v
	}
	return applied, rows.Err()
}

// Version is the highest version of pkg applied to the database: 0 when none, also when the
// database has no schema_migrations table (mssante never migrated it, or the URL names the wrong
// database).
func (db *DB) Version(ctx context.Context, pkg string) (int, error) {
	var exists bool
	var err error
	switch db.dialect {
	case Postgres:
		err = db.QueryRowContext(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists)
	default:
		err = db.QueryRowContext(ctx, `SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists)
	}
	if err != nil {
		return 0, fmt.Errorf("schema version of %s: %w", pkg, err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE package = ?`, pkg).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version of %s: %w", pkg, err)
	}
	return v, nil
}
