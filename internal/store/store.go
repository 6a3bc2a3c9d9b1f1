// Package store opens the embedded SQLite database of mssante (pure Go driver, no cgo) and applies
// the schema migrations of the packages that keep state in it.
//
// One file, <data-dir>/mssante.db, holds the application state (the audit trail first). Write
// access is serialised by SQLite; the database runs in WAL mode so readers never wait for a writer.
// A PostgreSQL implementation for several instances comes with the server; the packages that keep
// state take a *sql.DB and use portable SQL so that the same code serves both.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the name of the main database in the data directory.
const FileName = "mssante.db"

// Migration is one step of a package's schema. Steps of a package run in order, once each.
type Migration struct {
	Package string // "audit", "patients"…
	Version int    // 1, 2, … within the package
	SQL     string
}

// Open opens (creating it and the data directory when needed) the main database of dataDir and
// applies the migrations not yet applied. The directory is created with mode 0700: the database
// holds health data.
func Open(ctx context.Context, dataDir string, migrations ...Migration) (*sql.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return OpenFile(ctx, filepath.Join(dataDir, FileName), migrations...)
}

// OpenFile is Open on an explicit database file.
func OpenFile(ctx context.Context, path string, migrations ...Migration) (*sql.DB, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("restrict %s: %w", path, err)
	}
	if err := Migrate(ctx, db, migrations...); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Migrate applies the migrations not yet recorded in the schema_migrations table, each in its own
// transaction.
func Migrate(ctx context.Context, db *sql.DB, migrations ...Migration) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		package TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (package, version))`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	for _, m := range migrations {
		if err := apply(ctx, db, m); err != nil {
			return fmt.Errorf("migration %s/%d: %w", m.Package, m.Version, err)
		}
	}
	return nil
}

func apply(ctx context.Context, db *sql.DB, m Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE package = ? AND version = ?`, m.Package, m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (package, version) VALUES (?, ?)`, m.Package, m.Version); err != nil {
		return err
	}
	return tx.Commit()
}
