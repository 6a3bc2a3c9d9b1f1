package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is the SQL dialect of a database.
type Dialect string

// The two dialects mssante runs on.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// FileName is the name of the main SQLite database in the data directory.
const FileName = "mssante.db"

// DefaultURL is the URL of the embedded database of dataDir: "sqlite:<dataDir>/mssante.db".
func DefaultURL(dataDir string) string { return "sqlite:" + filepath.Join(dataDir, FileName) }

// ErrURL is returned by Open for a URL it cannot read.
var ErrURL = errors.New("unsupported database URL (want sqlite:PATH or postgres://…)")

// DB is a database of one dialect. Queries are written once with '?' placeholders; on PostgreSQL
// they are rebound to $1, $2… (a '?' inside a string literal, a quoted identifier or a comment is
// left alone). It is safe for concurrent use.
type DB struct {
	db      *sql.DB
	dialect Dialect
	display string // the URL without its password, for messages
	path    string // the SQLite file; "" for PostgreSQL
}

// Open opens the database named by rawURL and applies the migrations not yet applied.
//
//	sqlite:PATH                 a file, created with mode 0600 (and its directory 0700) when missing
//	postgres://user@host/db?…   a PostgreSQL server (pgx); postgresql:// is accepted too
//
// Errors never show the password of the URL.
func Open(ctx context.Context, rawURL string, migrations ...Migration) (*DB, error) {
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		db, err = openSQLite(ctx, strings.TrimPrefix(rawURL, "sqlite:"))
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db, err = openPostgres(ctx, rawURL)
	default:
		return nil, fmt.Errorf("open database %q: %w", Redact(rawURL), ErrURL)
	}
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, db, migrations...); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", db.display, err)
	}
	return db, nil
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	display := "sqlite:" + path
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open database %q: a path without '?' or '#' is expected: %w", display, ErrURL)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open database %s: create directory: %w", display, err)
	}
	// Create the file with its final mode before SQLite opens it: it holds health data.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", display, err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("open database %s: restrict mode: %w", display, err)
	}
	// busy_timeout first (the driver applies it before the other pragmas); _txlock=immediate makes
	// every transaction take the write lock at BEGIN, so that two writers never both read and then
	// fail to upgrade (SQLITE_BUSY with no retry possible inside the transaction). The journal mode
	// is not a pragma of every connection: WAL is a property of the file, set once below.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", display, err)
	}
	if err := setWAL(ctx, sdb); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open database %s: %w", display, err)
	}
	return &DB{db: sdb, dialect: SQLite, display: display, path: path}, nil
}

// setWAL puts the database in WAL mode. Switching a new file's journal mode needs its exclusive
// lock, and SQLite answers SQLITE_BUSY at once, without its busy handler, to a second process
// switching at the same moment (both hold a shared lock): that answer is retried here, with
// back-off, until ctx ends or 10 s have passed.
func setWAL(ctx context.Context, sdb *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	wait := 5 * time.Millisecond
	for {
		var mode string
		err := sdb.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("journal mode %q, want wal", mode)
		case !IsRetryable(err):
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	display := Redact(rawURL)
	if _, err := url.Parse(rawURL); err != nil {
		return nil, fmt.Errorf("open database %s: %w", display, ErrURL)
	}
	sdb, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %s", display, redactErr(err, rawURL))
	}
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open database %s: %w", display, &redactedError{err: err, raw: rawURL})
	}
	return &DB{db: sdb, dialect: Postgres, display: display}, nil
}

// Redact returns rawURL with its password (user info or password= parameter) replaced by "xxxxx".
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "sqlite" || u.Opaque != "" {
		if i := strings.Index(rawURL, "://"); i >= 0 {
			// Unparseable but shaped like a URL: hide everything between :// and the last @.
			if j := strings.LastIndex(rawURL, "@"); j > i {
				return rawURL[:i+3] + "xxxxx" + rawURL[j:]
			}
		}
		return rawURL
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redactedError hides the password of a URL that a driver error might quote.
type redactedError struct {
	err error
	raw string
}

func (e *redactedError) Error() string { return redactErr(e.err, e.raw) }
func (e *redactedError) Unwrap() error { return e.err }

func redactErr(err error, rawURL string) string {
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// Dialect is the dialect of the database.
func (db *DB) Dialect() Dialect { return db.dialect }

// Path is the file of a SQLite database ("" for PostgreSQL): what keeps data beside it (the mail
// bodies' pack files) is named after it.
func (db *DB) Path() string { return db.path }

// String is the URL of the database without its password.
func (db *DB) String() string { return db.display }

// SQL is the underlying pool, for what this package does not wrap. Its queries are not rebound.
func (db *DB) SQL() *sql.DB { return db.db }

// Close closes the pool.
func (db *DB) Close() error { return db.db.Close() }

// ExecContext runs a statement written with '?' placeholders.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.db.ExecContext(ctx, Rebind(db.dialect, query), args...)
}

// QueryContext runs a query written with '?' placeholders.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.db.QueryContext(ctx, Rebind(db.dialect, query), args...)
}

// QueryRowContext runs a query written with '?' placeholders that returns at most one row.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.db.QueryRowContext(ctx, Rebind(db.dialect, query), args...)
}

// BeginTx starts a transaction. On SQLite a transaction takes the write lock at BEGIN
// (BEGIN IMMEDIATE) unless opts.ReadOnly, which gives a plain BEGIN: one consistent snapshot of the
// database (WAL) that does not stop writers. Most callers want InTx, which retries, or InReadTx.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := db.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Tx{tx: tx, dialect: db.dialect}, nil
}

// InReadTx runs f in one read-only transaction that sees one snapshot of the database
// (PostgreSQL REPEATABLE READ READ ONLY; SQLite a deferred transaction under WAL), so that reads
// spread over several queries agree with each other while writers go on.
func (db *DB) InReadTx(ctx context.Context, f func(tx *Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	return f(tx)
}

// maxAttempts bounds the retries of InTx.
const maxAttempts = 20

// InTx runs f in one write transaction and commits it when f returns nil. A transaction that
// failed because of a concurrent one (SQLite busy, PostgreSQL serialization failure 40001 or
// deadlock 40P01) is rolled back and f runs again, with a growing random pause, until the context
// ends. f must therefore do nothing but database work through tx.
func (db *DB) InTx(ctx context.Context, f func(tx *Tx) error) error {
	pause := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := db.inTxOnce(ctx, f)
		if err == nil || !IsRetryable(err) || attempt == maxAttempts {
			return err
		}
		t := time.NewTimer(pause/2 + rand.N(pause))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after %v)", ctx.Err(), err)
		case <-t.C:
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
}

func (db *DB) inTxOnce(ctx context.Context, f func(tx *Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// IsRetryable reports whether err is a transaction lost to a concurrent one: SQLite busy or
// locked, PostgreSQL serialization failure (40001) or deadlock (40P01).
func IsRetryable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return false
}

// IsUniqueViolation reports whether err is a unique or primary key constraint violation
// (SQLite SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY, PostgreSQL 23505).
func IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// Tx is a transaction of a DB; its queries are rebound like the DB's.
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
	stmts   map[string]*sql.Stmt // PrepareContext's, by query
}

// Dialect is the dialect of the transaction's database.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// ExecContext runs a statement written with '?' placeholders.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, Rebind(tx.dialect, query), args...)
}

// QueryContext runs a query written with '?' placeholders.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, Rebind(tx.dialect, query), args...)
}

// QueryRowContext runs a query written with '?' placeholders that returns at most one row.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, Rebind(tx.dialect, query), args...)
}

// PrepareContext returns a statement written with '?' placeholders, prepared once per
// transaction: the same query string gives the same statement again, so that a statement run for
// each of many rows (a sync storing a group of messages) is parsed once. The statement belongs to
// the transaction and is closed when it ends; it is not safe for concurrent use, as Tx is not.
func (tx *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := tx.stmts[query]; ok {
		return st, nil
	}
	st, err := tx.tx.PrepareContext(ctx, Rebind(tx.dialect, query))
	if err != nil {
		return nil, err
	}
	if tx.stmts == nil {
		tx.stmts = map[string]*sql.Stmt{}
	}
	tx.stmts[query] = st
	return st, nil
}

// Commit commits the transaction.
func (tx *Tx) Commit() error { return tx.tx.Commit() }

// Rollback aborts the transaction; after Commit it returns sql.ErrTxDone.
func (tx *Tx) Rollback() error { return tx.tx.Rollback() }

// Rebind rewrites the '?' placeholders of query for d: unchanged for SQLite, $1, $2… for
// PostgreSQL. A '?' inside a string literal ('…', E'…'), a quoted identifier ("…"), a
// dollar-quoted string ($tag$…$tag$) or a comment (-- …, /* … */) is not a placeholder.
func Rebind(d Dialect, query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); {
		c := query[i]
		switch {
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
			i++
		case c == '\'':
			escapes := i > 0 && (query[i-1] == 'E' || query[i-1] == 'e') && (i == 1 || !isIdent(query[i-2]))
			j := skipQuoted(query, i, '\'', escapes)
			b.WriteString(query[i:j])
			i = j
		case c == '"':
			j := skipQuoted(query, i, '"', false)
			b.WriteString(query[i:j])
			i = j
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i
			}
			b.WriteString(query[i : i+j])
			i += j
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			j := skipBlockComment(query, i)
			b.WriteString(query[i:j])
			i = j
		case c == '$' && (i == 0 || !isIdent(query[i-1])):
			if j, ok := skipDollarQuoted(query, i); ok {
				b.WriteString(query[i:j])
				i = j
				continue
			}
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func isIdent(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// skipQuoted returns the index after the literal opened by q at i (a doubled quote stays inside;
// with backslash escapes, \q too). An unterminated literal runs to the end.
func skipQuoted(s string, i int, q byte, backslash bool) int {
	for j := i + 1; j < len(s); j++ {
		switch {
		case backslash && s[j] == '\\':
			j++
		case s[j] == q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// skipBlockComment returns the index after the comment opened at i; PostgreSQL nests them.
func skipBlockComment(s string, i int) int {
	depth := 0
	for j := i; j < len(s)-1; j++ {
		switch {
		case s[j] == '/' && s[j+1] == '*':
			depth++
			j++
		case s[j] == '*' && s[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

// skipDollarQuoted returns the index after the dollar-quoted string opened at i, or false when
// the '$' does not open one ($1 is a parameter, not a tag).
func skipDollarQuoted(s string, i int) (int, bool) {
	j := i + 1
	for j < len(s) && s[j] != '$' {
		c := s[j]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || j > i+1 && c >= '0' && c <= '9') {
			return 0, false
		}
		j++
	}
	if j >= len(s) {
		return 0, false
	}
	tag := s[i : j+1]
	end := strings.Index(s[j+1:], tag)
	if end < 0 {
		return len(s), true
	}
	return j + 1 + end + len(tag), true
}
