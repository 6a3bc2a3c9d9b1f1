package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/store"
)

// Document is a received document as the deliveries and the API see it.
type Document struct {
	ID         int64     `json:"id"`
	Mailbox    string    `json:"mailbox"`
	ReceivedAt time.Time `json:"received_at"`
	From       string    `json:"from"`
	SenderKind string    `json:"sender_kind"`
	Patient    Patient   `json:"patient"`
	// Identified is false when no valid INS names the patient: the document is kept and
	// delivered under _inconnu/, never dropped.
	Identified bool      `json:"patient_identified"`
	TypeCode   string    `json:"type_code"`
	TypeLabel  string    `json:"type_label"`
	ActDate    time.Time `json:"act_date,omitzero"`
	MessageID  string    `json:"message_id"`
	DocumentID string    `json:"document_id"`
	Subject    string    `json:"subject"`
	// Replaces is the id of the document this one replaces (relatedDocument RPLC), or "".
	Replaces string `json:"replaces,omitempty"`
	Ack      *Ack   `json:"ack,omitempty"`

	// CDA, PDF and Mail are loaded for deliveries (not in lists).
	CDA  []byte `json:"-"`
	PDF  []byte `json:"-"`
	Mail []byte `json:"-"`
}

// Ack is what the record system said of a document.
type Ack struct {
	State  string    `json:"state"` // integrated or rejected
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Ack states.
const (
	AckIntegrated = "integrated"
	AckRejected   = "rejected"
)

// Outcome is what a delivery did with a document.
type Outcome struct {
	// Ack, when set ("integrated" or "rejected"), is recorded as the document's acknowledgement
	// (an HL7 ACK AA, or AE/AR with its reason).
	Ack    string
	Reason string
}

// Delivery hands received documents to the software: the inbox folder, an HL7 file directory,
// an MLLP peer (package internal/hl7 plugs in here). Deliver is called at least once per
// document and target, from one process at a time (a lease in the store); a document is marked
// delivered only after Deliver returns nil, so Deliver must be idempotent (same file name, same
// HL7 control id). An error is retried with back-off; a *PermanentError is not.
type Delivery interface {
	Name() string
	Deliver(ctx context.Context, d *Document) (Outcome, error)
}

// PermanentError is a delivery failure that retrying does not mend.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// FolderDelivery writes each document as <INS>/<act date>_<type>_<document id>.{xml,pdf,json}
// under Dir (unidentified patients under _inconnu/), each file written to a temporary name and
// renamed.
type FolderDelivery struct{ Dir string }

// Name implements Delivery.
func (f *FolderDelivery) Name() string { return "folder" }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Paths returns the base path (without extension) of d under the folder.
func (f *FolderDelivery) Path(d *Document) string {
	dir := "_inconnu"
	if d.Identified && d.Patient.INS != "" {
		dir = unsafeName.ReplaceAllString(d.Patient.INS, "_")
	}
	date := "00000000"
	if !d.ActDate.IsZero() {
		date = d.ActDate.UTC().Format("20060102")
	}
	typ := unsafeName.ReplaceAllString(d.TypeCode, "_")
	if typ == "" {
		typ = "inconnu"
	}
	id := unsafeName.ReplaceAllString(strings.ReplaceAll(d.DocumentID, "^", "_"), "_")
	return filepath.Join(f.Dir, dir, date+"_"+typ+"_"+id)
}

// Deliver implements Delivery.
func (f *FolderDelivery) Deliver(_ context.Context, d *Document) (Outcome, error) {
	base := f.Path(d)
	if err := os.MkdirAll(filepath.Dir(base), 0o700); err != nil {
		return Outcome{}, err
	}
	meta, _ := json.MarshalIndent(d, "", "  ")
	// The JSON is written last: a reader that waits for it finds the XML and PDF complete.
	files := []struct {
		ext  string
		data []byte
	}{{".xml", d.CDA}, {".pdf", d.PDF}, {".json", append(meta, '\n')}}
	for _, fl := range files {
		if fl.data == nil {
			continue
		}
		if err := writeAtomic(base+fl.ext, fl.data); err != nil {
			return Outcome{}, err
		}
	}
	return Outcome{}, nil
}

// writeAtomic writes data to a temporary file of path's directory, syncs it and renames it.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// runDeliveries delivers the pending documents to each target until ctx ends.
func (g *Gateway) runDeliveries(ctx context.Context) error {
	if len(g.targets) == 0 {
		return nil
	}
	byName := map[string]Delivery{}
	for _, t := range g.targets {
		byName[t.Name()] = t
	}
	for ctx.Err() == nil {
		doc, target, attempts, err := g.claimDelivery(ctx)
		if err != nil {
			g.log.Warn("claim delivery", "err", err)
			sleep(ctx, g.o.Poll)
			continue
		}
		if doc == 0 {
			sleep(ctx, g.o.Poll)
			continue
		}
		t, ok := byName[target]
		if !ok {
			continue
		}
		g.deliverOne(ctx, t, doc, attempts)
	}
	return nil
}

// claimDelivery leases the oldest due delivery of a target this process serves.
func (g *Gateway) claimDelivery(ctx context.Context) (doc int64, target string, attempts int, err error) {
	now := g.o.Now()
	names := make([]any, 0, len(g.targets))
	ph := make([]string, 0, len(g.targets))
	for _, t := range g.targets {
		names = append(names, t.Name())
		ph = append(ph, "?")
	}
	err = g.db.InTx(ctx, func(tx *store.Tx) error {
		args := append([]any{formatTime(now), formatTime(now)}, names...)
		q := `SELECT document, target, attempts FROM gateway_deliveries
			WHERE state = 'pending' AND next_at <= ? AND (owner = '' OR until < ?) AND target IN (` + strings.Join(ph, ",") + `)
			ORDER BY document LIMIT 1`
		if g.db.Dialect() == store.Postgres {
			q += ` FOR UPDATE SKIP LOCKED`
		}
		err := tx.QueryRowContext(ctx, q, args...).Scan(&doc, &target, &attempts)
		if errors.Is(err, sql.ErrNoRows) {
			doc = 0
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE gateway_deliveries SET owner = ?, until = ? WHERE document = ? AND target = ?`,
			g.owner, formatTime(now.Add(g.o.Lease)), doc, target)
		return err
	})
	return doc, target, attempts, err
}

func (g *Gateway) deliverOne(ctx context.Context, t Delivery, id int64, attempts int) {
	d, err := g.loadDocument(ctx, id, true)
	var out Outcome
	if err == nil {
		dctx, cancel := context.WithTimeout(ctx, g.o.Lease*2/3)
		out, err = t.Deliver(dctx, &d)
		cancel()
	}
	if ctx.Err() != nil {
		return // the lease expires; another run delivers it again
	}
	now := g.o.Now()
	werr := g.db.InTx(ctx, func(tx *store.Tx) error {
		if err != nil {
			var pe *PermanentError
			state, next := "pending", formatTime(now.Add(g.backoff(attempts+1)))
			if errors.As(err, &pe) {
				state = "failed"
			}
			_, e := tx.ExecContext(ctx, `UPDATE gateway_deliveries SET state = ?, attempts = attempts + 1, next_at = ?, owner = '', until = '', reason = ?
				WHERE document = ? AND target = ? AND owner = ?`, state, next, err.Error(), id, t.Name(), g.owner)
			return e
		}
		res, e := tx.ExecContext(ctx, `UPDATE gateway_deliveries SET state = 'done', attempts = attempts + 1, owner = '', until = '', reason = ?, done_at = ?
			WHERE document = ? AND target = ? AND owner = ? AND state = 'pending'`, out.Reason, formatTime(now), id, t.Name(), g.owner)
		if e != nil {
			return e
		}
		if n, _ := res.RowsAffected(); n == 1 && out.Ack != "" {
			return g.ack(ctx, tx, d, out.Ack, out.Reason)
		}
		return nil
	})
	if werr != nil {
		g.log.Warn("record delivery", "document", id, "target", t.Name(), "err", werr)
	}
	if err != nil {
		g.m.deliveryFailures.WithLabelValues(t.Name()).Inc()
		g.log.Warn("delivery failed", "document", id, "target", t.Name(), "attempt", attempts+1, "err", err)
	} else {
		g.m.delivered.WithLabelValues(t.Name()).Inc()
	}
}

// ack records the acknowledgement of a document (first one wins) with its event.
func (g *Gateway) ack(ctx context.Context, tx *store.Tx, d Document, state, reason string) error {
	now := g.o.Now()
	res, err := tx.ExecContext(ctx, `UPDATE gateway_documents SET ack_state = ?, ack_reason = ?, ack_at = ? WHERE id = ? AND ack_state = ''`,
		state, reason, formatTime(now), d.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errAlreadyAcked
	}
	return g.addEvent(ctx, tx, d.Mailbox, fmt.Sprintf("document.%d.%s", d.ID, state), map[string]any{
		"type": "document.ack", "id": d.ID, "mailbox": d.Mailbox, "document_id": d.DocumentID, "state": state, "reason": reason})
}

var errAlreadyAcked = errors.New("document déjà acquitté")

// loadDocument reads document id; with content, its CDA, PDF and mail too.
func (g *Gateway) loadDocument(ctx context.Context, id int64, content bool) (Document, error) {
	cols := docCols
	if content {
		cols += `, d.cda, d.pdf, m.raw`
	}
	row := g.db.QueryRowContext(ctx, `SELECT `+cols+` FROM gateway_documents d JOIN gateway_messages m ON m.id = d.mail WHERE d.id = ?`, id)
	return scanDocument(row, content)
}

const docCols = `d.id, d.account, d.message_id, d.document_id, d.received_at, d.sender, d.sender_kind, d.subject, d.patient,
	d.identified, d.type_code, d.type_label, d.act_date, d.replaces, d.ack_state, d.ack_reason, d.ack_at`

type scanner interface{ Scan(dest ...any) error }

func scanDocument(s scanner, content bool) (Document, error) {
	var d Document
	var received, patient, act, ackState, ackReason, ackAt string
	var identified int
	dest := []any{&d.ID, &d.Mailbox, &d.MessageID, &d.DocumentID, &received, &d.From, &d.SenderKind, &d.Subject, &patient,
		&identified, &d.TypeCode, &d.TypeLabel, &act, &d.Replaces, &ackState, &ackReason, &ackAt}
	if content {
		dest = append(dest, &d.CDA, &d.PDF, &d.Mail)
	}
	if err := s.Scan(dest...); err != nil {
		return Document{}, err
	}
	d.ReceivedAt = parseTime(received)
	if act != "" {
		d.ActDate = parseTime(act)
	}
	d.Identified = identified == 1
	_ = json.Unmarshal([]byte(patient), &d.Patient)
	if ackState != "" {
		d.Ack = &Ack{State: ackState, Reason: ackReason, At: parseTime(ackAt)}
	}
	return d, nil
}

func patientJSON(p Patient) string {
	b, _ := json.Marshal(p)
	return string(b)
}
