package web

import (
	"context"
	"errors"
	"strings"

	"encoding/json"
	"fmt"
	"github.com/mssante/mssante/internal/mailstore"
	"net/http"
	"sync"
	"time"

	"github.com/mssante/mssante/internal/server"
)

// syncState is the last sync of one mailbox, as the pages show it.
type syncState struct {
	Running bool
	OK      time.Time // end of the last successful sync
	Err     string    // the last failure, "" after a success
	ErrAt   time.Time
}

// worker synchronises the mailboxes of one session while it lives.
type worker struct {
	key       string
	mailboxes []string
	kick      chan struct{}
	cancel    context.CancelFunc

	mu    sync.Mutex
	state map[string]*syncState
	subs  map[chan string]struct{}
}

// worker returns the session's worker, starting it on the first request of the session.
func (a *App) worker(sess *server.BrowserSession, mbs []Mailbox) *worker {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w := a.workers[sess.Key]; w != nil {
		return w
	}
	addrs := make([]string, len(mbs))
	for i, m := range mbs {
		addrs[i] = m.Address
	}
	ctx, cancel := context.WithCancel(a.ctx)
	w := &worker{key: sess.Key, mailboxes: addrs, kick: make(chan struct{}, 1), cancel: cancel,
		state: map[string]*syncState{}, subs: map[chan string]struct{}{}}
	a.workers[sess.Key] = w
	if a.o.Operator == nil {
		return w
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		select {
		case <-sess.Done:
		case <-ctx.Done():
		}
		cancel()
		a.mu.Lock()
		if a.workers[sess.Key] == w {
			delete(a.workers, sess.Key)
		}
		a.mu.Unlock()
	}()
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.runSync(ctx, w, sess) }()
	for _, addr := range addrs {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.runWatch(ctx, w, sess, addr) }()
	}
	return w
}

// restartWorker stops a session's worker (its mailboxes changed); the next request starts one.
func (a *App) restartWorker(key string) {
	a.mu.Lock()
	w := a.workers[key]
	delete(a.workers, key)
	a.mu.Unlock()
	if w != nil {
		w.cancel()
	}
}

// runSync syncs every mailbox at once, then every SyncInterval or when kicked (IDLE, a send).
func (a *App) runSync(ctx context.Context, w *worker, sess *server.BrowserSession) {
	t := time.NewTicker(a.o.SyncInterval)
	defer t.Stop()
	for {
		for _, addr := range w.mailboxes {
			w.set(addr, func(s *syncState) { s.Running = true })
			w.publish("sync")
			err := a.o.Operator.Sync(ctx, addr, sess.Pro.NationalID, TokenFunc(sess.Token))
			if ctx.Err() != nil {
				return
			}
			now := a.now()
			w.set(addr, func(s *syncState) {
				s.Running = false
				if err != nil {
					s.Err, s.ErrAt = err.Error(), now
					return
				}
				s.OK, s.Err = now, ""
			})
			if err != nil {
				a.log.Warn("web: sync", "account", addr, "national_id", sess.Pro.NationalID, "err", err)
			}
			a.dropFolders(addr)
			w.publish("sync")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
	}
}

// runWatch keeps an IDLE session on the INBOX of addr and kicks a sync on each change; after a
// failure it waits and tries again.
func (a *App) runWatch(ctx context.Context, w *worker, sess *server.BrowserSession, addr string) {
	for ctx.Err() == nil {
		err := a.o.Operator.Watch(ctx, addr, sess.Pro.NationalID, TokenFunc(sess.Token), w.poke)
		if ctx.Err() != nil {
			return
		}
		a.log.Info("web: watch ended", "account", addr, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(30 * time.Second):
		}
	}
}

// poke asks for a sync soon.
func (w *worker) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *worker) set(addr string, f func(*syncState)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.state[addr]
	if s == nil {
		s = &syncState{}
		w.state[addr] = s
	}
	f(s)
}

// snapshot returns the states of the mailboxes.
func (w *worker) snapshot() map[string]syncState {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]syncState{}
	for k, v := range w.state {
		out[k] = *v
	}
	return out
}

func (w *worker) publish(ev string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (w *worker) subscribe() chan string {
	ch := make(chan string, 4)
	w.mu.Lock()
	w.subs[ch] = struct{}{}
	w.mu.Unlock()
	return ch
}

func (w *worker) unsubscribe(ch chan string) {
	w.mu.Lock()
	delete(w.subs, ch)
	w.mu.Unlock()
}

// syncSummary is the sync line of the pages: "à jour il y a 1 min", "synchronisation…" or the
// error, over the given mailboxes.
type syncSummary struct {
	Text  string
	Error bool
	Busy  bool
}

func (a *App) syncSummary(c *reqCtx, addrs []string) syncSummary {
	a.mu.Lock()
	w := a.workers[c.sess.Key]
	a.mu.Unlock()
	if a.o.Operator == nil || w == nil {
		return syncSummary{Text: "consultation hors ligne (index local)"}
	}
	states := w.snapshot()
	var oldest time.Time
	for _, addr := range addrs {
		s, ok := states[addr]
		switch {
		case ok && s.Err != "":
			return syncSummary{Text: "échec de la synchronisation de " + addr + " : " + s.Err, Error: true}
		case !ok || s.OK.IsZero():
			return syncSummary{Text: "synchronisation en cours…", Busy: true}
		case oldest.IsZero() || s.OK.Before(oldest):
			oldest = s.OK
		}
	}
	if oldest.IsZero() {
		return syncSummary{Text: "aucune boîte à synchroniser"}
	}
	return syncSummary{Text: "à jour " + ago(a.now().Sub(oldest))}
}

// ago says a duration in French: "à l'instant", "il y a 3 min", "il y a 2 h".
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "à l'instant"
	case d < time.Hour:
		return fmt.Sprintf("il y a %d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("il y a %d h", int(d/time.Hour))
	}
	return fmt.Sprintf("il y a %d jours", int(d/(24*time.Hour)))
}

// handleEvents streams the session's sync events to the script (text/event-stream): "sync"
// with the summary line, after each sync and IDLE notice.
func (a *App) handleEvents(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	wk := a.worker(c.sess, c.mailboxes)
	ch := wk.subscribe()
	defer wk.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(ev string) {
		s := a.syncSummary(c, c.addresses())
		b, _ := json.Marshal(map[string]any{"text": s.Text, "error": s.Error, "busy": s.Busy})
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev, b)
		fl.Flush()
	}
	send("ready")
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.sess.Done:
			fmt.Fprint(w, "event: session-ended\ndata: {}\n\n")
			fl.Flush()
			return
		case ev := <-ch:
			send(ev)
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		}
	}
}

type folderCache struct {
	list []mailstore.Folder
	err  error
	at   time.Time
}

// foldersTTL bounds how stale the counts of a mailbox synchronised by another process may be.
const foldersTTL = 5 * time.Second

// foldersOf returns the folders of account with their counts, cached for foldersTTL.
func (a *App) foldersOf(ctx context.Context, account string) ([]mailstore.Folder, error) {
	key := strings.ToLower(account)
	a.mu.Lock()
	c, ok := a.folders[key]
	a.mu.Unlock()
	if ok && time.Since(c.at) < foldersTTL {
		return c.list, c.err
	}
	list, err := a.o.Mail.Folders(ctx, account)
	if err != nil && !errors.Is(err, mailstore.ErrNotFound) {
		return nil, err // not cached: a database error is retried at the next request
	}
	a.mu.Lock()
	a.folders[key] = folderCache{list: list, err: err, at: time.Now()}
	a.mu.Unlock()
	return list, err
}

func (a *App) dropFolders(account string) {
	a.mu.Lock()
	delete(a.folders, strings.ToLower(account))
	a.mu.Unlock()
}
