package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mssante/mssante/internal/store"
)

// Action is the type of a traced operation.
type Action string

// Actions traced by mssante.
const (
	ActionConnect Action = "connect"
	ActionAuth    Action = "auth"
	ActionSend    Action = "send"
	ActionList    Action = "list"
	ActionRead    Action = "read"
	ActionFlag    Action = "flag"
	ActionMove    Action = "move"
	ActionDelete  Action = "delete"
	ActionAppend  Action = "append"
	ActionIdle    Action = "idle"
	ActionLogout  Action = "logout"
	// ActionNote is an operator's note, written by "mssante audit append", not by a mail operation.
	ActionNote Action = "note"
)

// Known reports whether a is one of the actions above.
func (a Action) Known() bool {
	switch a {
	case ActionConnect, ActionAuth, ActionSend, ActionList, ActionRead, ActionFlag, ActionMove,
		ActionDelete, ActionAppend, ActionIdle, ActionLogout, ActionNote:
		return true
	}
	return false
}

// Event is one traced operation.
type Event struct {
	// Seq is the position in the trail, from 1; set by Append.
	Seq int64 `json:"seq"`
	// Time is the local time of the operation, with its UTC offset.
	Time time.Time `json:"time"`
	// Author is the authenticated author: the professional's national id (RPPS/ADELI) for a
	// personal or organisational mailbox, the organisation id or certificate subject for an
	// applicative one.
	Author string `json:"author"`
	// Account is the mailbox address the operation was made on.
	Account string `json:"account"`
	Action  Action `json:"action"`
	// Server is the host:port of the mail server.
	Server string `json:"server,omitempty"`
	// Request is what was sent to the server (protocol command, redacted).
	Request string `json:"request"`
	// Response is the server's answer (status line or summary), failures included.
	Response string `json:"response"`
	// OK reports whether the operation succeeded.
	OK bool `json:"ok"`
	// Error is the failure as the client saw it, empty on success.
	Error string `json:"error,omitempty"`
	// Hash is the SHA-256 (hex) chaining this event to the previous one; set by Append.
	Hash string `json:"hash"`
}

// DefaultRetention is the retention the referential recommends (ECO.4.1.1): six months.
const DefaultRetention = 183 * 24 * time.Hour

// Migrations create the trail's tables; pass them to store.Open. Seq is assigned by Append (the
// head's seq + 1), not by the database, so it is a plain BIGINT key on PostgreSQL.
var Migrations = []store.Migration{{Package: "audit", Version: 1, SQL: `
CREATE TABLE audit_events (
	seq      INTEGER PRIMARY KEY,
	time     TEXT NOT NULL,
	author   TEXT NOT NULL,
	account  TEXT NOT NULL,
	action   TEXT NOT NULL,
	server   TEXT NOT NULL,
	request  TEXT NOT NULL,
	response TEXT NOT NULL,
	ok       INTEGER NOT NULL,
	error    TEXT NOT NULL,
	hash     TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE TABLE audit_anchor (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  INTEGER NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_anchor (id, seq, hash) VALUES (1, 0, '');
`, Postgres: `
CREATE TABLE audit_events (
	seq      BIGINT PRIMARY KEY,
	time     TEXT NOT NULL,
	author   TEXT NOT NULL,
	account  TEXT NOT NULL,
	action   TEXT NOT NULL,
	server   TEXT NOT NULL,
	request  TEXT NOT NULL,
	response TEXT NOT NULL,
	ok       INTEGER NOT NULL,
	error    TEXT NOT NULL,
	hash     TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time);
CREATE TABLE audit_anchor (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_anchor (id, seq, hash) VALUES (1, 0, '');
`}, {Package: "audit", Version: 2, SQL: `
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  INTEGER NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
	SELECT 1, seq, hash FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)
	UNION ALL SELECT 1, seq, hash FROM audit_anchor WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM audit_events);
`, Postgres: `
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
	SELECT 1, seq, hash FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)
	UNION ALL SELECT 1, seq, hash FROM audit_anchor WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM audit_events);
`}}

// The audit_head row repeats the seq and hash of the last event appended (the anchor's while the
// trail is empty): without it, removing the last events would leave a chain that still verifies.
// It is also the lock that keeps the chain linear when several processes append to one database:
// Append reads it locked (SELECT … FOR UPDATE on PostgreSQL; on SQLite the transaction holds the
// database's write lock from BEGIN IMMEDIATE), so the next append waits for this one's commit.

// Options configure a Trail. A nil *Options means the defaults.
type Options struct {
	// Now gives the time of events whose Time is zero; default time.Now (local time).
	Now func() time.Time
}

// Trail is the audit trail in a database. It is safe for concurrent use, by several goroutines
// and by several processes sharing the database: the database serialises the appends.
type Trail struct {
	db  *store.DB
	now func() time.Time
}

// New returns the trail stored in db (migrated with Migrations). It does no I/O.
func New(db *store.DB, o *Options) *Trail {
	t := &Trail{db: db, now: time.Now}
	if o != nil && o.Now != nil {
		t.now = o.Now
	}
	return t
}

// timeLayout keeps the local offset: the referential asks for the local time (ECO.4.1.2).
const timeLayout = "2006-01-02T15:04:05.000000000-07:00"

// Append redacts, chains and stores e, and returns it as stored.
func (t *Trail) Append(ctx context.Context, e Event) (Event, error) {
	if e.Time.IsZero() {
		e.Time = t.now()
	}
	e.Request, e.Response, e.Error = Redact(e.Request), Redact(e.Response), Redact(e.Error)
	err := t.db.InTx(ctx, func(tx *store.Tx) error {
		prevSeq, prevHash, err := lockHead(ctx, tx)
		if err != nil {
			return err
		}
		e.Seq = prevSeq + 1
		e.Hash = chainHash(prevHash, e)
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events (seq, time, author, account, action, server, request, response, ok, error, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, e.Time.Format(timeLayout), e.Author, e.Account, string(e.Action), e.Server, e.Request, e.Response, boolInt(e.OK), e.Error, e.Hash); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, e.Seq, e.Hash)
		return err
	})
	if err != nil {
		return Event{}, fmt.Errorf("audit append: %w", err)
	}
	return e, nil
}

// ErrNoHead is returned by Append and Prune when the head record of the chain is missing: the
// trail was tampered with, and appending would hide it.
var ErrNoHead = errors.New("head record of the audit trail missing (tampered); run audit verify")

// lockHead reads the head record and locks it until the end of tx.
func lockHead(ctx context.Context, tx *store.Tx) (int64, string, error) {
	q := `SELECT seq, hash FROM audit_head WHERE id = 1`
	if tx.Dialect() == store.Postgres {
		q += ` FOR UPDATE`
	}
	var seq int64
	var hash string
	err := tx.QueryRowContext(ctx, q).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", ErrNoHead
	}
	return seq, hash, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// chainHash is SHA-256 over the previous hash and a canonical encoding of every field of e but
// Hash. The encoding is JSON of a fixed struct, so field order and escaping are stable.
func chainHash(prev string, e Event) string {
	canonical, _ := json.Marshal(struct {
		Prev                                               string
		Seq                                                int64
		Time                                               string
		Author, Account, Action, Server, Request, Response string
		OK                                                 bool
		Error                                              string
	}{prev, e.Seq, e.Time.Format(timeLayout), e.Author, e.Account, string(e.Action), e.Server, e.Request, e.Response, e.OK, e.Error})
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// Problem is one break of the chain found by Verify.
type Problem struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// Report is the result of Verify.
type Report struct {
	Events   int64     `json:"events"`
	FirstSeq int64     `json:"first_seq"`
	LastSeq  int64     `json:"last_seq"`
	HeadHash string    `json:"head_hash"`
	Problems []Problem `json:"problems"`
}

// ErrTampered is returned by Verify when the chain is broken; the Report lists where.
var ErrTampered = errors.New("audit trail tampered")

// Verify walks the chain from the anchor and reports every changed, inserted or removed event,
// the last ones included (they are checked against the head record that Append keeps).
func (t *Trail) Verify(ctx context.Context) (Report, error) {
	var r Report
	// One snapshot: appends going on while Verify reads must not look like a broken chain.
	err := t.db.InReadTx(ctx, func(tx *store.Tx) error {
		var err error
		r, err = verify(ctx, tx)
		return err
	})
	if err != nil {
		return r, fmt.Errorf("audit verify: %w", err)
	}
	if len(r.Problems) > 0 {
		return r, fmt.Errorf("%w: %d problem(s), first at event %d: %s", ErrTampered, len(r.Problems), r.Problems[0].Seq, r.Problems[0].Reason)
	}
	return r, nil
}

func verify(ctx context.Context, tx *store.Tx) (Report, error) {
	var r Report
	var anchorSeq int64
	var prevHash string
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_anchor WHERE id = 1`).Scan(&anchorSeq, &prevHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		r.Problems = append(r.Problems, Problem{Seq: 0, Reason: "anchor record of the chain removed"})
	case err != nil:
		return r, err
	}
	var headSeq int64
	var headHash string
	haveHead := true
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&headSeq, &headHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		haveHead = false
		r.Problems = append(r.Problems, Problem{Seq: 0, Reason: "head record of the chain removed"})
	case err != nil:
		return r, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, time, author, account, action, server, request, response, ok, error, hash FROM audit_events ORDER BY seq`)
	if err != nil {
		return r, err
	}
	defer rows.Close()
	want := anchorSeq + 1
	for rows.Next() {
		e, err := scanEvent(rows)
		var timeErr *timeError
		if errors.As(err, &timeErr) {
			// A time that no longer parses was changed by hand: a problem, not a failure.
			r.Problems = append(r.Problems, Problem{Seq: e.Seq, Reason: "time field changed (" + timeErr.Error() + ")"})
		} else if err != nil {
			return r, err
		}
		if r.Events == 0 {
			r.FirstSeq = e.Seq
		}
		r.Events++
		r.LastSeq = e.Seq
		switch {
		case e.Seq > want:
			r.Problems = append(r.Problems, Problem{Seq: want, Reason: fmt.Sprintf("events %d to %d removed", want, e.Seq-1)})
		case e.Seq < want:
			r.Problems = append(r.Problems, Problem{Seq: e.Seq, Reason: "event before the anchor of the chain"})
		}
		if timeErr == nil && chainHash(prevHash, e) != e.Hash {
			r.Problems = append(r.Problems, Problem{Seq: e.Seq, Reason: "content or link does not match its hash (changed, inserted or reordered)"})
		}
		prevHash, want = e.Hash, e.Seq+1
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	r.HeadHash = prevHash
	if haveHead {
		last := want - 1
		switch {
		case headSeq > last:
			r.Problems = append(r.Problems, Problem{Seq: last + 1, Reason: fmt.Sprintf("events %d to %d removed from the end of the trail", last+1, headSeq)})
		case headSeq < last:
			r.Problems = append(r.Problems, Problem{Seq: headSeq + 1, Reason: fmt.Sprintf("events %d to %d appended outside the trail", headSeq+1, last)})
		case headHash != prevHash:
			r.Problems = append(r.Problems, Problem{Seq: last, Reason: "last event does not match the head record (changed or replaced)"})
		}
	}
	return r, nil
}

// timeError is a stored time that does not parse.
type timeError struct {
	seq int64
	ts  string
}

func (e *timeError) Error() string { return fmt.Sprintf("event %d: unreadable time %q", e.seq, e.ts) }

func scanEvent(rows *sql.Rows) (Event, error) {
	var e Event
	var ts, action string
	if err := rows.Scan(&e.Seq, &ts, &e.Author, &e.Account, &action, &e.Server, &e.Request, &e.Response, &e.OK, &e.Error, &e.Hash); err != nil {
		return e, err
	}
	e.Action = Action(action)
	var err error
	if e.Time, err = time.Parse(timeLayout, ts); err != nil {
		return e, &timeError{seq: e.Seq, ts: ts}
	}
	return e, nil
}

// Export writes the events at or after since (all when zero) as JSON lines, from one snapshot of
// the trail.
func (t *Trail) Export(ctx context.Context, w io.Writer, since time.Time) (int, error) {
	n := 0
	err := t.db.InReadTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT seq, time, author, account, action, server, request, response, ok, error, hash FROM audit_events ORDER BY seq`)
		if err != nil {
			return err
		}
		defer rows.Close()
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return err
			}
			if !since.IsZero() && e.Time.Before(since) {
				continue
			}
			if err := enc.Encode(e); err != nil {
				return err
			}
			n++
		}
		return rows.Err()
	})
	if err != nil {
		return n, fmt.Errorf("audit export: %w", err)
	}
	return n, nil
}

// Prune removes the events older than now − retention and moves the anchor to the last removed
// event, so that Verify still checks the rest of the chain. It returns how many were removed. It
// holds the head lock, so it never runs between the read and the write of an Append.
func (t *Trail) Prune(ctx context.Context, retention time.Duration) (int64, error) {
	if retention <= 0 {
		return 0, nil
	}
	cutoff := t.now().Add(-retention)
	var n int64
	err := t.db.InTx(ctx, func(tx *store.Tx) error {
		n = 0
		if _, _, err := lockHead(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT seq, time, hash FROM audit_events ORDER BY seq`)
		if err != nil {
			return err
		}
		var lastSeq int64
		var lastHash string
		for rows.Next() {
			var seq int64
			var ts, hash string
			if err := rows.Scan(&seq, &ts, &hash); err != nil {
				rows.Close()
				return err
			}
			when, err := time.Parse(timeLayout, ts)
			if err != nil || !when.Before(cutoff) {
				break // events are in time order; stop at the first one to keep
			}
			lastSeq, lastHash = seq, hash
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if lastSeq == 0 {
			return nil
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE seq <= ?`, lastSeq)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE audit_anchor SET seq = ?, hash = ? WHERE id = 1`, lastSeq, lastHash); err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("audit prune: %w", err)
	}
	return n, nil
}
