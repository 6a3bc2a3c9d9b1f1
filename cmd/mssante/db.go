package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mssante/mssante/internal/store"
)

// The database of the commands that keep state (audit trail, known patients): --db URL, else
// MSSANTE_DB, else the SQLite file of the data directory. A URL's password is never printed: the
// flag has no default to show in --help, and store redacts its errors.

// dbFlag declares --db.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "", "database `URL`: sqlite:PATH or postgres://user@host:port/db?sslmode=verify-full "+
		"(env MSSANTE_DB; default sqlite:<data-dir>/mssante.db)")
}

// dbURL is the database to open: the --db value, else MSSANTE_DB, else sqlite:<dataDir>/mssante.db.
func dbURL(flagValue, dataDir string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := envOr("MSSANTE_DB", ""); v != "" {
		return v
	}
	if dataDir == "" {
		dataDir = defaultDataDir()
	}
	return store.DefaultURL(dataDir)
}

// errNoDatabase is returned by openExisting for a database the package never wrote to.
var errNoDatabase = errors.New("not found")

// openExisting opens a database that already holds the tables of pkg, then brings them up to date
// with migrations. A mistyped --db or --data-dir is an error, not an empty database: it creates
// no file and no table.
func openExisting(ctx context.Context, url, pkg, what string, migrations ...store.Migration) (*store.DB, error) {
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no %s in %s: %w", what, store.Redact(url), err)
		}
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	v, err := db.Version(ctx, pkg)
	if err == nil && v == 0 {
		err = fmt.Errorf("no %s in %s: %w", what, db, errNoDatabase)
	}
	if err == nil {
		err = store.Migrate(ctx, db, migrations...)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// stateFlags are --data-dir and --db of a command that keeps state.
type stateFlags struct{ dataDir, db *string }

func stateFlagsOf(fs *flag.FlagSet) *stateFlags {
	return &stateFlags{dataDir: dataDirFlag(fs), db: dbFlag(fs)}
}

// url is the database the flags name (dbURL).
func (f *stateFlags) url() string { return dbURL(*f.db, *f.dataDir) }

// dir is the data directory (the default one when --data-dir is empty).
func (f *stateFlags) dir() string {
	if *f.dataDir == "" {
		return defaultDataDir()
	}
	return *f.dataDir
}
