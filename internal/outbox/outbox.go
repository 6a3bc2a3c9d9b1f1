package outbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mssante/mssante/internal/store"
)

// State is the state of an outbox message.
type State string

// The states of a message. queued → sending → sent → delivered | read | bounced; sending →
// queued again after a temporary refusal (with back-off), → failed after a permanent one.
const (
	Queued    State = "queued"    // stored, waiting for a worker (first attempt or a retry)
	Sending   State = "sending"   // leased by a worker that is submitting it
	Sent      State = "sent"      // accepted by the submission server (250 after DATA)
	Delivered State = "delivered" // a DSN reports delivery (RFC 3464)
	Read      State = "read"      // an MDN reports it was displayed (RFC 8098)
	Bounced   State = "bounced"   // a DSN or a bounce reports a failed delivery
	Failed    State = "failed"    // refused permanently, or given up after MaxAttempts
)

// timeLayout is fixed-width UTC: text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeLayout, s)
	return t
}

var (
	// ErrNoMessageID means the message has no Message-ID header: Add refuses it (EnsureMessageID
	// adds one), since the Message-ID is what makes a second copy recognisable.
	ErrNoMessageID = errors.New("message has no Message-ID")
	// ErrNotFound means no outbox message has that id.
	ErrNotFound = errors.New("outbox message not found")
)

// DSN are the delivery status notification options of a message (RFC 3461).
type DSN struct {
	Return     string   `json:"return,omitempty"`      // "HDRS" (default) or "FULL"
	Notify     []string `json:"notify,omitempty"`      // default SUCCESS,FAILURE,DELAY
	EnvelopeID string   `json:"envelope_id,omitempty"` // ENVID; Add sets the Message-ID when empty
}

// Message is what Add stores.
type Message struct {
	Account string   // the mailbox that sends it (its SMTP session)
	From    string   // envelope sender (MAIL FROM)
	Rcpts   []string // envelope recipients (RCPT TO)
	Raw     []byte   // the message as it goes on the wire, with its Message-ID
	DSN     *DSN     // nil: no DSN asked
}

// Entry is an outbox message as status shows it.
type Entry struct {
	ID            int64     `json:"id"`
	MessageID     string    `json:"message_id"`
	State         State     `json:"state"`
	Reason        string    `json:"reason,omitempty"`
	Account       string    `json:"account"`
	From          string    `json:"from"`
	Rcpts         []string  `json:"rcpts"`
	Size          int64     `json:"size"`
	Attempts      int       `json:"attempts"`
	Response      string    `json:"response,omitempty"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Added is set by Add when the message was stored by this call (false: it was already there).
	Added bool `json:"-"`
}

// Event is one state change of the timeline of a message.
type Event struct {
	At      time.Time `json:"at"`
	State   State     `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	Attempt int       `json:"attempt"`
	Owner   string    `json:"owner,omitempty"`
}

// Options configures an Outbox. The zero value is usable.
type Options struct {
	Now    func() time.Time // clock; time.Now when nil
	Rand   io.Reader        // jitter of the back-off and lease owner ids; crypto/rand when nil
	Logger *slog.Logger     // slog.Default() when nil

	// Owner names this process in leases; default "host:pid:random".
	Owner string
	// Lease is how long a worker holds a message without renewing it (default 1 minute). A
	// worker renews at a third of it while it sends; a dead worker's message is taken again when
	// its lease has expired.
	Lease time.Duration
	// Dead, when set, tells whether the lease owner named is known to be dead (a process of
	// this host that no longer exists: see LocalDead). Run then takes its messages at once
	// instead of waiting for their leases to expire. Nil: leases always run out.
	Dead func(owner string) bool
	// Grace is how long a submission under way may still take when the run is stopped
	// (default 10 seconds).
	Grace time.Duration
	// Backoff is the delay before a retry after a temporary refusal.
	Backoff Backoff
	// MaxAttempts is the number of attempts after which a temporarily refused message fails
	// (default 12: with the default back-off, about 10 hours).
	MaxAttempts int
}

// Backoff is exponential with jitter and a cap: attempt n waits a random time in
// [d/2, d] where d = min(Cap, Base·2^(n-1)).
type Backoff struct {
	Base time.Duration // default 30 seconds
	Cap  time.Duration // default 1 hour
}

// Delay returns the wait after the failed attempt n (1-based), r giving the jitter in [0,1).
func (b Backoff) Delay(n int, r float64) time.Duration {
	base, ceil := b.Base, b.Cap
	if base <= 0 {
		base = 30 * time.Second
	}
	if ceil <= 0 {
		ceil = time.Hour
	}
	d := base
	for i := 1; i < n && d < ceil; i++ {
		d *= 2
	}
	d = min(d, ceil)
	return d/2 + time.Duration(r*float64(d/2))
}

// Outbox is the durable outbox of one store. It is safe for concurrent use, by several
// goroutines and by several processes sharing the database.
type Outbox struct {
	db   *store.DB
	opts Options
	mu   sync.Mutex // guards opts.Rand for the jitter
}

// New returns the outbox kept in db, which must have been opened with Migrations.
func New(db *store.DB, opts *Options) *Outbox {
	o := &Outbox{db: db}
	if opts != nil {
		o.opts = *opts
	}
	if o.opts.Now == nil {
		o.opts.Now = time.Now
	}
	if o.opts.Rand == nil {
		o.opts.Rand = rand.Reader
	}
	if o.opts.Logger == nil {
		o.opts.Logger = slog.Default()
	}
	if o.opts.Lease <= 0 {
		o.opts.Lease = time.Minute
	}
	if o.opts.Grace <= 0 {
		o.opts.Grace = 10 * time.Second
	}
	if o.opts.MaxAttempts <= 0 {
		o.opts.MaxAttempts = 12
	}
	if o.opts.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = io.ReadFull(o.opts.Rand, b[:])
		o.opts.Owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return o
}

// Owner is the lease owner name of this outbox.
func (o *Outbox) Owner() string { return o.opts.Owner }

// jitter returns a number in [0,1) from opts.Rand.
func (o *Outbox) jitter() float64 {
	var b [8]byte
	if _, err := io.ReadFull(o.opts.Rand, b[:]); err != nil {
		return 0.5
	}
	return float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53)
}

// Add stores m, queued, before any SMTP command. The Message-ID is read from m.Raw
// (ErrNoMessageID without one: see EnsureMessageID). Adding a message whose Message-ID the
// account already has in the outbox stores nothing and returns the existing entry (Added false),
// so that adding the same file twice never sends it twice.
func (o *Outbox) Add(ctx context.Context, m Message) (Entry, error) {
	id, err := MessageID(m.Raw)
	if err != nil {
		return Entry{}, fmt.Errorf("add to outbox: %w", err)
	}
	if m.Account == "" || m.From == "" || len(m.Rcpts) == 0 {
		return Entry{}, errors.New("add to outbox: account, sender and recipients are required")
	}
	rcpts, _ := json.Marshal(m.Rcpts)
	dsn := ""
	if m.DSN != nil {
		d := *m.DSN
		if d.EnvelopeID == "" {
			d.EnvelopeID = id
		}
		b, _ := json.Marshal(d)
		dsn = string(b)
	}
	now := formatTime(o.opts.Now())
	var e Entry
	err = o.db.InTx(ctx, func(tx *store.Tx) error {
		var rowID int64
		err := tx.QueryRowContext(ctx, `INSERT INTO outbox_messages
			(account, message_id, mail_from, rcpts, dsn, raw, size, state, next_attempt_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (account, message_id) DO NOTHING RETURNING id`,
			m.Account, id, m.From, string(rcpts), dsn, m.Raw, int64(len(m.Raw)), string(Queued), now, now, now).Scan(&rowID)
		added := true
		switch {
		case errors.Is(err, sql.ErrNoRows):
			added = false
			if err := tx.QueryRowContext(ctx, `SELECT id FROM outbox_messages WHERE account = ? AND message_id = ?`,
				m.Account, id).Scan(&rowID); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if err := addEvent(ctx, tx, rowID, now, Queued, "", 0, ""); err != nil {
				return err
			}
		}
		e, err = get(ctx, tx, rowID)
		e.Added = added
		return err
	})
	if err != nil {
		return Entry{}, fmt.Errorf("add to outbox: %w", err)
	}
	return e, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func addEvent(ctx context.Context, tx execer, id int64, at string, s State, reason string, attempt int, owner string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO outbox_events (message, at, state, reason, attempt, owner)
		VALUES (?, ?, ?, ?, ?, ?)`, id, at, string(s), reason, attempt, owner)
	return err
}

const entryColumns = `id, message_id, state, reason, account, mail_from, rcpts, size, attempts, response,
	next_attempt_at, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanEntry(s scanner) (Entry, error) {
	var (
		e                     Entry
		state, rcpts          string
		next, created, update string
	)
	if err := s.Scan(&e.ID, &e.MessageID, &state, &e.Reason, &e.Account, &e.From, &rcpts, &e.Size, &e.Attempts,
		&e.Response, &next, &created, &update); err != nil {
		return Entry{}, err
	}
	e.State = State(state)
	_ = json.Unmarshal([]byte(rcpts), &e.Rcpts)
	if e.State == Queued {
		e.NextAttemptAt = parseTime(next)
	}
	e.CreatedAt, e.UpdatedAt = parseTime(created), parseTime(update)
	return e, nil
}

func get(ctx context.Context, q queryer, id int64) (Entry, error) {
	e, err := scanEntry(q.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM outbox_messages WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, fmt.Errorf("outbox message %d: %w", id, ErrNotFound)
	}
	return e, err
}

// Get returns the message id.
func (o *Outbox) Get(ctx context.Context, id int64) (Entry, error) {
	return get(ctx, o.db, id)
}

// Filter selects messages for List; the zero value selects all.
type Filter struct {
	Account string
	States  []State
}

// List returns the messages matching f, oldest first.
func (o *Outbox) List(ctx context.Context, f Filter) ([]Entry, error) {
	q := `SELECT ` + entryColumns + ` FROM outbox_messages WHERE 1 = 1`
	var args []any
	if f.Account != "" {
		q += ` AND account = ?`
		args = append(args, f.Account)
	}
	if len(f.States) > 0 {
		q += ` AND state IN (?` + strings.Repeat(`, ?`, len(f.States)-1) + `)`
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	rows, err := o.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("list outbox: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return out, nil
}

// Timeline returns the state changes of message id, oldest first.
func (o *Outbox) Timeline(ctx context.Context, id int64) ([]Event, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT at, state, reason, attempt, owner FROM outbox_events
		WHERE message = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("outbox timeline: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			ev        Event
			at, state string
		)
		if err := rows.Scan(&at, &state, &ev.Reason, &ev.Attempt, &ev.Owner); err != nil {
			return nil, fmt.Errorf("outbox timeline: %w", err)
		}
		ev.At, ev.State = parseTime(at), State(state)
		out = append(out, ev)
	}
	return out, rows.Err()
}
