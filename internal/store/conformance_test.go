package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// The conformance suite: what every package relies on, proved on both dialects.

var kvMigrations = []store.Migration{{Package: "kv", Version: 1,
	SQL: `CREATE TABLE kv (
	id    INTEGER PRIMARY KEY,
	k     TEXT NOT NULL UNIQUE,
	v     TEXT NOT NULL,
	n     BIGINT NOT NULL DEFAULT 0,
	ok    INTEGER NOT NULL DEFAULT 0,
	at    TEXT NOT NULL DEFAULT '',
	data  BLOB
);`,
	Postgres: `CREATE TABLE kv (
	id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	k     TEXT NOT NULL UNIQUE,
	v     TEXT NOT NULL,
	n     BIGINT NOT NULL DEFAULT 0,
	ok    INTEGER NOT NULL DEFAULT 0,
	at    TEXT NOT NULL DEFAULT '',
	data  BYTEA
);`}}

// A statement prepared in a transaction is prepared once for its query, runs with '?'
// placeholders on both dialects, and its work is the transaction's (gone with a rollback).
func TestConformance_preparedInTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const ins = `INSERT INTO kv (k, v, n) VALUES (?, ?, ?)`
		err := db.InTx(ctx, func(tx *store.Tx) error {
			first, err := tx.PrepareContext(ctx, ins)
			if err != nil {
				return err
			}
			for i := range 3 {
				st, err := tx.PrepareContext(ctx, ins)
				if err != nil {
					return err
				}
				if st != first {
					t.Error("the same query was prepared again in the transaction")
				}
				if _, err := st.ExecContext(ctx, fmt.Sprintf("p%d", i), "v", i); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := tx.PrepareContext(ctx, ins)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.ExecContext(ctx, "rolled-back", "v", 9); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		var n, sum int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(n), 0) FROM kv WHERE k LIKE 'p%' OR k = ?`, "rolled-back").Scan(&n, &sum); err != nil || n != 3 || sum != 3 {
			t.Fatalf("%d rows, sum %d, %v; want the 3 committed rows", n, sum, err)
		}
	}, kvMigrations...)
}

func TestConformance_placeholdersAndLiterals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// A '?' inside a literal is text, not a placeholder, on both dialects.
		if _, err := db.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, 'why? because')`, "a"); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := db.QueryRowContext(ctx, `SELECT v FROM kv WHERE k = ? AND v <> '?'`, "a").Scan(&v); err != nil || v != "why? because" {
			t.Fatalf("v = %q, %v", v, err)
		}
		// Eleven placeholders: $10 and $11 are not $1 followed by a digit.
		var s string
		err := db.QueryRowContext(ctx, `SELECT CAST(? AS TEXT) || CAST(? AS TEXT) || CAST(? AS TEXT) || CAST(? AS TEXT) || CAST(? AS TEXT) || CAST(? AS TEXT) || CAST(? AS TEXT) || CAST(? AS TEXT) || CAST(? AS TEXT) || CAST(? AS TEXT) || CAST(? AS TEXT)`,
			"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k").Scan(&s)
		if err != nil || s != "abcdefghijk" {
			t.Fatalf("eleven placeholders = %q, %v", s, err)
		}
	}, kvMigrations...)
}

func TestConformance_returningAndOnConflict(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var id1, id2 int64
		if err := db.QueryRowContext(ctx, `INSERT INTO kv (k, v) VALUES (?, ?) RETURNING id`, "a", "1").Scan(&id1); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `INSERT INTO kv (k, v) VALUES (?, ?) RETURNING id`, "b", "1").Scan(&id2); err != nil {
			t.Fatal(err)
		}
		if id1 <= 0 || id2 <= id1 {
			t.Fatalf("ids %d, %d", id1, id2)
		}
		// Upsert: the existing row is updated, its id kept.
		var id int64
		var v string
		err := db.QueryRowContext(ctx, `INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = kv.n + 1 RETURNING id, v`, "a", "2").Scan(&id, &v)
		if err != nil || id != id1 || v != "2" {
			t.Fatalf("upsert = %d %q, %v; want %d \"2\"", id, v, err, id1)
		}
		res, err := db.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING`, "b", "ignored")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 0 {
			t.Fatalf("DO NOTHING affected %d rows, %v", n, err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT n FROM kv WHERE k = ?`, "a").Scan(&n); err != nil || n != 1 {
			t.Fatalf("n = %d, %v", n, err)
		}
	}, kvMigrations...)
}

func TestConformance_blobTimesBooleans(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		blob := make([]byte, 256*4)
		for i := range blob {
			blob[i] = byte(i)
		}
		paris := time.FixedZone("CET", 3600)
		times := []time.Time{
			time.Date(2026, 12, 2, 9, 0, 0, 123456789, time.UTC),
			time.Date(2026, 12, 2, 10, 30, 0, 0, paris), // 09:30 UTC
			time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		}
		for i, tm := range times {
			_, err := db.ExecContext(ctx, `INSERT INTO kv (k, v, ok, at, data) VALUES (?, ?, ?, ?, ?)`,
				fmt.Sprint("k", i), "v", i%2, tm.UTC().Format(time.RFC3339Nano), blob[i:])
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO kv (k, v, data) VALUES (?, ?, ?)`, "nil", "v", nil); err != nil {
			t.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, `SELECT k, ok, at, data FROM kv WHERE at <> '' ORDER BY at`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []time.Time
		for rows.Next() {
			var k, at string
			var ok bool
			var data []byte
			if err := rows.Scan(&k, &ok, &at, &data); err != nil {
				t.Fatal(err)
			}
			var i int
			fmt.Sscanf(k, "k%d", &i)
			if !bytes.Equal(data, blob[i:]) {
				t.Errorf("%s: blob of %d bytes came back as %d bytes, different", k, len(blob[i:]), len(data))
			}
			if ok != (i%2 == 1) {
				t.Errorf("%s: ok = %v", k, ok)
			}
			tm, err := time.Parse(time.RFC3339Nano, at)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, tm)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		// UTC RFC 3339 text sorts in time order, and round-trips to the same instant.
		if len(got) != 3 || !got[0].Equal(times[0]) || !got[1].Equal(times[1]) || !got[2].Equal(times[2]) {
			t.Fatalf("times in text order = %v, want %v", got, times)
		}
		var data []byte
		if err := db.QueryRowContext(ctx, `SELECT data FROM kv WHERE k = ?`, "nil").Scan(&data); err != nil || data != nil {
			t.Fatalf("NULL blob = %v, %v", data, err)
		}
	}, kvMigrations...)
}

// Writers in several goroutines, each on its own connection, read then write the same row in
// InTx; no update is lost. On PostgreSQL the transactions ask for SERIALIZABLE, so concurrent ones
// fail with 40001 and InTx must retry them; on SQLite BEGIN IMMEDIATE serialises them.
func TestConformance_inTxUnderContention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ('counter', '')`); err != nil {
			t.Fatal(err)
		}
		const workers, each = 8, 25
		var attempts sync.Map
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					key := fmt.Sprint(w, "/", i)
					err := db.InTx(ctx, func(tx *store.Tx) error {
						n, _ := attempts.LoadOrStore(key, new(int))
						*n.(*int)++
						if tx.Dialect() == store.Postgres {
							if _, err := tx.ExecContext(ctx, `SET TRANSACTION ISOLATION LEVEL SERIALIZABLE`); err != nil {
								return err
							}
						}
						var n64 int64
						if err := tx.QueryRowContext(ctx, `SELECT n FROM kv WHERE k = ?`, "counter").Scan(&n64); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, `UPDATE kv SET n = ? WHERE k = ?`, n64+1, "counter")
						return err
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT n FROM kv WHERE k = 'counter'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != workers*each {
			t.Fatalf("counter = %d after %d increments: updates lost", n, workers*each)
		}
		retried := 0
		attempts.Range(func(_, v any) bool {
			retried += *v.(*int) - 1
			return true
		})
		t.Logf("%d transactions retried", retried)
		if db.Dialect() == store.Postgres && retried == 0 {
			t.Errorf("no serialization failure was retried: the test did not exercise the retry")
		}
	}, kvMigrations...)
}

// A deadlock (PostgreSQL 40P01) is retried too: two transactions lock two rows in opposite orders.
func TestConformance_inTxRetriesDeadlock(t *testing.T) {
	db := storetest.Open(t, store.Postgres, kvMigrations...)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ('x', ''), ('y', '')`); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls, holding := 0, 0
	both := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for _, order := range [][2]string{{"x", "y"}, {"y", "x"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.InTx(ctx, func(tx *store.Tx) error {
				mu.Lock()
				calls++
				first := calls <= 2
				mu.Unlock()
				if _, err := tx.ExecContext(ctx, `UPDATE kv SET n = n + 1 WHERE k = ?`, order[0]); err != nil {
					return err
				}
				if first {
					// Wait until both hold their first row (counted after the update, not at the
					// start of the call), so that the second update deadlocks.
					mu.Lock()
					holding++
					if holding == 2 {
						once.Do(func() { close(both) })
					}
					mu.Unlock()
					select {
					case <-both:
					case <-time.After(10 * time.Second):
					}
				}
				_, err := tx.ExecContext(ctx, `UPDATE kv SET n = n + 1 WHERE k = ?`, order[1])
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT SUM(n) FROM kv`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("sum = %d, %v; want 4", n, err)
	}
	if calls < 3 {
		t.Fatalf("%d calls: the deadlock was not retried", calls)
	}
}

func TestConformance_migrations(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			// Version 2 needs version 1's table; given out of order, they still run in order.
			// Version 3 inserts a row: applied twice, it would show.
			steps := []store.Migration{
				{Package: "b", Version: 2, SQL: `ALTER TABLE b_runs ADD COLUMN note TEXT NOT NULL DEFAULT 'x?'`},
				{Package: "b", Version: 1, SQL: `CREATE TABLE b_runs (n INTEGER NOT NULL)`},
				{Package: "b", Version: 3, SQL: `INSERT INTO b_runs (n) VALUES (1)`},
				{Package: "a", Version: 1, SQL: `CREATE TABLE a_t (x INTEGER)`},
			}
			url := storetest.URL(t, d)
			// Concurrent runners on separate pools (as separate processes would be).
			const runners = 6
			var wg sync.WaitGroup
			errs := make(chan error, runners)
			for range runners {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db, err := store.Open(ctx, url, steps...)
					if err != nil {
						errs <- err
						return
					}
					db.Close()
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("concurrent Open: %v", err)
			}
			db, err := store.Open(ctx, url, steps...) // once more: nothing to do
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var n int
			var note string
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(note) FROM b_runs`).Scan(&n, &note); err != nil || n != 1 || note != "x?" {
				t.Fatalf("b_runs: %d rows, note %q, %v; want each step applied once, in order", n, note, err)
			}
			rows, err := db.QueryContext(ctx, `SELECT package, version, applied_at FROM schema_migrations ORDER BY package, version`)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var p, at string
				var v int
				if err := rows.Scan(&p, &v, &at); err != nil {
					t.Fatal(err)
				}
				if _, err := time.Parse(time.RFC3339Nano, at); err != nil {
					t.Errorf("applied_at %q: %v", at, err)
				}
				got = append(got, fmt.Sprint(p, v))
			}
			rows.Close()
			if strings.Join(got, " ") != "a1 b1 b2 b3" {
				t.Fatalf("schema_migrations = %v", got)
			}
			for pkg, want := range map[string]int{"a": 1, "b": 3, "none": 0} {
				if v, err := db.Version(ctx, pkg); err != nil || v != want {
					t.Errorf("Version(%q) = %d, %v; want %d", pkg, v, err, want)
				}
			}
			// A program that knows only up to b/2 refuses the database.
			_, err = store.Open(ctx, url, steps[:2]...)
			var ahead *store.AheadError
			if !errors.As(err, &ahead) || ahead.Package != "b" || ahead.Applied != 3 || ahead.Known != 2 {
				t.Fatalf("Open with older migrations: %v; want AheadError b 3 > 2", err)
			}
			if !strings.Contains(err.Error(), "newer mssante") {
				t.Errorf("unclear refusal: %v", err)
			}
			// A failing step leaves nothing behind: the whole run is one transaction.
			bad := append(steps[:len(steps):len(steps)],
				store.Migration{Package: "c", Version: 1, SQL: `CREATE TABLE c_t (x INTEGER)`},
				store.Migration{Package: "c", Version: 2, SQL: `THIS IS NOT SQL`})
			if _, err := store.Open(ctx, url, bad...); err == nil || !strings.Contains(err.Error(), "migration c/2") {
				t.Fatalf("Open with a bad step: %v", err)
			}
			if _, err := db.ExecContext(ctx, `SELECT x FROM c_t`); err == nil {
				t.Fatalf("c/1 stayed applied after c/2 failed")
			}
		})
	}
}

// Opening without migrations changes nothing: a mistyped URL does not get a migrations table.
func TestConformance_openWithoutMigrationsWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if v, err := db.Version(ctx, "audit"); err != nil || v != 0 {
			t.Fatalf("Version of a fresh database = %d, %v", v, err)
		}
		if _, err := db.ExecContext(ctx, `SELECT COUNT(*) FROM schema_migrations`); err == nil {
			t.Fatal("schema_migrations created by Open without migrations")
		}
	})
}

func TestMigrate_malformed(t *testing.T) {
	ctx := context.Background()
	for name, steps := range map[string][]store.Migration{
		"gap":     {{Package: "p", Version: 1, SQL: "SELECT 1"}, {Package: "p", Version: 3, SQL: "SELECT 1"}},
		"repeat":  {{Package: "p", Version: 1, SQL: "SELECT 1"}, {Package: "p", Version: 1, SQL: "SELECT 1"}},
		"zero":    {{Package: "p", Version: 0, SQL: "SELECT 1"}},
		"no SQL":  {{Package: "p", Version: 1}},
		"no name": {{Version: 1, SQL: "SELECT 1"}},
	} {
		if _, err := store.Open(ctx, storetest.URL(t, store.SQLite), steps...); !errors.Is(err, store.ErrMigration) {
			t.Errorf("%s: %v, want ErrMigration", name, err)
		}
	}
}

// A database of the first releases has schema_migrations without applied_at; it is upgraded.
func TestMigrate_upgradesTheFirstMigrationsTable(t *testing.T) {
	ctx := context.Background()
	url := storetest.URL(t, store.SQLite)
	raw, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(url, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (package TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (package, version));
		CREATE TABLE old_t (x INTEGER); INSERT INTO schema_migrations VALUES ('old', 1)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err := store.Open(ctx, url,
		store.Migration{Package: "old", Version: 1, SQL: `CREATE TABLE old_t (x INTEGER)`},
		store.Migration{Package: "old", Version: 2, SQL: `ALTER TABLE old_t ADD COLUMN y INTEGER`})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `SELECT x, y FROM old_t`); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_sqliteFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db, err := store.Open(context.Background(), store.DefaultURL(dir))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, store.FileName): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode(), want)
		}
	}
}

func TestOpen_refusesAndRedacts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, u := range []string{"mysql://u:pw@h/db", "/var/lib/mssante.db", "sqlite:", "sqlite:/tmp/a.db?mode=ro"} {
		if _, err := store.Open(ctx, u); !errors.Is(err, store.ErrURL) {
			t.Errorf("Open(%q) = %v, want ErrURL", u, err)
		}
	}
	// Nothing listens on port 1: the error names the server, never the password.
	_, err := store.Open(ctx, "postgres://mssante:pa55-secret@127.0.0.1:1/mssante?sslmode=disable&connect_timeout=5")
	if err == nil {
		t.Fatal("Open on a closed port succeeded")
	}
	if strings.Contains(err.Error(), "pa55-secret") || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("error %q shows the password or hides the server", err)
	}
	_, err = store.Open(ctx, "mysql://u:pa55-secret@h/db")
	if strings.Contains(err.Error(), "pa55-secret") {
		t.Fatalf("error %q shows the password", err)
	}
}

// SQLite's busy error (another connection holds the write lock and this one does not wait) is
// recognised as retryable; an ordinary error is not, and InTx runs f once for it.
func TestIsRetryable_sqliteBusy(t *testing.T) {
	ctx := context.Background()
	url := storetest.URL(t, store.SQLite)
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dsn := "file:" + strings.TrimPrefix(url, "sqlite:") + "?_pragma=busy_timeout(0)&_txlock=immediate"
	a, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	holder, err := a.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.BeginTx(ctx, nil)
	holder.Rollback()
	if err == nil || !store.IsRetryable(err) {
		t.Fatalf("BEGIN IMMEDIATE while another holds the lock: %v; want a retryable busy error", err)
	}
	calls := 0
	boom := errors.New("not a conflict")
	if err := db.InTx(ctx, func(*store.Tx) error { calls++; return boom }); !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("InTx with a plain error: %v after %d calls; want it once", err, calls)
	}
}

// A write transaction waits for the other writer instead of failing: BEGIN IMMEDIATE under the
// busy timeout, then InTx's retry.
func TestInTx_waitsForAnotherProcessesLock(t *testing.T) {
	ctx := context.Background()
	url := storetest.URL(t, store.SQLite)
	db, err := store.Open(ctx, url, kvMigrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(url, "sqlite:")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(`INSERT INTO kv (k, v) VALUES ('first', '')`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) SELECT 'second', v FROM kv WHERE k = 'first'`)
			return err
		})
	}()
	time.Sleep(50 * time.Millisecond) // let InTx reach BEGIN; it must wait, whatever the timing
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM kv WHERE k = 'second'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the waiting transaction did not see the committed row: %d, %v", n, err)
	}
}
