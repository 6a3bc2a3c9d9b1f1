package gateway

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/store"
)

// ErrConflict: an idempotency key was used before with another request (HTTP 422).
var ErrConflict = errors.New("clé d'idempotence déjà utilisée pour une autre requête")

// Sent is the answer to a send: the outbox entry of the mail.
type Sent struct {
	ID        int64        `json:"id"`
	MessageID string       `json:"message_id"`
	State     outbox.State `json:"state"`
	// Replayed: the idempotency key was seen before; nothing new was queued.
	Replayed bool `json:"-"`
}

// Send composes r as mailbox and stores it in the outbox. key is the idempotency key (empty:
// none): the first call with a key records the request's hash and its Message-ID before the
// mail is queued, so a retry with the same key and body (even after a crash between the two)
// composes the same Message-ID and the outbox stores it once; the same key with another body
// is ErrConflict.
func (g *Gateway) Send(ctx context.Context, mailbox string, r *Request, key string) (Sent, error) {
	if !g.hasMailbox(mailbox) {
		return Sent{}, invalidf("la boîte %s n'est pas servie par cette passerelle", mailbox)
	}
	from := r.From
	if from == "" {
		from = mailbox
	}
	if canon(from) != canon(mailbox) {
		return Sent{}, invalidf("l'expéditeur %s n'est pas la boîte %s", from, mailbox)
	}
	body, _ := json.Marshal(r)
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	seed := canon(mailbox) + "\x00"
	if key == "" {
		var b [16]byte
		if _, err := g.o.Rand.Read(b[:]); err != nil {
			return Sent{}, err
		}
		seed += "random:" + hex.EncodeToString(b[:])
	} else {
		seed += "key:" + key
	}
	c, err := g.compose(ctx, from, r, seed)
	if err != nil {
		return Sent{}, err
	}
	replayed := false
	if key != "" {
		var prevHash, prevID string
		err := g.db.QueryRowContext(ctx, `SELECT body_hash, message_id FROM gateway_requests WHERE mailbox = ? AND idem_key = ?`,
			canon(mailbox), key).Scan(&prevHash, &prevID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := g.db.ExecContext(ctx, `INSERT INTO gateway_requests (mailbox, idem_key, body_hash, message_id, created_at)
				VALUES (?, ?, ?, ?, ?) ON CONFLICT (mailbox, idem_key) DO NOTHING`,
				canon(mailbox), key, hash, c.messageID, formatTime(g.o.Now())); err != nil {
				return Sent{}, fmt.Errorf("record idempotency key: %w", err)
			}
			// A concurrent request may have won the insert: read what is recorded.
			if err := g.db.QueryRowContext(ctx, `SELECT body_hash, message_id FROM gateway_requests WHERE mailbox = ? AND idem_key = ?`,
				canon(mailbox), key).Scan(&prevHash, &prevID); err != nil {
				return Sent{}, fmt.Errorf("read idempotency key: %w", err)
			}
		case err != nil:
			return Sent{}, fmt.Errorf("read idempotency key: %w", err)
		default:
			replayed = true
		}
		if prevHash != hash {
			return Sent{}, ErrConflict
		}
		if prevID != c.messageID {
			return Sent{}, fmt.Errorf("idempotency key %s: Message-ID %s recorded, %s composed", key, prevID, c.messageID)
		}
	}
	e, err := g.ob.Add(ctx, outbox.Message{Account: canon(mailbox), From: mailbox, Rcpts: c.rcpts, Raw: c.raw, DSN: dsnOf(r)})
	if err != nil {
		return Sent{}, err
	}
	if key != "" {
		if _, err := g.db.ExecContext(ctx, `UPDATE gateway_requests SET outbox_id = ? WHERE mailbox = ? AND idem_key = ?`,
			e.ID, canon(mailbox), key); err != nil {
			return Sent{}, fmt.Errorf("record idempotency key: %w", err)
		}
	}
	if e.Added {
		g.m.queued.WithLabelValues(canon(mailbox)).Inc()
	}
	return Sent{ID: e.ID, MessageID: e.MessageID, State: e.State, Replayed: replayed || !e.Added}, nil
}

func dsnOf(r *Request) *outbox.DSN {
	if !r.DSN {
		return nil
	}
	return &outbox.DSN{}
}

// Status is a sent message with its timeline.
type Status struct {
	outbox.Entry
	Timeline []outbox.Event `json:"timeline"`
}

// Status returns the outbox entry id of mailbox and its timeline; outbox.ErrNotFound when it is
// not a message of mailbox.
func (g *Gateway) Status(ctx context.Context, mailbox string, id int64) (Status, error) {
	e, err := g.ob.Get(ctx, id)
	if err != nil {
		return Status{}, err
	}
	if canon(e.Account) != canon(mailbox) {
		return Status{}, outbox.ErrNotFound
	}
	tl, err := g.ob.Timeline(ctx, id)
	if err != nil {
		return Status{}, err
	}
	return Status{Entry: e, Timeline: tl}, nil
}

// sender opens the SMTP session of the account of each outbox message.
type sender struct{ g *Gateway }

func (s sender) Open(ctx context.Context, account string) (outbox.Session, error) {
	mb, ok := s.g.boxes[canon(account)]
	if !ok {
		return nil, fmt.Errorf("no credentials for %s in this gateway", account)
	}
	sess, err := mb.Conn.SMTP(ctx)
	if err != nil {
		return nil, err
	}
	return meteredSession{sess, s.g, canon(account)}, nil
}

type meteredSession struct {
	outbox.Session
	g       *Gateway
	account string
}

func (m meteredSession) Submit(ctx context.Context, from string, rcpts []string, raw []byte, dsn *outbox.DSN) (outbox.Result, error) {
	start := time.Now()
	res, err := m.Session.Submit(ctx, from, rcpts, raw, dsn)
	m.g.m.latency.WithLabelValues(m.account).Observe(time.Since(start).Seconds())
	if err != nil {
		m.g.m.failures.WithLabelValues(m.account).Inc()
	} else {
		m.g.m.sends.WithLabelValues(m.account).Inc()
	}
	return res, err
}

// runOutbox runs the outbox workers of every mailbox until ctx ends.
func (g *Gateway) runOutbox(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		_, err := g.ob.Run(ctx, sender{g}, outbox.RunOptions{Workers: g.o.Workers, Poll: g.o.Poll})
		if ctx.Err() != nil {
			return nil
		}
		g.log.Warn("outbox run stopped, restarting", "err", err)
		if !sleep(ctx, g.backoff(attempt)) {
			return nil
		}
	}
}

// runOutboxEvents turns each state change of an outbox message into a webhook event, from the
// outbox itself (so that a change made by another process, or by Refresh, is announced too):
// gateway_outbox_seen keeps the last state announced per message, updated in the transaction
// that stores the event.
func (g *Gateway) runOutboxEvents(ctx context.Context) error {
	for {
		if err := g.outboxEvents(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn("outbox events", "err", err)
		}
		if !sleep(ctx, g.o.Poll) {
			return nil
		}
	}
}

func (g *Gateway) outboxEvents(ctx context.Context) error {
	if g.o.Webhook == nil {
		return nil
	}
	entries, err := g.ob.List(ctx, outbox.Filter{})
	if err != nil {
		return err
	}
	seen := map[int64]string{}
	rows, err := g.db.QueryContext(ctx, `SELECT outbox_id, state FROM gateway_outbox_seen`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			rows.Close()
			return err
		}
		seen[id] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	type change struct {
		id                         int64
		account, msgID, state, why string
	}
	var cs []change
	for _, e := range entries {
		if seen[e.ID] != string(e.State) {
			cs = append(cs, change{e.ID, e.Account, e.MessageID, string(e.State), e.Reason})
		}
	}
	for _, c := range cs {
		if c.state == string(outbox.Sending) {
			continue
		}
		err := g.db.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.ExecContext(ctx, `INSERT INTO gateway_outbox_seen (outbox_id, state) VALUES (?, ?)
				ON CONFLICT (outbox_id) DO UPDATE SET state = excluded.state WHERE gateway_outbox_seen.state <> excluded.state`, c.id, c.state)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // another process announced it
			}
			return g.addEvent(ctx, tx, c.account, fmt.Sprintf("message.%d.%s", c.id, c.state), map[string]any{
				"type": "message.state", "id": c.id, "message_id": c.msgID, "mailbox": c.account, "state": c.state, "reason": c.why})
		})
		if err != nil {
			return err
		}
	}
	return nil
}
