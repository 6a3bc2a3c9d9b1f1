package lps

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// SyncState is what a client remembers of a mailbox between sessions to resynchronise it
// (RFC 7162 section 3.2.5 and 6): its UIDVALIDITY, HIGHESTMODSEQ and the UIDs it knows.
type SyncState struct {
	UIDValidity   uint32   `json:"uidvalidity"`
	HighestModSeq uint64   `json:"highestmodseq,omitempty"`
	UIDs          []uint32 `json:"uids,omitempty"` // known messages, ascending; needed for Vanished
}

// FlagChange is the current flags of one message.
type FlagChange struct {
	UID    uint32   `json:"uid"`
	Flags  []string `json:"flags"`
	ModSeq uint64   `json:"modseq,omitempty"`
}

// SyncResult is the difference between a SyncState and the mailbox now.
type SyncResult struct {
	Mailbox       string `json:"mailbox"`
	UIDValidity   uint32 `json:"uidvalidity"`
	HighestModSeq uint64 `json:"highestmodseq,omitempty"`
	// Reset: UIDVALIDITY changed, the known UIDs mean nothing any more; the caller drops its
	// cache of the mailbox. Changed then lists every message and Vanished is empty.
	Reset bool `json:"reset,omitempty"`
	// Full: Changed lists every message, not only those changed since the state (Reset, a
	// server without CONDSTORE or a mailbox without MODSEQ, a state without HighestModSeq, or
	// a HIGHESTMODSEQ lower than the state's).
	Full bool `json:"full,omitempty"`
	// Changed are the messages whose flags changed since the state, new messages included,
	// by ascending UID.
	Changed []FlagChange `json:"changed"`
	// Vanished are the known UIDs (SyncState.UIDs) no longer in the mailbox, ascending.
	Vanished []uint32 `json:"vanished"`
}

// Apply returns the state after r: the known UIDs without the vanished ones, with the changed
// ones (new messages appear in Changed).
func (r *SyncResult) Apply(prev SyncState) SyncState {
	next := SyncState{UIDValidity: r.UIDValidity, HighestModSeq: r.HighestModSeq}
	set := map[uint32]bool{}
	if !r.Reset {
		for _, u := range prev.UIDs {
			set[u] = true
		}
		for _, u := range r.Vanished {
			delete(set, u)
		}
	}
	for _, c := range r.Changed {
		set[c.UID] = true
	}
	next.UIDs = make([]uint32, 0, len(set))
	for u := range set {
		next.UIDs = append(next.UIDs, u)
	}
	slices.Sort(next.UIDs)
	return next
}

// Resync selects mailbox (it stays selected, like Select) and returns what changed since the
// state a previous session left (ECO.1.0.2: a mailbox kept in sync across reconnections).
//
// With CONDSTORE (RFC 7162) it asks only for the flags changed since since.HighestModSeq
// (UID FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE n)) and finds the vanished messages with one
// UID SEARCH over the known UIDs. This is the fallback RFC 7162 section 6 describes for clients
// that do not use QRESYNC: go-imap v2 beta.8 can neither send SELECT (QRESYNC …) nor parse the
// VANISHED responses an ENABLE QRESYNC session receives, so QRESYNC is never enabled, even when
// offered. It costs one more round trip than SELECT (QRESYNC) and gives the same result.
//
// Without CONDSTORE (a server that does not offer it), or when since has no HighestModSeq,
// Resync falls back to a full listing of the flags (Full) rather than failing: the answer is
// still exact, only larger. A changed UIDVALIDITY gives Reset. since.UIDs is optional; without it Vanished is
// empty.
func (cl *IMAPClient) Resync(ctx context.Context, mailbox string, since SyncState) (*SyncResult, error) {
	var res *SyncResult
	err := cl.do(ctx, ActionList, "SELECT "+quote(mailbox)+" RESYNC", true, func(c *imapclient.Client) (string, error) {
		d, err := c.Select(mailbox, &imap.SelectOptions{CondStore: cl.condstore}).Wait()
		if err != nil {
			return "", err
		}
		cl.selected = mailbox
		r := &SyncResult{Mailbox: mailbox, UIDValidity: d.UIDValidity, HighestModSeq: d.HighestModSeq,
			Changed: []FlagChange{}, Vanished: []uint32{}}
		r.Reset = since.UIDValidity != d.UIDValidity
		// No MODSEQ to compare (no CONDSTORE, NOMODSEQ mailbox, empty state) or a server that
		// went back in time (restored mailbox): only a full listing is exact.
		r.Full = r.Reset || !cl.condstore || since.HighestModSeq == 0 || d.HighestModSeq == 0 ||
			d.HighestModSeq < since.HighestModSeq
		if d.NumMessages > 0 && (r.Full || d.HighestModSeq != since.HighestModSeq) {
			var all imap.UIDSet
			all.AddRange(1, 0) // 1:*
			opts := &imap.FetchOptions{UID: true, Flags: true, ModSeq: cl.condstore}
			if !r.Full {
				opts.ChangedSince = since.HighestModSeq
			}
			msgs, err := c.Fetch(all, opts).Collect()
			if err != nil {
				return "", err
			}
			for _, m := range msgs {
				fc := FlagChange{UID: uint32(m.UID), Flags: []string{}, ModSeq: m.ModSeq}
				for _, f := range m.Flags {
					fc.Flags = append(fc.Flags, string(f))
				}
				r.Changed = append(r.Changed, fc)
			}
			slices.SortFunc(r.Changed, func(a, b FlagChange) int { return cmp.Compare(a.UID, b.UID) })
		}
		if !r.Reset && len(since.UIDs) > 0 {
			present, err := presentUIDs(c, since.UIDs, r, d.NumMessages)
			if err != nil {
				return "", err
			}
			for _, u := range since.UIDs {
				if !present[u] {
					r.Vanished = append(r.Vanished, u)
				}
			}
			slices.Sort(r.Vanished)
			r.Vanished = slices.Compact(r.Vanished)
		}
		res = r
		return fmt.Sprintf("OK %d changed, %d vanished, full=%t", len(r.Changed), len(r.Vanished), r.Full), nil
	})
	return res, err
}

// presentUIDs returns which of known are still in the mailbox: from the full listing when there
// is one, else with UID SEARCH UID known.
func presentUIDs(c *imapclient.Client, known []uint32, r *SyncResult, n uint32) (map[uint32]bool, error) {
	present := map[uint32]bool{}
	if n == 0 {
		return present, nil
	}
	if r.Full {
		for _, ch := range r.Changed {
			present[ch.UID] = true
		}
		return present, nil
	}
	d, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{uidSet(known)}}, nil).Wait()
	if err != nil {
		return nil, err
	}
	if set, ok := d.All.(imap.UIDSet); ok {
		if uids, ok := set.Nums(); ok {
			for _, u := range uids {
				present[uint32(u)] = true
			}
		}
	}
	return present, nil
}
