package mailbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/lps"
)

// LiveChange is what one synchronisation of a folder changed in the local store (the web app
// pushes it over SSE, the gateway starts deliveries on it). Folder is empty for what several
// folders changed in one synchronisation (after a folder was deleted on the server).
type LiveChange struct {
	Folder  string `json:"folder"`
	New     int    `json:"new"`
	Removed int    `json:"removed"`
	Flags   int    `json:"flags"`
	// Remapped messages kept their body across a UIDVALIDITY change but have new UIDs.
	Remapped int `json:"remapped,omitempty"`
}

// LiveOptions tune SyncLive; nil means defaults.
type LiveOptions struct {
	// Watch is the folder kept under IDLE (default INBOX).
	Watch string
	// Folders are the folders of the periodic synchronisation; every selectable folder when
	// empty (a folder deleted on the server then leaves the store).
	Folders []string
	// Every is the period of the synchronisation of every folder (default 5 min).
	Every time.Duration
	// Debounce is how long after the first change announced by IDLE the watched folder is
	// synchronised: the changes of that window are taken in one synchronisation (default 500 ms).
	Debounce time.Duration
	// MaxBackoff bounds the wait before a failed folder is synchronised again: 1 s, doubled at
	// each failure (default 5 min). The error is in the folder's state (mailstore Folder.LastError).
	MaxBackoff time.Duration
	// Sync are the options of each synchronisation (MaxBody, Batch, Maildir, Progress); its
	// Folders is ignored.
	Sync mailstore.SyncOptions
	// OnChange receives each synchronisation that changed something, from SyncLive's goroutine.
	OnChange func(LiveChange)
	// OnError receives each failed synchronisation of a folder (then retried).
	OnError func(folder string, err error)
	// OnEvent receives the events of the IDLE session (Watch), from its goroutines.
	OnEvent func(WatchEvent)
	// Reidle and DialTimeout are those of Watch.
	Reidle, DialTimeout time.Duration
}

func (o *LiveOptions) defaults() LiveOptions {
	var l LiveOptions
	if o != nil {
		l = *o
	}
	if l.Watch == "" {
		l.Watch = "INBOX"
	}
	if l.Every <= 0 {
		l.Every = 5 * time.Minute
	}
	if l.Debounce <= 0 {
		l.Debounce = 500 * time.Millisecond
	}
	if l.MaxBackoff <= 0 {
		l.MaxBackoff = 5 * time.Minute
	}
	if l.DialTimeout <= 0 {
		l.DialTimeout = 30 * time.Second
	}
	if l.OnChange == nil {
		l.OnChange = func(LiveChange) {}
	}
	if l.OnError == nil {
		l.OnError = func(string, error) {}
	}
	if l.OnEvent == nil {
		l.OnEvent = func(WatchEvent) {}
	}
	return l
}

// retry is a folder whose last synchronisation failed.
type retry struct {
	due     time.Time
	backoff time.Duration
}

// SyncLive keeps the local store ms up to date with the account (issue 9 item 1, ECO.1.0.2):
// an incremental synchronisation of every folder first, then the watched folder under IDLE
// (Watch, on a session of its own: reopened after a server restart, with the current token at
// each authentication) synchronised again after each new message, expunge or flag change it
// announces (debounced), and every folder each Every. A folder that fails keeps its error in its
// state and is retried with back-off; the others go on. The synchronisations go over one more
// IMAP session, which lps reopens when it breaks.
//
// While the operator cannot be reached — at the start too — both sessions are tried again with
// back-off (OnError tells each failure).
//
// SyncLive returns nil when ctx ends — a Ctrl-C, or the end of the professional's session, which
// the caller gives as the cause (context.WithCancelCause with a *SessionEnded) and reads back
// with context.Cause —, and an error for what retrying cannot cure: authentication or TLS policy
// refused, from the start or later.
func (a *Account) SyncLive(ctx context.Context, ms *mailstore.Store, o *LiveOptions) error {
	l := o.defaults()
	ic, err := a.dialLive(ctx, &l)
	if err != nil || ic == nil {
		return err
	}
	defer ic.Close()
	stop := context.AfterFunc(ctx, func() { _ = ic.Close() })
	defer stop()

	dirty := make(chan struct{}, 1) // the watched folder changed
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchErr := make(chan error, 1)
	watching := false
	startWatch := func() {
		watching = true
		go func() {
			watchErr <- a.Watch(wctx, l.Watch, &WatchOptions{Changes: true, Reidle: l.Reidle, DialTimeout: l.DialTimeout,
				OnEvent: func(ev WatchEvent) {
					switch ev.Kind {
					case "watching", "mail", "expunged", "flags", "reconnected":
						select {
						case dirty <- struct{}{}:
						default:
						}
					}
					l.OnEvent(ev)
				}})
		}()
	}
	startWatch()
	var watchDue time.Time // when a failed Watch is started again
	watchBackoff := time.Second

	s := &liveSync{a: a, ms: ms, ic: ic, l: &l, failed: map[string]retry{}}
	s.all(ctx)
	nextAll := time.Now().Add(l.Every)
	var dirtySince time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			break
		}
		if s.fatal != nil {
			stopWatch()
			if watching {
				<-watchErr
			}
			return fmt.Errorf("live synchronisation of %s: %w", a.o.Address, s.fatal)
		}
		next := nextAll
		if !dirtySince.IsZero() {
			next = earliest(next, dirtySince.Add(l.Debounce))
		}
		for _, r := range s.failed {
			next = earliest(next, r.due)
		}
		if !watching {
			next = earliest(next, watchDue)
		}
		timer.Reset(max(time.Until(next), 0))
		select {
		case <-ctx.Done():
		case err := <-watchErr:
			watching = false
			if ctx.Err() != nil {
				break
			}
			if err == nil {
				err = errors.New("the IDLE session ended")
			}
			if fatal(err) {
				return fmt.Errorf("live synchronisation of %s: %w", a.o.Address, err)
			}
			// The operator could not be reached: IDLE again after a while; meanwhile the
			// periodic synchronisation goes on.
			l.OnError(l.Watch, err)
			watchDue = time.Now().Add(watchBackoff)
			watchBackoff = min(2*watchBackoff, l.MaxBackoff)
			continue
		case <-dirty:
			watchBackoff = time.Second // the IDLE session is up
			if dirtySince.IsZero() {
				dirtySince = time.Now()
			}
			continue
		case <-timer.C:
		}
		if ctx.Err() != nil {
			break
		}
		if !watching && !time.Now().Before(watchDue) {
			startWatch()
		}
		now := time.Now()
		switch {
		case !now.Before(nextAll):
			s.all(ctx)
			nextAll, dirtySince = time.Now().Add(l.Every), time.Time{}
		default:
			if !dirtySince.IsZero() && !now.Before(dirtySince.Add(l.Debounce)) {
				dirtySince = time.Time{}
				s.folder(ctx, l.Watch)
			}
			for name, r := range s.failed {
				if !now.Before(r.due) && name != "" {
					s.folder(ctx, name)
				}
			}
			if r, ok := s.failed[""]; ok && !now.Before(r.due) {
				s.all(ctx)
			}
		}
	}
	stopWatch()
	if watching {
		<-watchErr
	}
	return nil
}

// dialLive opens the synchronisation session, trying again with back-off while the operator
// cannot be reached; nil, nil when ctx ended first.
func (a *Account) dialLive(ctx context.Context, l *LiveOptions) (*lps.IMAPClient, error) {
	backoff := time.Second
	for {
		dctx, cancel := context.WithTimeout(ctx, l.DialTimeout)
		ic, err := a.DialIMAP(dctx)
		cancel()
		if ctx.Err() != nil {
			if ic != nil {
				_ = ic.Close()
			}
			return nil, nil
		}
		if err == nil {
			return ic, nil
		}
		if fatal(err) {
			return nil, err
		}
		l.OnError("", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
		backoff = min(2*backoff, l.MaxBackoff)
	}
}

// fatal reports the errors that retrying cannot cure.
func fatal(err error) bool {
	return Permanent(err) || errors.Is(err, ErrNoCredentials) || errors.Is(err, ErrNoPolicy)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// liveSync runs the synchronisations of SyncLive, one at a time.
type liveSync struct {
	a      *Account
	ms     *mailstore.Store
	ic     *lps.IMAPClient
	l      *LiveOptions
	failed map[string]retry // by folder; "" is the listing of the folders
	fatal  error            // what retrying cannot cure (authentication, TLS policy)
}

// folder synchronises one folder and reports what changed.
func (s *liveSync) folder(ctx context.Context, name string) {
	o := s.l.Sync
	o.Folders = []string{name}
	sum, err := s.ms.Sync(ctx, s.ic, s.a.o.Address, &o)
	if ctx.Err() != nil {
		return
	}
	s.report(name, sum)
	s.result(name, err)
}

// all synchronises every folder (Folders, else every selectable folder of the server), one at
// a time so that each change names its folder. When the store holds a folder the server no
// longer lists, one synchronisation of every folder removes it.
func (s *liveSync) all(ctx context.Context) {
	folders := s.l.Folders
	if len(folders) == 0 {
		boxes, err := s.ic.Mailboxes(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.result("", fmt.Errorf("listing the folders of %s: %w", s.a.o.Address, err))
			return
		}
		for _, b := range boxes {
			if !slices.ContainsFunc(b.Attrs, func(a string) bool { return a == `\Noselect` || a == `\NonExistent` }) {
				folders = append(folders, b.Name)
			}
		}
		s.result("", nil)
		if gone := s.goneFolders(ctx, folders); len(gone) > 0 {
			sum, err := s.ms.Sync(ctx, s.ic, s.a.o.Address, &s.l.Sync)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				// The change is told per deleted folder; what the other folders changed in the
				// same synchronisation, with an empty Folder.
				removed := 0
				for _, g := range gone {
					s.l.OnChange(LiveChange{Folder: g.Name, Removed: g.Messages})
					removed += g.Messages
				}
				sum.Removed -= removed
				s.report("", sum)
				for _, f := range folders {
					delete(s.failed, f)
				}
				return
			}
			s.result("", err)
		}
	}
	for _, f := range folders {
		if ctx.Err() != nil {
			return
		}
		s.folder(ctx, f)
	}
}

// goneFolders are the folders of the store that the server no longer lists.
func (s *liveSync) goneFolders(ctx context.Context, listed []string) []mailstore.Folder {
	local, err := s.ms.Folders(ctx, s.a.o.Address)
	if err != nil {
		return nil // no account yet
	}
	var gone []mailstore.Folder
	for _, f := range local {
		if !slices.Contains(listed, f.Name) {
			gone = append(gone, f)
		}
	}
	return gone
}

func (s *liveSync) report(name string, sum mailstore.Summary) {
	if sum.New+sum.Removed+sum.FlagsChanged+sum.Remapped > 0 {
		s.l.OnChange(LiveChange{Folder: name, New: sum.New, Removed: sum.Removed, Flags: sum.FlagsChanged, Remapped: sum.Remapped})
	}
}

// result records the outcome of a synchronisation: a failure is retried with back-off.
func (s *liveSync) result(name string, err error) {
	if err == nil {
		delete(s.failed, name)
		return
	}
	if fatal(err) {
		s.fatal = err
		return
	}
	r, ok := s.failed[name]
	if !ok {
		r.backoff = time.Second
	} else {
		r.backoff = min(2*r.backoff, s.l.MaxBackoff)
	}
	r.due = time.Now().Add(r.backoff)
	s.failed[name] = r
	s.l.OnError(name, err)
}
