package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mssante/mssante/internal/store"
)

// RunOptions configures Run.
type RunOptions struct {
	// Workers is the number of goroutines sending (default 1). Each has its own SMTP sessions.
	Workers int
	// Once makes Run return when no message is due and none is being sent (by this process or
	// another, whose lease has not expired); otherwise Run polls until ctx ends.
	Once bool
	// Account restricts Run to the messages of one account (the one whose credentials the
	// Sender holds); empty: every account.
	Account string
	// Poll is the pause when nothing is due (default 1 second).
	Poll time.Duration
	// Progress, when set, is called after each attempt with the message's new entry.
	Progress func(Entry)
}

// Stats counts the attempts of one Run.
type Stats struct {
	Attempts int `json:"attempts"`
	Sent     int `json:"sent"`
	Retried  int `json:"retried"` // temporary refusals, queued again
	Failed   int `json:"failed"`  // permanent refusals and give-ups
}

// claimed is a message leased by this process.
type claimed struct {
	id        int64
	messageID string
	account   string
	from      string
	rcpts     []string
	dsn       *DSN
	raw       []byte
	attempt   int
	expires   time.Time
}

// due is the condition of a message a worker may take: queued and due, or being sent by a
// worker whose lease has expired (it died, or lost the database).
const due = `((state = 'queued' AND next_attempt_at <= ?) OR (state = 'sending' AND lease_expires_at <= ?))`

// claim leases the next due message, in one transaction: on PostgreSQL the row is selected FOR
// UPDATE SKIP LOCKED (concurrent workers take different rows, none waits); on SQLite the
// transaction is BEGIN IMMEDIATE (the database write lock serialises the claims of every process).
// The UPDATE repeats the condition, so a row that stopped being due is never taken. nil, nil: none
// is due.
func (o *Outbox) claim(ctx context.Context, account string) (*claimed, error) {
	var c *claimed
	err := o.db.InTx(ctx, func(tx *store.Tx) error {
		c = nil
		now := o.opts.Now()
		ts := formatTime(now)
		q := `SELECT id, message_id, account, mail_from, rcpts, dsn, raw, attempts, state, lease_owner
			FROM outbox_messages WHERE ` + due
		args := []any{ts, ts}
		if account != "" {
			q += ` AND account = ?`
			args = append(args, account)
		}
		q += ` ORDER BY next_attempt_at, id LIMIT 1`
		if tx.Dialect() == store.Postgres {
			q += ` FOR UPDATE SKIP LOCKED`
		}
		var (
			m                       claimed
			rcpts, dsn, state, prev string
		)
		err := tx.QueryRowContext(ctx, q, args...).Scan(&m.id, &m.messageID, &m.account, &m.from, &rcpts, &dsn,
			&m.raw, &m.attempt, &state, &prev)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		m.attempt++
		m.expires = now.Add(o.opts.Lease)
		res, err := tx.ExecContext(ctx, `UPDATE outbox_messages SET state = ?, lease_owner = ?, lease_expires_at = ?,
			attempts = ?, updated_at = ? WHERE id = ? AND `+due,
			string(Sending), o.opts.Owner, formatTime(m.expires), m.attempt, ts, m.id, ts, ts)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err // taken meanwhile (cannot happen under the lock; nothing claimed)
		}
		reason := ""
		if State(state) == Sending {
			reason = fmt.Sprintf("lease of %s expired: the previous attempt may have reached the server, sent again with the same Message-ID", prev)
		}
		if err := addEvent(ctx, tx, m.id, ts, Sending, reason, m.attempt, o.opts.Owner); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(rcpts), &m.rcpts); err != nil {
			return fmt.Errorf("recipients of outbox message %d: %w", m.id, err)
		}
		if dsn != "" {
			m.dsn = new(DSN)
			if err := json.Unmarshal([]byte(dsn), m.dsn); err != nil {
				return fmt.Errorf("DSN options of outbox message %d: %w", m.id, err)
			}
		}
		c = &m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox message: %w", err)
	}
	return c, nil
}

// renew extends the lease of c; false when this worker no longer holds it.
func (o *Outbox) renew(ctx context.Context, c *claimed) (bool, error) {
	exp := o.opts.Now().Add(o.opts.Lease)
	res, err := o.db.ExecContext(ctx, `UPDATE outbox_messages SET lease_expires_at = ?
		WHERE id = ? AND state = ? AND lease_owner = ?`, formatTime(exp), c.id, string(Sending), o.opts.Owner)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// hold renews the lease of c every third of the lease until the returned stop is called. The
// context it returns ends when the lease is lost or could not be renewed before it expires: the
// submission is then abandoned (before the end of DATA, the server discards it), so that two
// workers never send one message at the same time.
//
// When ctx ends (the run is stopped), a submission under way gets Options.Grace to finish, so that
// stopping a run does not itself open the duplicate window; then it is abandoned.
func (o *Outbox) hold(ctx context.Context, c *claimed) (context.Context, func()) {
	sctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(o.opts.Grace, func() { cancel(fmt.Errorf("run stopped: %w", context.Cause(ctx))) })
		context.AfterFunc(sctx, func() { t.Stop() })
	})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := o.opts.Lease / 3
		t := time.NewTicker(every)
		defer t.Stop()
		held := time.Now()
		for {
			select {
			case <-done:
				return
			case <-sctx.Done():
				return
			case <-t.C:
			}
			ok, err := o.renew(sctx, c)
			switch {
			case err == nil && ok:
				held = time.Now()
			case err == nil:
				cancel(fmt.Errorf("lease of outbox message %d taken by another worker", c.id))
				return
			case time.Since(held) > o.opts.Lease-every:
				cancel(fmt.Errorf("lease of outbox message %d not renewed: %w", c.id, err))
				return
			default:
				o.opts.Logger.Warn("outbox lease renewal failed, retrying", "id", c.id, "err", err)
			}
		}
	}()
	return sctx, func() { close(done); wg.Wait(); stopGrace(); cancel(nil) }
}

// finish records the outcome of an attempt and returns the message's new entry.
func (o *Outbox) finish(ctx context.Context, c *claimed, out Result, sendErr error, interrupted bool) (Entry, State, error) {
	ctx = context.WithoutCancel(ctx)
	var (
		state  State
		reason string
		next   time.Time
	)
	now := o.opts.Now()
	switch {
	case sendErr == nil:
		state = Sent
	case interrupted:
		state, reason, next = Queued, "interrupted: "+sendErr.Error(), now
	case permanent(sendErr):
		state, reason = Failed, sendErr.Error()
	case c.attempt >= o.opts.MaxAttempts:
		state, reason = Failed, fmt.Sprintf("given up after %d attempts: %v", c.attempt, sendErr)
	default:
		o.mu.Lock()
		j := o.jitter()
		o.mu.Unlock()
		state, reason, next = Queued, sendErr.Error(), now.Add(o.opts.Backoff.Delay(c.attempt, j))
	}
	ts := formatTime(now)
	var e Entry
	err := o.db.InTx(ctx, func(tx *store.Tx) error {
		var (
			res sql.Result
			err error
		)
		if state == Sent {
			// The server accepted it: recorded even if the lease was lost meanwhile.
			res, err = tx.ExecContext(ctx, `UPDATE outbox_messages SET state = ?, reason = '', response = ?,
				lease_owner = '', lease_expires_at = '', updated_at = ? WHERE id = ? AND state IN (?, ?)`,
				string(Sent), out.Response, ts, c.id, string(Queued), string(Sending))
		} else {
			nextTS := ""
			if state == Queued {
				nextTS = formatTime(next)
			}
			res, err = tx.ExecContext(ctx, `UPDATE outbox_messages SET state = ?, reason = ?, next_attempt_at = CASE WHEN ? = '' THEN next_attempt_at ELSE ? END,
				lease_owner = '', lease_expires_at = '', updated_at = ? WHERE id = ? AND state = ? AND lease_owner = ?`,
				string(state), reason, nextTS, nextTS, ts, c.id, string(Sending), o.opts.Owner)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			if err := addEvent(ctx, tx, c.id, ts, state, reason, c.attempt, o.opts.Owner); err != nil {
				return err
			}
		}
		e, err = get(ctx, tx, c.id)
		return err
	})
	if err != nil {
		return Entry{}, state, fmt.Errorf("record outcome of outbox message %d: %w", c.id, err)
	}
	return e, state, nil
}

// reclaimDead expires the leases of owners opts.Dead reports dead, so that their messages are due
// now (the owner is re-checked in the UPDATE: a lease renewed meanwhile by a live owner is left).
func (o *Outbox) reclaimDead(ctx context.Context, account string) error {
	if o.opts.Dead == nil {
		return nil
	}
	q := `SELECT DISTINCT lease_owner FROM outbox_messages WHERE state = ? AND lease_expires_at > ?`
	now := formatTime(o.opts.Now())
	args := []any{string(Sending), now}
	if account != "" {
		q += ` AND account = ?`
		args = append(args, account)
	}
	rows, err := o.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("outbox leases: %w", err)
	}
	var dead []string
	for rows.Next() {
		var owner string
		if err := rows.Scan(&owner); err != nil {
			rows.Close()
			return fmt.Errorf("outbox leases: %w", err)
		}
		if owner != o.opts.Owner && o.opts.Dead(owner) {
			dead = append(dead, owner)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("outbox leases: %w", err)
	}
	for _, owner := range dead {
		if _, err := o.db.ExecContext(ctx, `UPDATE outbox_messages SET lease_expires_at = ?
			WHERE state = ? AND lease_owner = ?`, now, string(Sending), owner); err != nil {
			return fmt.Errorf("expire the leases of %s: %w", owner, err)
		}
		o.opts.Logger.Info("outbox: leases of a dead run expired", "owner", owner)
	}
	return nil
}

// LocalDead reports whether owner (as New names it: "host:pid:random") is a process of this host
// that no longer exists. A process of another host, or one that still exists (even if its pid was
// reused), is not dead. Meant for one host's processes sharing a SQLite file; where processes of
// several hosts or pid namespaces with one hostname share a database, leave Options.Dead nil.
func LocalDead(owner string) bool {
	host, _ := os.Hostname()
	parts := strings.Split(owner, ":")
	if len(parts) != 3 || parts[0] != host {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	return !processExists(pid)
}

// inFlight counts the messages being sent under a lease that has not expired.
func (o *Outbox) inFlight(ctx context.Context, account string) (int, error) {
	q := `SELECT count(*) FROM outbox_messages WHERE state = ? AND lease_expires_at > ?`
	args := []any{string(Sending), formatTime(o.opts.Now())}
	if account != "" {
		q += ` AND account = ?`
		args = append(args, account)
	}
	var n int
	err := o.db.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// Run sends the due messages through s with ro.Workers workers, until ctx ends or, with
// ro.Once, until nothing is due or in flight. A message is leased before its SMTP transaction
// and recorded after the server's answer: sent; queued again with back-off after a temporary
// refusal; failed after a permanent one (a *lps.SendError with Permanent) or after MaxAttempts.
// A failure to open the account's session is not the message's fault: it is retried, whatever
// its kind, until MaxAttempts.
//
// The only window in which a message can go twice is a crash (or a lost lease) between the end
// of DATA and the recording of the answer; the second copy carries the same Message-ID.
func (o *Outbox) Run(ctx context.Context, s Sender, ro RunOptions) (Stats, error) {
	if ro.Workers <= 0 {
		ro.Workers = 1
	}
	if ro.Poll <= 0 {
		ro.Poll = time.Second
	}
	if err := o.reclaimDead(ctx, ro.Account); err != nil {
		return Stats{}, err
	}
	var (
		mu    sync.Mutex
		stats Stats
		first error
		wg    sync.WaitGroup
	)
	for range ro.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{o: o, s: s, ro: ro, sessions: map[string]Session{}}
			defer w.close()
			err := w.loop(ctx, func(st State) {
				mu.Lock()
				defer mu.Unlock()
				stats.Attempts++
				switch st {
				case Sent:
					stats.Sent++
				case Queued:
					stats.Retried++
				case Failed:
					stats.Failed++
				}
			})
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first == nil && !ro.Once {
		first = ctx.Err()
	}
	return stats, first
}

type worker struct {
	o        *Outbox
	s        Sender
	ro       RunOptions
	sessions map[string]Session
}

func (w *worker) close() {
	for a, s := range w.sessions {
		_ = s.Close()
		delete(w.sessions, a)
	}
}

func (w *worker) pause(ctx context.Context) bool {
	t := time.NewTimer(w.ro.Poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (w *worker) loop(ctx context.Context, count func(State)) error {
	for ctx.Err() == nil {
		c, err := w.o.claim(ctx, w.ro.Account)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.o.opts.Logger.Warn("outbox: claim failed", "err", err)
			if !w.pause(ctx) {
				break
			}
			continue
		}
		if c == nil {
			if w.ro.Once {
				n, err := w.o.inFlight(ctx, w.ro.Account)
				if err == nil && n == 0 {
					return nil
				}
			}
			if err := w.o.reclaimDead(ctx, w.ro.Account); err != nil && ctx.Err() == nil {
				w.o.opts.Logger.Warn("outbox: reclaiming dead leases failed", "err", err)
			}
			if !w.pause(ctx) {
				break
			}
			continue
		}
		st, err := w.send(ctx, c)
		if err != nil {
			return err
		}
		count(st)
	}
	if w.ro.Once {
		return ctx.Err()
	}
	return nil
}

func (w *worker) send(ctx context.Context, c *claimed) (State, error) {
	sctx, stop := w.o.hold(ctx, c)
	var (
		res Result
		err error
	)
	sess := w.sessions[c.account]
	if sess == nil {
		sess, err = w.s.Open(sctx, c.account)
		if err != nil {
			sess, err = nil, fmt.Errorf("open SMTP session of %s: %w", c.account, asTemporary(err))
		} else {
			w.sessions[c.account] = sess
		}
	}
	if sess != nil {
		res, err = sess.Submit(sctx, c.from, c.rcpts, c.raw, c.dsn)
	}
	interrupted := err != nil && sctx.Err() != nil
	if interrupted {
		err = fmt.Errorf("%w (%v)", err, context.Cause(sctx))
	}
	stop()
	if sess != nil && err != nil && !permanent(err) {
		// A session that failed for another reason than a refusal of the message is not reused.
		_ = sess.Close()
		delete(w.sessions, c.account)
	}
	e, st, ferr := w.o.finish(ctx, c, res, err, interrupted)
	if ferr != nil {
		return st, ferr
	}
	if w.ro.Progress != nil {
		w.ro.Progress(e)
	}
	return st, nil
}

// temporaryError hides the permanence of a session error: the message itself was not refused.
type temporaryError struct{ err error }

func (e temporaryError) Error() string { return e.err.Error() }

func asTemporary(err error) error { return temporaryError{err} }
