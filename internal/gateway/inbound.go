package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/store"
)

// runSyncs runs one sync loop per mailbox, at most SyncConcurrency at once: a loop holds a
// semaphore slot while it synchronises and gives it back while it waits (IDLE).
func (g *Gateway) runSyncs(ctx context.Context) error {
	sem := make(chan struct{}, g.o.SyncConcurrency)
	var wg sync.WaitGroup
	for _, mb := range g.o.Mailboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.syncLoop(ctx, mb, sem)
		}()
	}
	wg.Wait()
	return nil
}

// syncLoop keeps one mailbox synchronised: lease (one process per mailbox at a time), session,
// sync, outbox reports, ingestion, move, IDLE; with back-off on failures.
func (g *Gateway) syncLoop(ctx context.Context, mb Mailbox, sem chan struct{}) {
	addr := canon(mb.Address)
	leaseName := "sync:" + addr
	defer g.release(leaseName)
	var sess IMAPSession
	defer func() {
		if sess != nil {
			_ = sess.Close()
		}
	}()
	failures := 0
	for ctx.Err() == nil {
		ok, err := g.lease(ctx, leaseName)
		if err != nil || !ok {
			// Another gateway process serves this mailbox; take over when its lease expires.
			g.setReady("sync:"+addr, err == nil)
			if sess != nil {
				_ = sess.Close()
				sess = nil
			}
			sleep(ctx, g.o.Lease/3)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		err = func() error {
			defer func() { <-sem }()
			if sess == nil {
				s, err := mb.Conn.IMAP(ctx)
				if err != nil {
					return fmt.Errorf("open IMAP session: %w", err)
				}
				sess = s
			}
			return g.underLease(ctx, leaseName, func(ctx context.Context) error { return g.syncOnce(ctx, mb, sess, leaseName) })
		}()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			g.m.syncErrors.WithLabelValues(addr).Inc()
			g.setReady("sync:"+addr, false)
			g.log.Warn("sync failed", "mailbox", addr, "attempt", failures, "err", err)
			if sess != nil {
				_ = sess.Close()
				sess = nil
			}
			sleep(ctx, g.backoff(failures))
			continue
		}
		failures = 0
		g.setReady("sync:"+addr, true)
		g.m.lastSync.WithLabelValues(addr).Set(float64(g.o.Now().Unix()))
		// IDLE, bounded by a third of the lease so that the lease is renewed in time.
		if err := sess.Wait(ctx, g.o.Folder, min(g.o.Reidle, g.o.Lease/3)); err != nil && ctx.Err() == nil {
			_ = sess.Close()
			sess = nil
		}
	}
}

// syncOnce brings the folder into the local index, applies the delivery reports to the outbox,
// ingests the documents of new mail, then moves the mail that is committed.
func (g *Gateway) syncOnce(ctx context.Context, mb Mailbox, sess IMAPSession, leaseName string) error {
	addr := canon(mb.Address)
	if _, err := g.ms.Sync(ctx, sess, addr, &mailstore.SyncOptions{Folders: []string{g.o.Folder}}); err != nil {
		return err
	}
	if _, err := g.ob.Refresh(ctx, reports{g.ms}, outbox.Filter{Account: addr}); err != nil {
		return err
	}
	var done []uint32
	q := mailstore.Query{Accounts: []string{addr}, Folders: []string{g.o.Folder}, Limit: 200}
	for {
		page, err := g.ms.List(ctx, q)
		if err != nil {
			return err
		}
		for _, m := range page.Messages {
			ok, err := g.ingest(ctx, addr, m)
			if err != nil {
				return fmt.Errorf("ingest %s uid %d: %w", m.Folder, m.UID, err)
			}
			if ok {
				done = append(done, m.UID)
			}
		}
		if page.Next == "" || len(page.Messages) == 0 {
			break
		}
		q.After = page.Next
	}
	if g.o.DoneFolder != "" && len(done) > 0 {
		// Only now: every document of these messages is committed locally (ECO reception rules).
		// Two processes moving one message at once would give the done folder two copies: each
		// batch starts on a freshly renewed lease and must end within a third of it.
		for i := 0; i < len(done); i += 100 {
			if ok, err := g.lease(ctx, leaseName); err != nil || !ok {
				return fmt.Errorf("move to %s: %w", g.o.DoneFolder, errLeaseLost)
			}
			mctx, cancel := context.WithTimeout(ctx, g.o.Lease/3)
			err := sess.Move(mctx, g.o.Folder, done[i:min(i+100, len(done))], g.o.DoneFolder)
			cancel()
			if err != nil {
				return fmt.Errorf("move to %s: %w", g.o.DoneFolder, err)
			}
		}
	}
	return nil
}

// reports adapts the mail index to outbox.Reports.
type reports struct{ ms *mailstore.Store }

func (r reports) ReportsFor(ctx context.Context, messageID string) ([]outbox.Report, error) {
	got, err := r.ms.ReportsFor(ctx, messageID)
	if err != nil {
		return nil, err
	}
	var out []outbox.Report
	for _, rr := range got {
		st, ok := outbox.Classify(rr.Kind, rr.Action, rr.Disposition, rr.Failed)
		if !ok {
			continue
		}
		out = append(out, outbox.Report{State: st, Reason: firstOf(rr.Reason, rr.Status, rr.Disposition), Recipient: rr.Recipient, At: rr.Date})
	}
	return out, nil
}

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// ingest commits the documents of one indexed message, once: the message, its documents, their
// deliveries and events in one transaction, keyed by (account, Message-ID) and (account,
// Message-ID, document id). It reports whether the message may leave the folder (it has been
// committed now or before; false when its body is not in the index).
func (g *Gateway) ingest(ctx context.Context, addr string, m mailstore.Message) (bool, error) {
	msgID := m.MessageID
	if msgID == "" {
		msgID = "uid-" + m.Folder + "-" + strconv.FormatUint(uint64(m.UID), 10) + "-" + m.InternalDate.UTC().Format("20060102150405")
	}
	var one int
	err := g.db.QueryRowContext(ctx, `SELECT 1 FROM gateway_ingested WHERE account = ? AND message_id = ?`, addr, msgID).Scan(&one)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	if !m.HasBody {
		g.log.Warn("message over the size cap left in the folder", "mailbox", addr, "uid", m.UID)
		return false, nil
	}
	raw, err := g.ms.Body(ctx, m)
	if err != nil {
		return false, err
	}
	info, err := extract(raw, g.o.Compose.PatientDomain)
	if err != nil {
		// An unreadable mail is kept (gateway_messages, GET …/message of no document) and logged.
		g.log.Warn("received mail unreadable", "mailbox", addr, "uid", m.UID, "err", err)
		info = mailInfo{from: m.From, senderKind: string(m.SenderKind), subject: m.Subject}
	}
	// The index's sender kind (professional, patient, applicative, mes_notice: ECO.2.2.5).
	info.senderKind = string(m.SenderKind)
	received := m.InternalDate
	if received.IsZero() {
		received = g.o.Now()
	}
	now := formatTime(g.o.Now())
	var newDocs int
	err = g.db.InTx(ctx, func(tx *store.Tx) error {
		newDocs = 0
		var mailRow int64
		err := tx.QueryRowContext(ctx, `INSERT INTO gateway_messages (account, message_id, raw) VALUES (?, ?, ?)
			ON CONFLICT (account, message_id) DO NOTHING RETURNING id`, addr, msgID, raw).Scan(&mailRow)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, `SELECT id FROM gateway_messages WHERE account = ? AND message_id = ?`, addr, msgID).Scan(&mailRow)
		}
		if err != nil {
			return err
		}
		for _, d := range info.docs {
			pj := patientJSON(d.patient)
			act := ""
			if !d.actDate.IsZero() {
				act = formatTime(d.actDate)
			}
			var docRow int64
			err := tx.QueryRowContext(ctx, `INSERT INTO gateway_documents (account, message_id, document_id, mail, received_at,
				sender, sender_kind, subject, patient, ins, identified, type_code, type_label, act_date, replaces, cda, pdf,
				ack_state, ack_reason, ack_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '')
				ON CONFLICT (account, message_id, document_id) DO NOTHING RETURNING id`,
				addr, msgID, d.documentID, mailRow, formatTime(received), info.from, info.senderKind, info.subject, pj,
				d.patient.INS, boolInt(d.identified), d.typeCode, d.typeLabel, act, d.replaces, d.cda, d.pdf).Scan(&docRow)
			if errors.Is(err, sql.ErrNoRows) {
				continue // the same document under the same Message-ID: delivered once
			}
			if err != nil {
				return err
			}
			newDocs++
			for _, t := range g.targets {
				if _, err := tx.ExecContext(ctx, `INSERT INTO gateway_deliveries (document, target, state, attempts, next_at, owner, until, reason, done_at)
					VALUES (?, ?, 'pending', 0, ?, '', '', '', '') ON CONFLICT (document, target) DO NOTHING`, docRow, t.Name(), now); err != nil {
					return err
				}
			}
			if err := g.addEvent(ctx, tx, addr, fmt.Sprintf("document.%d.received", docRow), map[string]any{
				"type": "document.received", "id": docRow, "mailbox": addr, "message_id": msgID, "document_id": d.documentID,
				"received_at": received.UTC().Format(time.RFC3339), "from": info.from, "sender_kind": info.senderKind,
				"patient": d.patient, "patient_identified": d.identified, "type_code": d.typeCode, "type_label": d.typeLabel,
			}); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO gateway_ingested (account, message_id, at) VALUES (?, ?, ?)
			ON CONFLICT (account, message_id) DO NOTHING`, addr, msgID, now)
		return err
	})
	if err != nil {
		return false, err
	}
	g.m.received.WithLabelValues(addr).Add(float64(newDocs))
	return true, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
