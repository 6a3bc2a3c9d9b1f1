// Package storetest runs tests against both dialects of internal/store on fresh databases.
//
// SQLite needs nothing. PostgreSQL needs a server where the test may CREATE SCHEMA, named by
// MSSANTE_TEST_POSTGRES (a postgres:// URL; scripts/test.sh starts one and sets it). Each test
// gets a schema of its own, selected through search_path in the URL and dropped when the test
// ends. Without the variable the PostgreSQL subtests skip, and fail when MSSANTE_REQUIRE_PEERS=1.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/testkit"
)

// EnvPostgres names the PostgreSQL server the tests create their schemas in.
const EnvPostgres = "MSSANTE_TEST_POSTGRES"

// Dialects are the dialects Each runs, in order.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// Each runs f once per dialect as subtests "sqlite" and "postgres", each on a fresh empty
// database migrated with migrations and closed when the subtest ends.
func Each(t *testing.T, f func(t *testing.T, db *store.DB), migrations ...store.Migration) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := Open(t, d, migrations...)
			f(t, db)
		})
	}
}

// Open opens a fresh database of dialect d, migrated with migrations, closed at the end of t.
func Open(t testing.TB, d store.Dialect, migrations ...store.Migration) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.Open(ctx, URL(t, d), migrations...)
	if err != nil {
		t.Fatalf("open %s database: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// URL returns the URL of a fresh empty database of dialect d, for tests that run processes: a
// file in a temporary directory for SQLite, a new schema (dropped at the end of t) for PostgreSQL.
func URL(t testing.TB, d store.Dialect) string {
	t.Helper()
	switch d {
	case store.SQLite:
		return "sqlite:" + filepath.Join(t.TempDir(), store.FileName)
	case store.Postgres:
		return postgresSchema(t)
	}
	t.Fatalf("storetest: unknown dialect %q", d)
	return ""
}

func postgresSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		if testkit.PeersRequired() {
			t.Fatalf("%s is not set: no PostgreSQL server to test against (scripts/test.sh starts one; required: MSSANTE_REQUIRE_PEERS=1)", EnvPostgres)
		}
		t.Skipf("%s is not set: no PostgreSQL server to test against (scripts/test.sh starts one)", EnvPostgres)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: unreadable URL %s", EnvPostgres, store.Redact(base))
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s (%s): %v", EnvPostgres, store.Redact(base), err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema on %s: %v", store.Redact(base), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
