package annuaire

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// ErrNoIndex means the local index has not been imported yet: run "mssante annuaire import".
var ErrNoIndex = errors.New("no local Annuaire Santé index (run: mssante annuaire import)")

// ErrEmptyQuery means the query has neither text nor filter.
var ErrEmptyQuery = errors.New("empty query")

const (
	defaultLimit = 20
	maxLimit     = 1000
	// rankCap is the number of matches above which a query is "broad" (a first letter, a common
	// word): ranking every match by bm25 would cost too much, so broad queries return matches in
	// name order, names first (see broad).
	rankCap = 200
	// maxWords bounds the words of a query.
	maxWords = 8
)

// Index is the local index of the extraction file, a Source. It reads the file at its path and
// reopens it when an import has replaced it, so a long-lived Index sees new imports while searches
// that started on the old file finish on it. Index is safe for concurrent use.
type Index struct {
	path string

	mu  sync.Mutex
	cur *handle
}

// handle is one opened index file, reference counted so that a replaced file is closed only when
// its last search ends.
type handle struct {
	db   *sql.DB
	fi   os.FileInfo
	refs int // searches in flight, plus one while it is the current handle
}

// OpenIndex returns the index stored at path. It does no I/O: the file is opened by the first
// search, and ErrNoIndex is returned while it does not exist.
func OpenIndex(path string) *Index { return &Index{path: path} }

// Path returns the index file's path.
func (x *Index) Path() string { return x.path }

// Close releases the opened file. Searches may still be made afterwards: they reopen it.
func (x *Index) Close() error {
	x.mu.Lock()
	h := x.cur
	x.cur = nil
	x.mu.Unlock()
	if h != nil {
		return x.release(h)
	}
	return nil
}

// acquire returns the handle of the current file, reopening it when it was replaced.
func (x *Index) acquire() (*handle, error) {
	fi, err := os.Stat(x.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoIndex
	} else if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.cur != nil && !os.SameFile(x.cur.fi, fi) {
		old := x.cur
		x.cur = nil
		old.refs--
		if old.refs == 0 {
			_ = old.db.Close()
		}
	}
	if x.cur == nil {
		db, err := sql.Open("sqlite", readOnlyDSN(x.path))
		if err != nil {
			return nil, fmt.Errorf("open index: %w", err)
		}
		db.SetMaxIdleConns(4)
		var v string
		if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'schema'`).Scan(&v); err != nil || v != schemaVersion {
			db.Close()
			if err == nil {
				err = fmt.Errorf("schema %q, want %q", v, schemaVersion)
			}
			return nil, fmt.Errorf("open index %s: %w (re-import it)", x.path, err)
		}
		x.cur = &handle{db: db, fi: fi, refs: 1}
	}
	x.cur.refs++
	return x.cur, nil
}

func (x *Index) release(h *handle) error {
	x.mu.Lock()
	h.refs--
	last := h.refs == 0
	x.mu.Unlock()
	if last {
		return h.db.Close()
	}
	return nil
}

// Search finds the entries matching q, best first: the words of q.Text are searched, accents and
// case folded, in names, profession, speciality, organisation, service, city and postcode, the
// last word as a prefix (search as you type). ECO.3.1.4.
func (x *Index) Search(ctx context.Context, q Query) ([]Entry, error) {
	h, err := x.acquire()
	if err != nil {
		return nil, err
	}
	defer x.release(h) //nolint:errcheck // a close error of a read-only file changes nothing
	return search(ctx, h.db, q)
}

func search(ctx context.Context, db *sql.DB, q Query) ([]Entry, error) {
	words := queryWords(q.Text)
	if filter, _ := filterExpr(q, false); len(words) == 0 && filter == "" {
		return nil, ErrEmptyQuery
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	res, err := match(ctx, db, words, false, q, limit)
	if err == nil && len(res) == 0 && len(words) > 1 {
		res, err = match(ctx, db, words, true, q, limit)
	}
	if err == nil && len(res) == 0 && len(words) > 0 {
		var fixed []string
		if fixed, err = correctWords(ctx, db, words); err == nil && fixed != nil {
			res, err = match(ctx, db, fixed, true, q, limit)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", q.Text, err)
	}
	return res, nil
}

// queryWords splits text into the words the tokenizer would see (letters and digits).
func queryWords(text string) []string {
	words := strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > maxWords {
		words = words[:maxWords]
	}
	return words
}

// filterExpr returns the FTS5 expression of the filters of q, "" when there is none. The tag
// tokens ("tper", "d75", "p10") occur only in the tags columns, so they need no column filter and
// the same expression serves both FTS tables. names says it is for the names table, which has
// no profession column: a profession label filter is then left out (ok false).
func filterExpr(q Query, names bool) (expr string, ok bool) {
	var parts []string
	ok = true
	if t := queryWords(q.Type); len(t) > 0 {
		parts = append(parts, quote("t"+t[0]))
	}
	if d := queryWords(q.Department); len(d) > 0 {
		parts = append(parts, quote("d"+d[0]))
	}
	if p := queryWords(q.Profession); len(p) == 1 && isDigits(p[0]) {
		parts = append(parts, quote("p"+p[0]))
	} else if len(p) > 0 && names {
		ok = false
	} else if len(p) > 0 {
		terms := make([]string, len(p))
		for i, w := range p {
			terms[i] = quote(w) + "*"
		}
		parts = append(parts, "profession:("+strings.Join(terms, " AND ")+")")
	}
	return strings.Join(parts, " AND "), ok
}

// quote makes w an FTS5 string.
func quote(w string) string { return `"` + strings.ReplaceAll(w, `"`, `""`) + `"` }

// Prefix expansion. FTS5 answers a prefix query without a prefix index by merging the doclists
// of every matching term before returning a row, which costs tens of milliseconds for a common
// word ("pharmaci*"). Prefixes of up to prefixIndexed characters have a prefix index; longer ones
// are expanded here to the OR of the indexed terms they start (found in the vocabulary table),
// which FTS5 iterates lazily, so a LIMIT stops it early.
const (
	prefixIndexed = 3
	maxExpansion  = 64
)

// wordExpr returns the FTS5 expression of one query word; ok is false when a prefix matches no
// indexed term (the query cannot match).
func wordExpr(ctx context.Context, db *sql.DB, w string, prefix bool) (string, bool, error) {
	if !prefix {
		return quote(w), true, nil
	}
	f := Fold(w)
	if utf8.RuneCountInString(f) <= prefixIndexed {
		return quote(w) + "*", true, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT term FROM terms WHERE term >= ? AND term < ? LIMIT ?`,
		f, f+"\U0010FFFF", maxExpansion+1)
	if err != nil {
		return "", false, err
	}
	defer rows.Close()
	var terms []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return "", false, err
		}
		terms = append(terms, quote(t))
	}
	if err := rows.Err(); err != nil {
		return "", false, err
	}
	switch {
	case len(terms) == 0:
		return "", false, nil
	case len(terms) > maxExpansion:
		return quote(w) + "*", true, nil
	case len(terms) == 1:
		return terms[0], true, nil
	}
	return "(" + strings.Join(terms, " OR ") + ")", true, nil
}

// textColumns are the FTS columns searched by free text (all but tags).
const textColumns = "{last_name first_name profession specialty organization service city postal_code}"

// match returns the best matches: ranked (rankEntries) when there are at most rankCap of them,
// else (a broad query: a first letter, a common word) in name order, the matches on the main
// name first.
func match(ctx context.Context, db *sql.DB, words []string, allPrefix bool, q Query, limit int) ([]Entry, error) {
	var wordParts []string
	for i, w := range words {
		prefix := allPrefix || i == len(words)-1
		e, ok, err := wordExpr(ctx, db, w, prefix)
		if err != nil {
			return nil, err
		}
		if syn := synonym(w); syn != "" { // "st" matches "saint" and the reverse
			se, sok, err := wordExpr(ctx, db, syn, prefix)
			if err != nil {
				return nil, err
			}
			switch {
			case sok && ok:
				e = "(" + e + " OR " + se + ")"
			case sok:
				e, ok = se, true
			}
		}
		if !ok {
			return nil, nil
		}
		wordParts = append(wordParts, e)
	}
	filter, _ := filterExpr(q, false)
	var parts []string
	if len(wordParts) > 0 {
		parts = append(parts, textColumns+":("+strings.Join(wordParts, " AND ")+")")
	}
	if filter != "" {
		parts = append(parts, filter)
	}
	all := strings.Join(parts, " AND ")
	// One streaming pass gives the candidates in name order, up to rankCap+1.
	cands, err := queryIDs(ctx, db, `SELECT rowid FROM entries_fts WHERE entries_fts MATCH ? LIMIT ?`,
		nil, all, max(rankCap, limit)+1)
	if err != nil || len(cands) == 0 {
		return nil, err
	}
	if len(cands) <= rankCap {
		entries, err := loadEntries(ctx, db, cands)
		if err != nil {
			return nil, err
		}
		rankEntries(entries, words)
		return entries[:min(limit, len(entries))], nil
	}
	// Broad: main names first (names table, name order), then the other candidates.
	var ids []int64
	seen := map[int64]bool{}
	if nameFilter, ok := filterExpr(q, true); ok && len(wordParts) > 0 {
		expr := strings.Join(wordParts, " AND ")
		if nameFilter != "" {
			expr += " AND " + nameFilter
		}
		if ids, err = queryIDs(ctx, db, `SELECT rowid FROM names_fts WHERE names_fts MATCH ? LIMIT ?`, nil, expr, limit); err != nil {
			return nil, err
		}
		for _, id := range ids {
			seen[id] = true
		}
	}
	for _, id := range cands {
		if len(ids) >= limit {
			break
		}
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	return loadEntries(ctx, db, ids)
}

// queryIDs runs a query returning rowids, leaving out those in skip.
func queryIDs(ctx context.Context, db *sql.DB, query string, skip map[int64]bool, args ...any) ([]int64, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		if !skip[id] {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}

// loadEntries reads the entries of ids, in the order of ids.
func loadEntries(ctx context.Context, db *sql.DB, ids []int64) ([]Entry, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := db.QueryContext(ctx, `SELECT id, rec FROM entries WHERE id IN (?`+
		strings.Repeat(",?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("load entries: %w", err)
	}
	defer rows.Close()
	byID := make(map[int64]Entry, len(ids))
	for rows.Next() {
		var id int64
		var rec string
		if err := rows.Scan(&id, &rec); err != nil {
			return nil, fmt.Errorf("load entries: %w", err)
		}
		byID[id] = decodeEntry(rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load entries: %w", err)
	}
	out := make([]Entry, 0, len(ids))
	for _, id := range ids {
		if e, ok := byID[id]; ok {
			out = append(out, e)
		}
	}
	return out, nil
}
