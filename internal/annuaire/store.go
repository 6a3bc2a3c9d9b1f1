package annuaire

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure Go SQLite with FTS5
)

// IndexFile is the name of the local index inside the data directory.
const IndexFile = "annuaire.db"

// schemaVersion is stored in the index; an index of another version is refused (re-import).
const schemaVersion = "1"

// The index is a SQLite database written once by BuildIndex and then only read:
//
//	entries      one row per mailbox, rowid in name order (for broad queries); rec holds the
//	             Entry fields joined by U+001F (encodeEntry): one value to bind and to read
//	             instead of 14, which halves the cost of the table in an import
//	entries_fts  contentless FTS5 over the searchable columns, accents and case folded, with
//	             prefix indexes for as-you-type search; the tags column holds filter tokens
//	             ("tper d75 p10") so that filters are index look-ups
//	names_fts    contentless FTS5 over the main name only (last name, or organisation of an ORG
//	             mailbox) and the tags, for the name-order answer of broad queries
//	terms        the terms of entries_fts and their document counts (copied from the fts5vocab
//	             table entries_vocab), for prefix expansion and typo correction
//	meta         key/value: schema, source, counts, build time
const schemaTablesSQL = `
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries(id INTEGER PRIMARY KEY, rec TEXT NOT NULL);
`

// entriesFTSSQL creates the full-text index of the entries.
const entriesFTSSQL = `CREATE VIRTUAL TABLE entries_fts USING fts5(
	last_name, first_name, profession, specialty, organization, service, city, postal_code, tags,
	content='', detail=column, prefix='1 2 3',
	tokenize="unicode61 remove_diacritics 2")`

const mainSchemaSQL = `
CREATE VIRTUAL TABLE names_fts USING fts5(name, tags, content='', detail=none, prefix='1 2 3',
	tokenize="unicode61 remove_diacritics 2");
`

var schemaSQL = schemaTablesSQL + entriesFTSSQL + ";" + mainSchemaSQL

// BuildStats reports what BuildIndex wrote.
type BuildStats struct {
	ReadStats
	Entries    int // mailboxes indexed
	Duplicates int // lines whose address was already seen (case-insensitive)
}

// BuildOptions tunes BuildIndex. The zero value is fine.
type BuildOptions struct {
	// Progress, when set, is called every 50,000 rows read and once at the end of each phase
	// with the phase ("read", "index") and the rows done, once with ("total", entries) before
	// the index phase and once with ("finish", entries) when the last steps start.
	Progress func(phase string, rows int)
	// Source is recorded in the index's meta table (a path or URL, never credentials).
	Source string
}

// BuildIndex reads the extraction file from r and writes a new index at path, which must not
// exist. Duplicated addresses keep the richest line. On error the partial file is removed.
func BuildIndex(ctx context.Context, path string, r io.Reader, opts *BuildOptions) (BuildStats, error) {
	if opts == nil {
		opts = &BuildOptions{}
	}
	var st BuildStats
	entries, err := collect(ctx, r, opts, &st)
	if err != nil {
		return st, err
	}
	if err := writeIndex(ctx, path, entries, opts, &st); err != nil {
		_ = os.Remove(path)
		return st, err
	}
	return st, nil
}

// packed is an entry held between reading and writing: its encoded record (encodeEntry) and its
// name-order key. It takes about a third of the memory of an Entry, whose fields keep the whole
// line of the file alive; the import holds every entry at once, to deduplicate and sort them.
type packed struct {
	key, rec string
}

func pack(e *Entry) packed {
	return packed{key: sortName(e) + "\x00" + e.FirstName + "\x00" + e.Address, rec: encodeEntry(e)}
}

// collect reads all entries, deduplicates them on the address and sorts them in name order.
func collect(ctx context.Context, r io.Reader, opts *BuildOptions, st *BuildStats) ([]packed, error) {
	entries := make([]packed, 0, 1024)
	seen := make(map[string]int32, 1024)
	rs, err := ReadExtraction(r, func(e Entry) error {
		key := strings.ToLower(e.Address)
		if i, dup := seen[key]; dup {
			st.Duplicates++
			if old := decodeEntry(entries[i].rec); richness(e) > richness(old) {
				entries[i] = pack(&e)
			}
			return nil
		}
		if key == e.Address { // share the packed record's copy rather than the line's
			key = ""
		}
		p := pack(&e)
		if key == "" {
			key = decodeEntry(p.rec).Address
		}
		seen[key] = int32(len(entries))
		entries = append(entries, p)
		if len(entries)%50000 == 0 {
			if opts.Progress != nil {
				opts.Progress("read", len(entries)+st.Duplicates)
			}
			return ctx.Err()
		}
		return nil
	})
	st.ReadStats = rs
	if err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		opts.Progress("read", rs.Rows)
	}
	seen = nil
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	st.Entries = len(entries)
	return entries, nil
}

// sortName is the key of the name order: the last name, or the organisation for an ORG mailbox.
func sortName(e *Entry) string {
	if e.LastName != "" {
		return e.LastName
	}
	return e.Organization
}

// richness counts the filled fields of e: the duplicate kept is the richest.
func richness(e Entry) int {
	n := 0
	for _, s := range []string{e.NationalID, e.Civility, e.LastName, e.FirstName, e.ProfessionCode,
		e.Profession, e.Specialty, e.Organization, e.TradeName, e.Service, e.City, e.PostalCode, e.Department} {
		if s != "" {
			n++
		}
	}
	return n
}

// tags returns the filter tokens of e: type, department and profession code.
func tags(e *Entry) string {
	var b strings.Builder
	b.WriteString("t")
	b.WriteString(e.Type)
	if e.Department != "" {
		b.WriteString(" d")
		b.WriteString(e.Department)
	}
	if e.ProfessionCode != "" {
		b.WriteString(" p")
		b.WriteString(e.ProfessionCode)
	}
	return b.String()
}

// writeIndex writes the full-text index entries_fts (the largest part) in a side file, then the
// entries and names_fts in the index file, and copies the side file's FTS5 shadow tables (plain
// tables) into the index file: a bulk copy of finished b-trees costs under a second.
func writeIndex(ctx context.Context, path string, entries []packed, opts *BuildOptions, st *BuildStats) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("build index: %s already exists", path)
	}
	side := path + ".fts"
	defer os.Remove(side)
	// The two parts are built at once on two cores. With a 128 MB page cache per database this
	// was slower (26 s against 16 s for 600,000 rows); with 8 MB caches it is faster (15-18 s
	// against 20 s on a loaded machine).
	if opts.Progress != nil {
		opts.Progress("total", len(entries))
	}
	sideErr := make(chan error, 1)
	go func() { sideErr <- buildSide(ctx, side, entries, opts.Progress) }()
	db, err := openBuild(path)
	if err == nil {
		err = buildMain(ctx, db, entries, opts, st)
	}
	if serr := <-sideErr; err == nil {
		err = serr
	}
	if db != nil {
		defer db.Close()
	}
	if err != nil {
		return err
	}
	if opts.Progress != nil {
		opts.Progress("finish", len(entries))
	}
	if err := copyFTS(ctx, db, side); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("close index: %w", err)
	}
	return syncFile(path)
}

// openBuild opens a new database for a bulk load: no journal, no sync (a failed build is
// deleted, never used), a large cache, one connection.
func openBuild(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", fileURI(path, "_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-8192)"))
	if err != nil {
		return nil, fmt.Errorf("create index: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// bulkFTS configures an FTS5 table for a bulk load: no incremental merges while inserting, a
// large in-memory hash; one merge at the end (optimize).
func bulkFTS(ctx context.Context, tx *sql.Tx, table string) error {
	for _, kv := range [][2]any{{"automerge", 0}, {"crisismerge", 256}, {"hashsize", 64 << 20}} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+`(`+table+`, rank) VALUES(?, ?)`, kv[0], kv[1]); err != nil {
			return fmt.Errorf("configure index: %w", err)
		}
	}
	return nil
}

func optimizeFTS(ctx context.Context, tx *sql.Tx, table string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+`(`+table+`) VALUES('optimize')`); err != nil {
		return fmt.Errorf("optimize index: %w", err)
	}
	return nil
}

// buildMain writes the entries, names_fts and meta tables, and an empty entries_fts.
func buildMain(ctx context.Context, db *sql.DB, entries []packed, opts *BuildOptions, st *BuildStats) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create index: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, schemaSQL); err != nil {
		return fmt.Errorf("create index schema: %w", err)
	}
	if err := bulkFTS(ctx, tx, "names_fts"); err != nil {
		return err
	}
	if err := insertRows(ctx, tx, `INSERT INTO entries VALUES`, 2, entries, func(args []any, id int, p *packed, _ *Entry) []any {
		return append(args, id, p.rec)
	}, nil); err != nil {
		return fmt.Errorf("insert entries: %w", err)
	}
	if err := insertRows(ctx, tx, `INSERT INTO names_fts(rowid, name, tags) VALUES`, 3, entries, func(args []any, id int, _ *packed, e *Entry) []any {
		return append(args, id, withJoined(sortName(e)), tags(e))
	}, nil); err != nil {
		return fmt.Errorf("index names: %w", err)
	}
	if err := optimizeFTS(ctx, tx, "names_fts"); err != nil {
		return err
	}
	meta := map[string]string{
		"schema": schemaVersion, "source": opts.Source, "built": time.Now().UTC().Format(time.RFC3339),
		"rows": fmt.Sprint(st.Rows), "entries": fmt.Sprint(st.Entries),
	}
	for k, v := range meta {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES(?, ?)`, k, v); err != nil {
			return fmt.Errorf("write index meta: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit index: %w", err)
	}
	return nil
}

// buildSide writes entries_fts and its vocabulary table terms into the side file.
func buildSide(ctx context.Context, side string, entries []packed, progress func(string, int)) error {
	db, err := openBuild(side)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create index: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, entriesFTSSQL+`;
		CREATE VIRTUAL TABLE entries_vocab USING fts5vocab(entries_fts, 'row');`); err != nil {
		return fmt.Errorf("create index schema: %w", err)
	}
	if err := bulkFTS(ctx, tx, "entries_fts"); err != nil {
		return err
	}
	if err := insertRows(ctx, tx, `INSERT INTO entries_fts(rowid, last_name, first_name, profession,
		specialty, organization, service, city, postal_code, tags) VALUES`, 10, entries, func(args []any, id int, _ *packed, e *Entry) []any {
		return append(args, id, withJoined(e.LastName), withJoined(e.FirstName), e.Profession, e.Specialty,
			orgTerms(e), e.Service, cityTerms(e), e.PostalCode, tags(e))
	}, progress); err != nil {
		return fmt.Errorf("index entries: %w", err)
	}
	if err := optimizeFTS(ctx, tx, "entries_fts"); err != nil {
		return err
	}
	// The vocabulary as a plain table: fts5vocab counts documents by reading whole doclists, too
	// slow for prefix expansion at query time.
	if _, err := tx.ExecContext(ctx, `CREATE TABLE terms(term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID;
		INSERT INTO terms SELECT term, doc FROM entries_vocab;`); err != nil {
		return fmt.Errorf("index vocabulary: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit index: %w", err)
	}
	return db.Close()
}

// ftsShadowTables are the tables where FTS5 keeps a contentless table (SQLite fts5.html §"FTS5
// shadow tables"); copying them copies the index.
var ftsShadowTables = []string{"entries_fts_data", "entries_fts_idx", "entries_fts_docsize", "entries_fts_config"}

// copyFTS replaces the empty entries_fts of db by the one built in side, and adds its terms.
func copyFTS(ctx context.Context, db *sql.DB, side string) error {
	if _, err := db.ExecContext(ctx, `ATTACH DATABASE ? AS side`, side); err != nil {
		return fmt.Errorf("attach index part: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("copy index part: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, t := range ftsShadowTables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM main.`+t+`; INSERT INTO main.`+t+` SELECT * FROM side.`+t); err != nil {
			return fmt.Errorf("copy index part %s: %w", t, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE main.terms(term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID;
		INSERT INTO main.terms SELECT term, docs FROM side.terms`); err != nil {
		return fmt.Errorf("copy vocabulary: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit index: %w", err)
	}
	if _, err := db.ExecContext(ctx, `DETACH DATABASE side`); err != nil {
		return fmt.Errorf("detach index part: %w", err)
	}
	return nil
}

// insertRows inserts one row per entry with the multi-row statement head, cols values per row
// appended by row; progress, when set, is called every 50,000 rows.
func insertRows(ctx context.Context, tx *sql.Tx, head string, cols int, entries []packed,
	row func(args []any, id int, p *packed, e *Entry) []any, progress func(string, int)) error {
	stmt, err := prepareBatch(ctx, tx, head, cols)
	if err != nil {
		return err
	}
	defer stmt.Close()
	const chunk = 10 * insertBatch
	args := make([]any, 0, chunk*cols)
	for start := 0; start < len(entries); start += chunk {
		args = args[:0]
		end := min(start+chunk, len(entries))
		for i := start; i < end; i++ {
			e := decodeEntry(entries[i].rec)
			args = row(args, i+1, &entries[i], &e)
		}
		if err := stmt.exec(ctx, args, cols); err != nil {
			return err
		}
		if progress != nil && (end%50000 == 0 || end == len(entries)) {
			progress("index", end)
		}
	}
	return nil
}

// recSep separates the fields of an entries.rec value; encodeEntry drops it from the fields.
const recSep = "\x1f"

// recFields lists the stored fields of an Entry, in rec order.
func recFields(e *Entry) []*string {
	return []*string{&e.Address, &e.Type, &e.NationalID, &e.Civility, &e.LastName, &e.FirstName,
		&e.ProfessionCode, &e.Profession, &e.Specialty, &e.Organization, &e.Service, &e.City,
		&e.PostalCode, &e.Department, &e.TradeName}
}

func encodeEntry(e *Entry) string {
	var b strings.Builder
	n := 0
	for _, f := range recFields(e) {
		n += len(*f) + 1
	}
	b.Grow(n)
	for i, f := range recFields(e) {
		if i > 0 {
			b.WriteString(recSep)
		}
		b.WriteString(strings.ReplaceAll(*f, recSep, ""))
	}
	return b.String()
}

func decodeEntry(rec string) Entry {
	var e Entry
	for _, f := range recFields(&e) {
		v, rest, _ := strings.Cut(rec, recSep)
		*f, rec = v, rest
	}
	e.Source = "local"
	return e
}

// insertBatch is the number of rows per INSERT statement: multi-row statements spare the
// per-statement cost of database/sql, which dominates a row-by-row import.
const insertBatch = 50

// batchStmt is a prepared multi-row INSERT of insertBatch rows, and its single-row twin for the
// tail.
type batchStmt struct {
	full, one *sql.Stmt
}

func prepareBatch(ctx context.Context, tx *sql.Tx, head string, cols int) (*batchStmt, error) {
	row := "(?" + strings.Repeat(",?", cols-1) + ")"
	full, err := tx.PrepareContext(ctx, head+row+strings.Repeat(","+row, insertBatch-1))
	if err != nil {
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	one, err := tx.PrepareContext(ctx, head+row)
	if err != nil {
		full.Close()
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	return &batchStmt{full, one}, nil
}

func (b *batchStmt) Close() {
	b.full.Close()
	b.one.Close()
}

// exec inserts the rows whose arguments are args (cols values per row).
func (b *batchStmt) exec(ctx context.Context, args []any, cols int) error {
	for len(args) >= insertBatch*cols {
		if _, err := b.full.ExecContext(ctx, args[:insertBatch*cols]...); err != nil {
			return err
		}
		args = args[insertBatch*cols:]
	}
	for ; len(args) > 0; args = args[cols:] {
		if _, err := b.one.ExecContext(ctx, args[:cols]...); err != nil {
			return err
		}
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReplaceIndex moves a freshly built index file over dst atomically (rename in one directory):
// readers holding the old file keep reading it, new searches see the new one.
func ReplaceIndex(built, dst string) error {
	if filepath.Dir(built) != filepath.Dir(dst) {
		return errors.New("replace index: the new index must be in the same directory")
	}
	if err := os.Rename(built, dst); err != nil {
		return fmt.Errorf("replace index: %w", err)
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		_ = d.Sync() // best effort: make the rename durable
		_ = d.Close()
	}
	return nil
}

// readOnlyDSN opens path read-only and immutable: an index file is never written after its
// rename into place (a new import replaces the file, it does not modify it).
func readOnlyDSN(path string) string {
	return fileURI(path, "mode=ro&immutable=1")
}

// fileURI returns the SQLite URI of path with the query: the path is made absolute first, as a
// relative one ("data/annuaire.db") would be read as the URI's authority and refused.
func fileURI(path, query string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: query}
	return u.String()
}
