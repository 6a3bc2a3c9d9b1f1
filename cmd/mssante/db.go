package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mssante/mssante/internal/config"
	"github.com/mssante/mssante/internal/store"
)

// The database of the commands that keep state (audit trail, known patients, mail index,
// outbox): the key db of internal/config, --db URL, else MSSANTE_DB, else the file's db, else
// the SQLite file of the data directory. A URL's password is never printed: config.DatabaseURL
// redacts it in --help and config show, and store redacts its errors.

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

// stateFlags are --data-dir and --db of a command that keeps state (and the keys it adds), with
// the effective values once the flags are parsed.
type stateFlags struct {
	dataDir, db *string
	cfg         *config.Config
}

func stateFlagsOf(fs *flag.FlagSet, keys ...string) *stateFlags {
	f := &stateFlags{}
	onConfig(fs, func(cfg *config.Config) {
		db := string(cfg.DB)
		f.dataDir, f.db, f.cfg = &cfg.DataDir, &db, cfg
	}, append([]string{"data_dir", "db"}, keys...)...)
	return f
}

// url is the database to open.
func (f *stateFlags) url() string { return *f.db }

// dir is the data directory.
func (f *stateFlags) dir() string { return *f.dataDir }

// reword replaces the help of a configuration flag by one saying what it means for this
// command, keeping the other layers it names ("(env …, config …)").
func reword(fs *flag.FlagSet, name, usage string) {
	f := fs.Lookup(name)
	if i := strings.LastIndex(f.Usage, " (env "); i >= 0 {
		usage += f.Usage[i:]
	}
	f.Usage = usage
}
