package mailstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mssante/mssante/lps"
)

// Source is the IMAP session the sync engine reads; *lps.IMAPClient satisfies it.
type Source interface {
	Mailboxes(ctx context.Context) ([]lps.Mailbox, error)
	// Resync selects a mailbox and tells what changed since a state (lps.IMAPClient.Resync:
	// CONDSTORE CHANGEDSINCE where offered, a full flag listing otherwise).
	Resync(ctx context.Context, mailbox string, since lps.SyncState) (*lps.SyncResult, error)
	// Summaries and FetchBody read messages of the selected mailbox.
	Summaries(ctx context.Context, uids []uint32) ([]lps.Summary, error)
	FetchBody(ctx context.Context, uid uint32, w io.Writer) (int64, error)
}

// DefaultMaxBody is the size over which a message is indexed from its envelope only, its body
// left on the server: the body is held in memory once while it is parsed and stored.
const DefaultMaxBody = 64 << 20

// SyncOptions configure Sync; nil means defaults.
type SyncOptions struct {
	// Folders to synchronise; every selectable folder when empty.
	Folders []string
	// MaxBody: messages bigger than this (RFC822.SIZE) are indexed from the envelope only
	// (DefaultMaxBody when 0). It should not exceed the lps.Options.MaxBody of the session.
	MaxBody int64
	// Batch is the number of envelopes asked per round trip (default 100).
	Batch int
	// Maildir, when set, also receives every message (one file per message, flags in the name).
	Maildir *Maildir
	// Progress is called after each message and at the start and end of each folder.
	Progress func(Progress)
}

// Progress tells where a sync is.
type Progress struct {
	Folder string `json:"folder"`
	// Done of Total new messages of the folder are stored; Bytes is the running total of bodies.
	Done  int   `json:"done"`
	Total int   `json:"total"`
	Bytes int64 `json:"bytes"`
}

// Summary is the result of Sync, printed by `mssante sync`.
type Summary struct {
	Folders int `json:"folders"`
	// Messages is the number of messages the index holds for the synchronised folders.
	Messages int `json:"messages"`
	// New messages stored, Removed (expunged on the server), Remapped (kept across a UIDVALIDITY
	// change), FlagsChanged, TooLarge (indexed without their body).
	New          int     `json:"new"`
	Removed      int     `json:"removed"`
	Remapped     int     `json:"remapped"`
	FlagsChanged int     `json:"flags_changed"`
	TooLarge     int     `json:"too_large"`
	Bytes        int64   `json:"bytes"`
	Seconds      float64 `json:"seconds"`
}

// Sync brings the folders of account into the index (ECO.1.0.2): the first time every message
// (envelope, body, flags), then only what changed. Each new message is fetched, parsed and
// committed alone, so that a sync killed at any point resumes without fetching again what it
// stored; a folder's HIGHESTMODSEQ is saved only once all its messages are committed. Messages the
// server expunged are removed; nothing the server still holds is. When the folder's UIDVALIDITY
// changed, the messages kept are found again by Message-ID and size and given their new UID
// rather than downloaded a second time; the others are removed.
func (s *Store) Sync(ctx context.Context, src Source, account string, opts *SyncOptions) (Summary, error) {
	start := time.Now()
	var o SyncOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	var sum Summary
	acc, err := s.accountID(ctx, account, true)
	if err != nil {
		return sum, err
	}
	folders := o.Folders
	if len(folders) == 0 {
		boxes, err := src.Mailboxes(ctx)
		if err != nil {
			return sum, fmt.Errorf("listing the folders of %s: %w", account, err)
		}
		for _, b := range boxes {
			if !slices.ContainsFunc(b.Attrs, func(a string) bool { return a == `\Noselect` || a == `\NonExistent` }) {
				folders = append(folders, b.Name)
			}
		}
		// A folder deleted on the server leaves the index with its messages.
		n, err := s.dropFoldersBut(ctx, acc, folders)
		if err != nil {
			return sum, err
		}
		sum.Removed += n
	}
	// A folder that fails (its error is kept in mail_folders.last_error) does not stop the
	// others; a cancelled context or a broken session does.
	var errs []error
	for _, name := range folders {
		err := s.syncFolder(ctx, src, acc, name, &o, &sum)
		sum.Seconds = time.Since(start).Seconds()
		if err != nil {
			err = fmt.Errorf("synchronising %s of %s: %w", name, account, err)
			if ctx.Err() != nil || errors.Is(err, lps.ErrConnBroken) || errors.Is(err, lps.ErrClosed) {
				return sum, errors.Join(append(errs, err)...)
			}
			errs = append(errs, err)
			continue
		}
		sum.Folders++
	}
	return sum, errors.Join(errs...)
}

func (s *Store) syncFolder(ctx context.Context, src Source, acc int64, name string, o *SyncOptions, sum *Summary) (err error) {
	f, err := s.folder(ctx, acc, name)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = s.saveFolder(ctx, f, err)
		}
	}()
	locals, err := s.locals(ctx, f.ID)
	if err != nil {
		return err
	}
	since := lps.SyncState{UIDValidity: f.UIDValidity, HighestModSeq: f.HighestModSeq}
	for _, l := range locals {
		if l.UIDValidity == f.UIDValidity && l.UID > 0 {
			since.UIDs = append(since.UIDs, l.UID)
		}
	}
	res, err := src.Resync(ctx, name, since)
	if err != nil {
		return err
	}
	valid := map[uint32]local{}
	var stale []local // of another UIDVALIDITY: to re-map or remove
	for _, l := range locals {
		if l.UIDValidity == res.UIDValidity && l.UID > 0 {
			valid[l.UID] = l
		} else {
			stale = append(stale, l)
		}
	}
	// Expunged on the server.
	var gone []int64
	if res.Full {
		present := make(map[uint32]bool, len(res.Changed))
		for _, c := range res.Changed {
			present[c.UID] = true
		}
		for uid, l := range valid {
			if !present[uid] {
				gone = append(gone, l.ID)
				delete(valid, uid)
			}
		}
	} else {
		for _, uid := range res.Vanished {
			if l, ok := valid[uid]; ok {
				gone = append(gone, l.ID)
				delete(valid, uid)
			}
		}
	}
	if err := s.remove(ctx, gone); err != nil {
		return err
	}
	sum.Removed += len(gone)
	// Flags of known messages; the others are new.
	var fresh []lps.FlagChange
	for _, c := range res.Changed {
		l, ok := valid[c.UID]
		if !ok {
			fresh = append(fresh, c)
			continue
		}
		if fl := joinFlags(c.Flags); fl != l.Flags {
			if err := s.setFlags(ctx, f.ID, c.UID, c.Flags, c.ModSeq); err != nil {
				return err
			}
			sum.FlagsChanged++
		}
	}
	if len(stale) > 0 {
		if fresh, err = s.remapStale(ctx, src, f, res, stale, fresh, o, sum); err != nil {
			return err
		}
	}
	if f.UIDValidity != res.UIDValidity {
		// The messages of the old UIDVALIDITY are re-mapped or gone: from now on the state is the
		// new one, with no MODSEQ until every new message is stored.
		f.UIDValidity, f.HighestModSeq = res.UIDValidity, 0
		if err := s.saveFolder(ctx, f, nil); err != nil {
			return err
		}
	}
	missed, err := s.download(ctx, src, acc, f, res.UIDValidity, fresh, o, sum)
	if err != nil {
		return err
	}
	if missed == 0 {
		// Every message the server announced is stored: the next sync may start from here. A
		// message that could not be fetched keeps the previous MODSEQ, so that it is asked again.
		f.HighestModSeq = res.HighestModSeq
	}
	if err := s.saveFolder(ctx, f, nil); err != nil {
		return err
	}
	n, err := s.count(ctx, f.ID)
	if err != nil {
		return err
	}
	sum.Messages += n
	if o.Maildir != nil {
		if err := o.Maildir.reconcile(ctx, s, f); err != nil {
			return err
		}
	}
	return nil
}

// remapStale finds the messages of an old UIDVALIDITY among the new ones (same Message-ID and
// size), gives them their new UID, and removes the others. It returns the messages still to fetch.
func (s *Store) remapStale(ctx context.Context, src Source, f folderState, res *lps.SyncResult,
	stale []local, fresh []lps.FlagChange, o *SyncOptions, sum *Summary) ([]lps.FlagChange, error) {
	// Out of the way of the new UIDs first (UNIQUE (folder_id, uid)): negative while re-mapped.
	if _, err := s.db.ExecContext(ctx, `UPDATE mail_messages SET uid = -uid WHERE folder_id = ? AND uidvalidity <> ? AND uid > 0`,
		f.ID, int64(res.UIDValidity)); err != nil {
		return nil, fmt.Errorf("setting aside the messages of UIDVALIDITY %d: %w", f.UIDValidity, err)
	}
	type key struct {
		id   string
		size int64
	}
	byKey := map[key][]local{}
	for _, l := range stale {
		if l.MessageID != "" {
			k := key{l.MessageID, l.Size}
			byKey[k] = append(byKey[k], l)
		}
	}
	flags := map[uint32]lps.FlagChange{}
	uids := make([]uint32, 0, len(fresh))
	for _, c := range fresh {
		flags[c.UID] = c
		uids = append(uids, c.UID)
	}
	kept := map[int64]bool{}
	var rest []lps.FlagChange
	for batch := range slices.Chunk(uids, o.Batch) {
		sums, err := src.Summaries(ctx, batch)
		if err != nil {
			return nil, err
		}
		matched := map[uint32]bool{}
		for _, m := range sums {
			k := key{trimID(m.MessageID), m.Size}
			if c := byKey[k]; len(c) > 0 {
				l := c[0]
				byKey[k] = c[1:]
				if err := s.remap(ctx, l.ID, m.UID, res.UIDValidity, flags[m.UID].Flags, flags[m.UID].ModSeq); err != nil {
					return nil, err
				}
				kept[l.ID] = true
				matched[m.UID] = true
				sum.Remapped++
			}
		}
		for _, u := range batch {
			if !matched[u] {
				rest = append(rest, flags[u])
			}
		}
	}
	var gone []int64
	for _, l := range stale {
		if !kept[l.ID] {
			gone = append(gone, l.ID)
		}
	}
	if err := s.remove(ctx, gone); err != nil {
		return nil, err
	}
	sum.Removed += len(gone)
	return rest, nil
}

// download fetches, parses and commits the new messages one at a time, in UID order. It returns
// the number of messages that could not be fetched (refused, or expunged meanwhile).
func (s *Store) download(ctx context.Context, src Source, acc int64, f folderState, uidvalidity uint32,
	fresh []lps.FlagChange, o *SyncOptions, sum *Summary) (missed int, err error) {
	total := len(fresh)
	progress := func(done int) {
		if o.Progress != nil {
			o.Progress(Progress{Folder: f.Name, Done: done, Total: total, Bytes: sum.Bytes})
		}
	}
	progress(0)
	uids := make([]uint32, len(fresh))
	for i, c := range fresh {
		uids[i] = c.UID
	}
	var buf bytes.Buffer
	done := 0
	for batch := range slices.Chunk(uids, o.Batch) {
		sums, err := src.Summaries(ctx, batch)
		if err != nil {
			return missed, err
		}
		for _, m := range sums {
			if err := ctx.Err(); err != nil {
				return missed, err
			}
			fe := &fetched{UID: m.UID, UIDValidity: uidvalidity, InternalDate: m.InternalDate, Size: m.Size,
				ModSeq: m.ModSeq, Flags: m.Flags, Subject: m.Subject, MessageID: m.MessageID, Date: m.Date}
			if len(m.From) > 0 {
				fe.From = m.From[0]
			}
			if m.Size > o.MaxBody {
				sum.TooLarge++
			} else {
				buf.Reset()
				buf.Grow(int(m.Size)) // one allocation for the largest message so far, not doublings
				n, err := src.FetchBody(ctx, m.UID, &buf)
				if err != nil {
					if ctx.Err() != nil {
						return missed, err
					}
					if errors.Is(err, lps.ErrConnBroken) {
						return missed, err
					}
					// Expunged meanwhile, or refused: the next sync sees it again.
					s.opts.Logger.Warn("message not fetched", "folder", f.Name, "uid", m.UID, "err", err)
					missed++
					continue
				}
				fe.Raw = buf.Bytes() // stored before the buffer is reused
				sum.Bytes += n
			}
			id, err := s.insert(ctx, acc, f.ID, fe)
			if err != nil {
				return missed, err
			}
			if id != 0 {
				sum.New++
				if o.Maildir != nil && fe.Raw != nil {
					if err := o.Maildir.put(f.Name, id, m.UID, m.Flags, fe.Raw); err != nil {
						return missed, err
					}
				}
			}
			done++
			progress(done)
		}
	}
	return missed, nil
}

func (s *Store) count(ctx context.Context, folderID int64) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM mail_messages WHERE folder_id = ?`, folderID).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting messages: %w", err)
	}
	return n, nil
}

func joinFlags(flags []string) string {
	out := ""
	for i, f := range normFlags(flags) {
		if i > 0 {
			out += " "
		}
		out += f
	}
	return out
}

func trimID(id string) string {
	if len(id) > 1 && id[0] == '<' && id[len(id)-1] == '>' {
		return id[1 : len(id)-1]
	}
	return id
}
