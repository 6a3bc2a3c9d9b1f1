package mailstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/lps"
)

// Source is the IMAP session the sync engine reads; *lps.IMAPClient satisfies it.
type Source interface {
	Mailboxes(ctx context.Context) ([]lps.Mailbox, error)
	// Resync selects a mailbox and tells what changed since a state (lps.IMAPClient.Resync:
	// CONDSTORE CHANGEDSINCE where offered, a full flag listing otherwise).
	Resync(ctx context.Context, mailbox string, since lps.SyncState) (*lps.SyncResult, error)
	// Summaries, FetchBody and FetchBodies read messages of the selected mailbox; the sync
	// streams bodies with FetchBodies (many messages per command).
	Summaries(ctx context.Context, uids []uint32) ([]lps.Summary, error)
	FetchBody(ctx context.Context, uid uint32, w io.Writer) (int64, error)
	FetchBodies(ctx context.Context, uids []uint32, f func(m *lps.FetchedMessage) error) error
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
	// Batch is the number of envelopes, and of bodies, asked per command (default 200).
	Batch int
	// BatchBytes bounds the announced size of the bodies asked per command (default 8 MiB).
	BatchBytes int64
	// CommitEvery is the number of messages committed per transaction (default 100; a group also
	// ends at 2 MiB of bodies, which it holds in memory, so it is the bound for small mails
	// only). A group is committed before the folder state advances, also when the sync is
	// cancelled. Larger groups cost less per message (each commit writes the index pages it
	// touched; on the bench mailbox 100 took ~11% less CPU than 25, at the same peak RSS).
	CommitEvery int
	// Maildir, when set, also receives every message (one file per message, flags in the name).
	Maildir *Maildir
	// Progress is called after each committed group and at the start of each folder.
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
// (envelope, body, flags), then only what changed. New messages are streamed many per command
// (lps FetchBodies), each parsed as it arrives, and committed in small groups, so that a sync
// killed at any point resumes without fetching again what it stored (a cancelled sync commits
// the group in hand first); a folder's HIGHESTMODSEQ is saved only once all its messages are
// committed. Messages the
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
		o.Batch = 200
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 8 << 20
	}
	if o.CommitEvery <= 0 {
		o.CommitEvery = 100
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
	if err := s.collectPacks(ctx); err != nil {
		s.opts.Logger.Warn("unused body packs not removed", "err", err)
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
		if err := o.Maildir.durable(); err != nil {
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

// download fetches, parses and commits the new messages in UID order: envelopes Batch at a time,
// bodies by UID FETCH commands of at most Batch messages and BatchBytes announced bytes, each
// body parsed as it arrives and committed in groups of at most CommitEvery messages (or
// commitBytes of bodies). A group is committed whole before the folder state moves on, also when
// the sync is cancelled mid-way, so that a resumed sync does not fetch it again. It returns the
// number of messages that could not be fetched (refused, or expunged meanwhile).
//
// The work is a pipeline (pipeline): this goroutine reads and parses the bodies, a committer
// stores each full group in one transaction while the next group is read, and maildirWriters
// writers put the committed groups in the Maildir. The bodies held by the stages are bounded by
// inFlightBytes (the network waits when they are reached), and download returns only once every
// group handed to the committer is committed (or failed) and written.
func (s *Store) download(ctx context.Context, src Source, acc int64, f folderState, uidvalidity uint32,
	fresh []lps.FlagChange, o *SyncOptions, sum *Summary) (missed int, err error) {
	g := &group{s: s, acc: acc, f: f, o: o, sum: sum, total: len(fresh)}
	g.progress()
	p := g.start(context.WithoutCancel(ctx))
	defer func() {
		// What was fetched and parsed is committed even when the sync stops here.
		g.send()
		if perr := p.wait(); perr != nil && !errors.Is(err, perr) {
			err = errors.Join(err, perr)
		}
	}()
	uids := make([]uint32, len(fresh))
	for i, c := range fresh {
		uids[i] = c.UID
	}
	for chunk := range slices.Chunk(uids, o.Batch) {
		sums, err := src.Summaries(ctx, chunk)
		if err != nil {
			return missed, err
		}
		byUID := make(map[uint32]*lps.Summary, len(sums))
		var batch []uint32
		var batchBytes int64
		fetch := func() error {
			n, err := s.fetchBodies(ctx, src, g, batch, byUID, uidvalidity)
			missed += n
			batch, batchBytes = batch[:0], 0
			return err
		}
		for i := range sums {
			m := &sums[i]
			byUID[m.UID] = m
			if m.Size > o.MaxBody {
				// Indexed from the envelope, in its place in UID order.
				if err := fetch(); err != nil {
					return missed, err
				}
				sum.TooLarge++
				if err := g.add(ctx, fetchedOf(m, uidvalidity)); err != nil {
					return missed, err
				}
				continue
			}
			if len(batch) > 0 && (len(batch) >= o.Batch || batchBytes+m.Size > o.BatchBytes) {
				if err := fetch(); err != nil {
					return missed, err
				}
			}
			batch = append(batch, m.UID)
			batchBytes += m.Size
		}
		if err := fetch(); err != nil {
			return missed, err
		}
	}
	return missed, nil
}

// fetchBodies streams the bodies of uids into g. It returns the number of messages not fetched
// (expunged meanwhile, refused); the error is the one that must stop the sync: the context's, a
// broken session, the store's.
func (s *Store) fetchBodies(ctx context.Context, src Source, g *group, uids []uint32, byUID map[uint32]*lps.Summary,
	uidvalidity uint32) (missed int, err error) {
	if len(uids) == 0 {
		return 0, nil
	}
	handed := 0
	var stop error // from g: the store failed
	err = src.FetchBodies(ctx, uids, func(m *lps.FetchedMessage) error {
		sm := byUID[m.UID]
		if sm == nil {
			return nil // not asked: never happens with a well-behaved server
		}
		// Room for the body among those the pipeline holds; the group in hand goes first when
		// there is none, so that the room is made by the other stages.
		if !g.p.budget.tryAcquire(m.BodySize) {
			g.send()
			if err := g.p.budget.acquire(ctx, m.BodySize); err != nil {
				return err
			}
		}
		raw := make([]byte, m.BodySize)
		if _, err := io.ReadFull(m.Body, raw); err != nil {
			g.p.budget.release(m.BodySize)
			return err
		}
		fe := fetchedOf(sm, uidvalidity)
		fe.Raw = raw
		handed++
		if err := g.add(ctx, fe); err != nil {
			stop = err
			return err
		}
		return nil
	})
	if err == nil {
		return 0, nil
	}
	if stop != nil || ctx.Err() != nil || errors.Is(err, lps.ErrConnBroken) || errors.Is(err, lps.ErrClosed) {
		return 0, err
	}
	// Expunged meanwhile, or refused: the next sync sees them again.
	s.opts.Logger.Warn("messages not fetched", "folder", g.f.Name, "asked", len(uids), "fetched", handed, "err", err)
	return len(uids) - handed, nil
}

func fetchedOf(m *lps.Summary, uidvalidity uint32) *fetched {
	fe := &fetched{UID: m.UID, UIDValidity: uidvalidity, InternalDate: m.InternalDate, Size: m.Size,
		ModSeq: m.ModSeq, Flags: m.Flags, Subject: m.Subject, MessageID: m.MessageID, Date: m.Date}
	if len(m.From) > 0 {
		fe.From = m.From[0]
	}
	return fe
}

// commitBytes bounds the bodies of one group; inFlightBytes bounds the bodies the stages
// of the pipeline hold together (a bigger message waits until it is alone).
const (
	commitBytes   = 2 << 20
	inFlightBytes = 6 << 20
)

// maildirWriters is the number of goroutines writing Maildir files. Creating a file is mostly
// system time (0.15-0.9 ms each on the bench's ext4, BenchmarkMaildirPut), the longest stage of
// the pipeline, and serialised by the directory: a second writer costs 20-60% more system time,
// and the full sync of the bench mailbox was no faster with it (within 3%, alternating runs).
const maildirWriters = 1

// group is the messages parsed and waiting for their transaction.
type group struct {
	s       *Store
	acc     int64
	f       folderState
	o       *SyncOptions
	sum     *Summary
	total   int // new messages of the folder
	pending []pendingMessage
	bytes   int64
	p       *pipeline
}

type pendingMessage struct {
	fe    *fetched
	e     *entry
	names map[int64]string
	id    int64 // once committed; 0 when another process stored the UID first
}

// pipeline is the committer and the Maildir writers of one folder's download. Only the committer
// touches done, the Summary's New and Bytes, and calls Progress until wait returns.
type pipeline struct {
	commits chan []pendingMessage
	writes  chan []pendingMessage
	wg      sync.WaitGroup
	budget  *budget
	failed  atomic.Bool // err is set: the reader stops
	mu      sync.Mutex
	err     error
	done    int // committed (or found already there)
}

func (p *pipeline) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.failed.Store(true)
}

func (p *pipeline) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// start runs the committer and, with a Maildir, the writer; ctx is not cancelled (what is handed
// over is committed).
func (g *group) start(ctx context.Context) *pipeline {
	p := &pipeline{commits: make(chan []pendingMessage), budget: newBudget(inFlightBytes)}
	g.p = p
	if g.o.Maildir != nil {
		p.writes = make(chan []pendingMessage)
		for range maildirWriters {
			p.wg.Go(func() {
				for ms := range p.writes {
					if !p.failed.Load() {
						if err := g.write(ms); err != nil {
							p.fail(err)
						}
					}
					g.release(ms)
				}
			})
		}
	}
	p.wg.Go(func() {
		defer func() {
			if p.writes != nil {
				close(p.writes)
			}
		}()
		for ms := range p.commits {
			if p.failed.Load() {
				g.release(ms) // not stored: the next sync fetches them again
				continue
			}
			if err := g.commit(ctx, ms); err != nil {
				p.fail(err)
				g.release(ms)
				continue
			}
			if p.writes != nil {
				p.writes <- ms
			} else {
				g.release(ms)
			}
		}
	})
	return p
}

// wait closes the pipeline and returns its first error once every group handed over is done.
func (p *pipeline) wait() error {
	close(p.commits)
	p.wg.Wait()
	return p.firstErr()
}

// release gives back the room of bodies no stage holds any more.
func (g *group) release(ms []pendingMessage) {
	for i := range ms {
		g.p.budget.release(int64(len(ms[i].fe.Raw)))
		ms[i] = pendingMessage{} // the bodies go to the collector
	}
}

func (g *group) progress() {
	if g.o.Progress != nil {
		done := 0
		if g.p != nil {
			done = g.p.done
		}
		g.o.Progress(Progress{Folder: g.f.Name, Done: done, Total: g.total, Bytes: g.sum.Bytes})
	}
}

// add indexes fe and hands the group to the committer when it is full. It fails once the
// committer or the writer has failed.
func (g *group) add(ctx context.Context, fe *fetched) error {
	if g.p.failed.Load() {
		g.p.budget.release(int64(len(fe.Raw)))
		return g.p.firstErr()
	}
	e := g.s.entryOf(fe)
	g.pending = append(g.pending, pendingMessage{fe: fe, e: e, names: g.s.matchPatients(ctx, e)})
	g.bytes += int64(len(fe.Raw))
	if len(g.pending) >= g.o.CommitEvery || g.bytes >= commitBytes {
		g.send()
	}
	return nil
}

// send hands the pending messages to the committer.
func (g *group) send() {
	if len(g.pending) == 0 {
		return
	}
	g.p.commits <- g.pending
	g.pending, g.bytes = nil, 0
}

// commit stores ms in one transaction (the committer).
func (g *group) commit(ctx context.Context, ms []pendingMessage) error {
	fs := make([]*fetched, len(ms))
	for i := range ms {
		fs[i] = ms[i].fe
	}
	refs, err := g.s.storeBodies(fs)
	if err != nil {
		return err
	}
	msgs := make([]newMessage, len(ms))
	for i, p := range ms {
		msgs[i] = newMessage{f: p.fe, e: p.e, names: p.names, body: refs[i]}
	}
	err = g.s.db.InTx(ctx, func(tx *store.Tx) error {
		ids, err := insertAllTx(ctx, tx, g.acc, g.f.ID, msgs)
		for i, id := range ids {
			ms[i].id = id
		}
		return err
	})
	if err != nil {
		return err
	}
	for i := range ms {
		if ms[i].id != 0 { // else another process stored it first
			g.sum.New++
			g.sum.Bytes += int64(len(ms[i].fe.Raw))
		}
	}
	g.p.done += len(ms)
	g.progress()
	return nil
}

// write puts committed messages in the Maildir (the writer).
func (g *group) write(ms []pendingMessage) error {
	for _, p := range ms {
		if p.id != 0 && p.fe.Raw != nil {
			if err := g.o.Maildir.put(g.f.Name, p.id, p.fe.UID, p.fe.Flags, p.fe.Raw); err != nil {
				return err
			}
		}
	}
	return nil
}

// budget bounds the bytes of bodies the pipeline holds to max (a weighted semaphore); a body
// bigger than max counts as max, so it waits until nothing else is held.
type budget struct {
	sem *semaphore.Weighted
	max int64
}

func newBudget(max int64) *budget { return &budget{sem: semaphore.NewWeighted(max), max: max} }

func (b *budget) tryAcquire(n int64) bool { return b.sem.TryAcquire(min(n, b.max)) }

// acquire waits for room for n bytes or for the end of ctx.
func (b *budget) acquire(ctx context.Context, n int64) error {
	return b.sem.Acquire(ctx, min(n, b.max))
}

// release gives back the room of one body of n bytes.
func (b *budget) release(n int64) { b.sem.Release(min(n, b.max)) }

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
