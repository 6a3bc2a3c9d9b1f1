package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/mssante/mssante/internal/store"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" of each webhook request.
const SignatureHeader = "X-MSSante-Signature"

// Sign returns the value of SignatureHeader for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// addEvent stores a webhook event in tx (nothing when no webhook is configured). eventID is
// stable for one fact, so that a fact stored twice is one event; receivers deduplicate on it.
func (g *Gateway) addEvent(ctx context.Context, tx *store.Tx, mailbox, eventID string, payload map[string]any) error {
	if g.o.Webhook == nil {
		return nil
	}
	payload["event_id"] = eventID
	payload["at"] = g.o.Now().UTC().Format(time.RFC3339Nano)
	body, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	now := formatTime(g.o.Now())
	_, err = tx.ExecContext(ctx, `INSERT INTO gateway_events (event_id, mailbox, body, state, attempts, next_at, reason, created_at)
		VALUES (?, ?, ?, 'pending', 0, ?, '', ?) ON CONFLICT (event_id) DO NOTHING`, eventID, canon(mailbox), string(body), now, now)
	return err
}

// runWebhooks posts the events of each mailbox in order (one poster per mailbox, under a lease
// so that one process posts a mailbox's events at a time), retrying the oldest with back-off
// until it is answered 2xx.
func (g *Gateway) runWebhooks(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, mb := range g.o.Mailboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.webhookLoop(ctx, canon(mb.Address))
		}()
	}
	wg.Wait()
	return nil
}

func (g *Gateway) webhookLoop(ctx context.Context, mailbox string) {
	name := "webhook:" + mailbox
	defer g.release(name)
	client := g.o.Webhook.Client
	if client == nil {
		// A post ends well within the lease, so that two processes never post one mailbox's
		// events at once (order).
		client = &http.Client{Timeout: g.o.Lease / 3}
	}
	for ctx.Err() == nil {
		ok, err := g.lease(ctx, name)
		if err != nil || !ok {
			sleep(ctx, g.o.Lease/3)
			continue
		}
		var id int64
		var eventID, body, next string
		var attempts int
		err = g.db.QueryRowContext(ctx, `SELECT id, event_id, body, attempts, next_at FROM gateway_events
			WHERE mailbox = ? AND state = 'pending' ORDER BY id LIMIT 1`, mailbox).Scan(&id, &eventID, &body, &attempts, &next)
		if errors.Is(err, sql.ErrNoRows) {
			sleep(ctx, g.o.Poll)
			continue
		}
		if err != nil {
			g.log.Warn("webhook: read events", "err", err)
			sleep(ctx, g.o.Poll)
			continue
		}
		if wait := parseTime(next).Sub(g.o.Now()); wait > 0 {
			// The oldest waits for its retry: the later ones wait behind it (order per mailbox).
			sleep(ctx, min(wait, g.o.Lease/3))
			continue
		}
		perr := g.post(ctx, client, eventID, []byte(body))
		if ctx.Err() != nil {
			return
		}
		if perr == nil {
			_, err = g.db.ExecContext(ctx, `UPDATE gateway_events SET state = 'done', attempts = attempts + 1, reason = '' WHERE id = ?`, id)
			g.m.webhooks.WithLabelValues("ok").Inc()
		} else {
			g.m.webhooks.WithLabelValues("error").Inc()
			g.log.Warn("webhook refused", "event", eventID, "attempt", attempts+1, "err", perr)
			_, err = g.db.ExecContext(ctx, `UPDATE gateway_events SET attempts = attempts + 1, next_at = ?, reason = ? WHERE id = ?`,
				formatTime(g.o.Now().Add(g.backoff(attempts+1))), perr.Error(), id)
		}
		if err != nil {
			g.log.Warn("webhook: record", "err", err)
		}
	}
}

func (g *Gateway) post(ctx context.Context, client *http.Client, eventID string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.o.Webhook.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-MSSante-Event-Id", eventID)
	req.Header.Set(SignatureHeader, Sign(g.o.Webhook.Secret, body))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}
