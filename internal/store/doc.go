// Package store is the one database layer of mssante: the application state (audit trail, known
// patients, and the tables of the mail and outbox layers) lives in one database, either an
// embedded SQLite file (pure Go driver modernc.org/sqlite, the default: <data-dir>/mssante.db) or
// a PostgreSQL server shared by several instances behind a load balancer (pgx v5 through
// database/sql).
//
// Why one layer: every package that keeps state writes its SQL once, with '?' placeholders and
// portable types, and gets both dialects, one migration runner and one retry rule for free; a
// second backend does not mean a second implementation of each package, and the tests of each
// package run against both (storetest.Each).
//
// A database is named by a URL: "sqlite:PATH" or "postgres://user@host:port/db?…" (see Open).
// The dialect differences this package absorbs, and the ones it leaves to the caller:
//
//   - Placeholders: DB and Tx rebind '?' to $1, $2… on PostgreSQL (Rebind), skipping string
//     literals, quoted identifiers, dollar quotes and comments.
//   - Write transactions: InTx runs one transaction and retries it when a concurrent one made it
//     fail (SQLite SQLITE_BUSY, PostgreSQL 40001 serialization failure or 40P01 deadlock). On
//     SQLite every transaction is BEGIN IMMEDIATE: the database-wide write lock is taken at BEGIN,
//     which serialises writers across processes and makes "read then write" safe. On PostgreSQL
//     the isolation is READ COMMITTED: a caller that reads a row it will update locks it
//     (SELECT … FOR UPDATE), as the audit trail does with its head row.
//   - Reads that must agree: InReadTx runs one read-only snapshot (PostgreSQL REPEATABLE READ
//     READ ONLY; SQLite a deferred transaction, which under WAL does not stop writers).
//   - Errors: IsRetryable (busy, 40001, 40P01) and IsUniqueViolation (SQLITE_CONSTRAINT_UNIQUE or
//     _PRIMARYKEY, 23505) classify driver errors for both dialects.
//   - Schemas: each Migration has portable SQL and, when needed, a Postgres variant. Portable
//     means TEXT for strings and for times (RFC 3339, UTC or with offset, so that text order is
//     time order within one offset), INTEGER 0/1 for booleans (pass 0/1, not a Go bool: pgx does
//     not encode a bool into an integer column), BIGINT for 64-bit integers. What differs goes
//     in the variant: BLOB vs BYTEA, INTEGER PRIMARY KEY vs BIGINT GENERATED ALWAYS AS IDENTITY,
//     SQLite FTS5 vs a PostgreSQL index. Both dialects accept INSERT … RETURNING and
//     INSERT … ON CONFLICT (…) DO UPDATE/NOTHING.
//   - Migrations: one runner for every package, a schema_migrations(package, version, applied_at)
//     table, the pending steps applied in order in one transaction under a lock (PostgreSQL
//     pg_advisory_xact_lock, SQLite the write lock), so that instances starting together apply
//     each step once; a database migrated by a newer mssante (a package's applied version ahead
//     of this program's) is refused with an *AheadError rather than written to.
//
// The annuaire (national directory) index is not in this database: it stays its own SQLite file,
// rebuilt aside and swapped in by an atomic rename, which needs a file of its own. It is a cache
// of public data that every instance can rebuild, not shared state.
//
// Package storetest runs a test once per dialect on a fresh database.
package store
