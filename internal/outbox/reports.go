package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/mssante/mssante/internal/store"
)

// Report is what the mail index found about a sent message: a DSN (RFC 3464), an MDN
// (RFC 8098) or a bounce (including Mon espace santé's "Message non distribué"), matched to it by
// Original-Message-ID, Original-Envelope-Id or References.
type Report struct {
	State     State     // Delivered, Read or Bounced
	Reason    string    // the diagnostic ("5.1.1 mailbox closed"), the MDN disposition…
	Recipient string    // the final recipient the report is about, when it names one
	At        time.Time // the report's date
}

// Reports gives the reports found by sync for a Message-ID. The local mail index
// (internal/mailstore) implements it; the outbox does not read mail itself.
type Reports interface {
	ReportsFor(ctx context.Context, messageID string) ([]Report, error)
}

// rank orders the states a report can give: a later one is never replaced by an earlier one
// (a bounce of one recipient outranks the delivery to another: the sender must act).
func rank(s State) int {
	switch s {
	case Sent:
		return 1
	case Delivered:
		return 2
	case Read:
		return 3
	case Bounced:
		return 4
	}
	return 0
}

// conclude returns the state the reports give a sent message, and its reason.
func conclude(cur State, reports []Report) (State, string, bool) {
	best, reason := cur, ""
	for _, r := range reports {
		if rank(r.State) > rank(best) {
			best, reason = r.State, r.Reason
			if r.Recipient != "" && r.Reason != "" {
				reason = r.Recipient + ": " + r.Reason
			} else if r.Recipient != "" {
				reason = r.Recipient
			}
		}
	}
	return best, reason, best != cur
}

// Refresh applies the reports of r to the messages that are sent, delivered or read (those a
// report can still move), records each change in their timeline, and returns the entries it
// changed.
func (o *Outbox) Refresh(ctx context.Context, r Reports, f Filter) ([]Entry, error) {
	f.States = []State{Sent, Delivered, Read}
	entries, err := o.List(ctx, f)
	if err != nil {
		return nil, err
	}
	var changed []Entry
	for _, e := range entries {
		reports, err := r.ReportsFor(ctx, e.MessageID)
		if err != nil {
			return changed, fmt.Errorf("reports for %s: %w", e.MessageID, err)
		}
		st, reason, ok := conclude(e.State, reports)
		if !ok {
			continue
		}
		ts := formatTime(o.opts.Now())
		err = o.db.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE outbox_messages SET state = ?, reason = ?, updated_at = ?
				WHERE id = ? AND state = ?`, string(st), reason, ts, e.ID, string(e.State))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				if err := addEvent(ctx, tx, e.ID, ts, st, reason, e.Attempts, ""); err != nil {
					return err
				}
			}
			e, err = get(ctx, tx, e.ID)
			return err
		})
		if err != nil {
			return changed, fmt.Errorf("record reports of %s: %w", e.MessageID, err)
		}
		changed = append(changed, e)
	}
	return changed, nil
}

// Classify turns a report as the mail index keeps it (message.Report: kind "dsn", "mdn" or
// "bounce", the DSN action, the MDN disposition, whether it says the mail did not arrive) into
// the state it gives the sent message; false when it gives none (a "delayed" DSN, an MDN
// "deleted" without display).
func Classify(kind, action, disposition string, failed bool) (State, bool) {
	switch {
	case failed || kind == "bounce" || action == "failed":
		return Bounced, true
	case kind == "mdn" && disposition == "displayed":
		return Read, true
	case kind == "dsn" && (action == "delivered" || action == "relayed" || action == "expanded"):
		return Delivered, true
	}
	return "", false
}
