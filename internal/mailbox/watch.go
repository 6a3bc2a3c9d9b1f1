package mailbox

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/mssante/mssante/lps"
)

// WatchEvent is one event of Watch.
type WatchEvent struct {
	// Kind is "watching" (the mailbox is selected: Messages is its count), "mail" (a new message:
	// Mail), "reconnected" (the operator closed the session, it was reopened, ECO.1.2.7) or
	// "disconnected" (the operator stays unreachable: retried with back-off; Reason). With
	// WatchOptions.Changes, also "expunged" (a message left the mailbox: Seq) and "flags" (the
	// flags of message Seq changed in another session).
	Kind     string
	Server   string
	Messages uint32
	Mail     *Summary
	Reason   string
	// Seq is the message sequence number of an "expunged" or "flags" event.
	Seq uint32
}

// WatchOptions tune Watch; nil means defaults.
type WatchOptions struct {
	// OnEvent receives the events; it may be called from the session's goroutines, one call at a
	// time is not guaranteed.
	OnEvent func(WatchEvent)
	// Reidle is how long one IDLE command lasts before it is renewed (RFC 2177: under 29 min); the
	// mailbox is checked at each renewal too. Default 10 min.
	Reidle time.Duration
	// MaxBackoff bounds the wait between two reopening attempts. Default 30 s.
	MaxBackoff time.Duration
	// DialTimeout bounds each (re)connection. Default 30 s.
	DialTimeout time.Duration
	// Changes also reports expunges and flag changes ("expunged", "flags" events), as the
	// server announces them during IDLE (SyncLive uses them to resynchronise the folder).
	Changes bool
}

func (o *WatchOptions) defaults() WatchOptions {
	var w WatchOptions
	if o != nil {
		w = *o
	}
	if w.OnEvent == nil {
		w.OnEvent = func(WatchEvent) {}
	}
	if w.Reidle <= 0 {
		w.Reidle = 10 * time.Minute
	}
	if w.MaxBackoff <= 0 {
		w.MaxBackoff = 30 * time.Second
	}
	if w.DialTimeout <= 0 {
		w.DialTimeout = 30 * time.Second
	}
	return w
}

// SessionEnded is the end of the professional's session (ECO.1.2.6): the PSC session ended at the
// intermediate server, or the token link disappeared. The caller cancels Watch's context with it
// (context.WithCancelCause); the IMAP session is then closed at once.
type SessionEnded struct{ Reason string }

func (e *SessionEnded) Error() string {
	return fmt.Sprintf("session ended (%s): log in again (session Pro Santé Connect terminée, reconnectez-vous)", e.Reason)
}

// Watch keeps an IMAP IDLE session open on mailbox (RFC 2177) on a session of its own, and reports
// each new message, until ctx ends (it then returns nil). A session closed by the operator is
// reopened by lps with the current credentials (ECO.1.2.7); when the operator stays unreachable
// Watch waits with exponential back-off and reopens, while ctx lasts. It returns an error for what
// reopening cannot cure: refused authentication or TLS policy, no STARTTLS.
func (a *Account) Watch(ctx context.Context, mailbox string, o *WatchOptions) error {
	w := o.defaults()
	var server string
	reopen := lps.RecorderFunc(func(_ context.Context, ev lps.Event) {
		if ev.Action == lps.ActionConnect && ev.Err == nil && strings.HasPrefix(ev.Request, "REOPEN") {
			w.OnEvent(WatchEvent{Kind: "reconnected", Server: server})
		}
	})
	dctx, cancel := context.WithTimeout(ctx, w.DialTimeout)
	ep, auth, err := a.endpoint(dctx, "imap")
	if err == nil {
		server = ep.String()
		var opts *lps.Options
		if opts, err = a.lpsOptions(ep, reopen); err == nil {
			var ic *lps.IMAPClient
			if ic, err = lps.DialIMAP(dctx, ep, auth, opts); err != nil {
				err = a.connectError(ep, err)
			} else {
				cancel()
				return a.idle(ctx, ic, server, mailbox, w)
			}
		}
	}
	cancel()
	return err
}

// idle runs the IDLE loop on ic until ctx ends. Each change announced during IDLE ends that IDLE
// command; the new messages are then listed and IDLE resumes.
func (a *Account) idle(ctx context.Context, ic *lps.IMAPClient, server, mailbox string, w WatchOptions) error {
	// Close the session as soon as ctx ends (the professional's session ended, ECO.1.2.6), whatever
	// it is doing.
	stop := context.AfterFunc(ctx, func() { _ = ic.Close() })
	defer stop()
	defer ic.Close()
	st, err := ic.Select(ctx, mailbox)
	if err != nil {
		return ignoreDone(ctx, err)
	}
	uids, err := ic.Search(ctx, lps.Criteria{})
	if err != nil {
		return ignoreDone(ctx, err)
	}
	lastUID := uint32(0)
	if len(uids) > 0 {
		lastUID = slices.Max(uids)
	}
	w.OnEvent(WatchEvent{Kind: "watching", Server: server, Messages: st.Messages})
	backoff := time.Second
	for ctx.Err() == nil {
		idleCtx, stopIdle := context.WithTimeout(ctx, w.Reidle)
		// A new message count ends this IDLE; a timeout renews it. Both check the mailbox.
		err := ic.Idle(idleCtx, func(u lps.Update) {
			switch {
			case u.Messages > 0:
				stopIdle()
			case u.Expunged > 0 && w.Changes:
				w.OnEvent(WatchEvent{Kind: "expunged", Server: server, Seq: u.Expunged})
			case u.Fetched > 0 && w.Changes:
				w.OnEvent(WatchEvent{Kind: "flags", Server: server, Seq: u.Fetched})
			}
		})
		stopIdle()
		if err == nil && ctx.Err() == nil {
			lastUID, err = a.announce(ctx, ic, lastUID, w)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			backoff = time.Second
			continue
		}
		if Permanent(err) {
			return fmt.Errorf("IMAP session to %s: %w", server, err)
		}
		// The operator is unreachable for longer than lps's own retries (a restart): wait and
		// reopen while the professional's session lasts (ECO.1.2.7, ECO.1.2.3).
		w.OnEvent(WatchEvent{Kind: "disconnected", Server: server, Reason: err.Error()})
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, w.MaxBackoff)
	}
	return nil
}

func ignoreDone(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Permanent reports the session errors that reopening cannot cure: authentication or TLS policy
// refused, no STARTTLS, session closed here.
func Permanent(err error) bool {
	for _, e := range []error{lps.ErrAuth, lps.ErrTLSPolicy, lps.ErrNoSTARTTLS, lps.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// announce reports the messages whose UID is above last and returns the highest UID seen.
func (a *Account) announce(ctx context.Context, ic *lps.IMAPClient, last uint32, w WatchOptions) (uint32, error) {
	uids, err := ic.Search(ctx, lps.Criteria{})
	if err != nil {
		return last, err
	}
	uids = slices.DeleteFunc(uids, func(u uint32) bool { return u <= last })
	if len(uids) == 0 {
		return last, nil
	}
	slices.Sort(uids)
	sums, err := ic.Summaries(ctx, uids)
	if err != nil {
		return last, err
	}
	slices.SortFunc(sums, func(x, y lps.Summary) int { return int(int64(x.UID) - int64(y.UID)) })
	for _, s := range sums {
		sum := a.summary(s)
		w.OnEvent(WatchEvent{Kind: "mail", Mail: &sum})
		last = max(last, s.UID)
	}
	return max(last, uids[len(uids)-1]), nil
}

// FollowTokenFile follows a token file (the token link of `mssante login`) every poll until ctx
// ends: a new token calls onRenewed with its expiry (zero when not a JWT), a missing file (the
// login agent removed its link, or ended) calls onEnded and stops. Only a hash of the token is
// kept.
func FollowTokenFile(ctx context.Context, file string, poll time.Duration, onRenewed func(exp time.Time), onEnded func(*SessionEnded)) {
	var last [sha256.Size]byte
	if tok, err := ReadToken(file); err == nil {
		last = sha256.Sum256([]byte(tok))
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		tok, err := ReadToken(file)
		if errors.Is(err, fs.ErrNotExist) {
			onEnded(&SessionEnded{Reason: "token-file-removed"})
			return
		}
		if err != nil {
			continue
		}
		if sum := sha256.Sum256([]byte(tok)); sum != last {
			last = sum
			exp, _ := TokenExpiry(tok)
			onRenewed(exp)
		}
	}
}
