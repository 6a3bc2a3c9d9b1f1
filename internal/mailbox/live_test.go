package mailbox_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/trust"
)

// liveRun is a SyncLive running in the background, with what it reported.
type liveRun struct {
	ms     *mailstore.Store
	cancel context.CancelFunc
	done   chan error

	mu       sync.Mutex
	changes  []mailbox.LiveChange
	errs     map[string]int
	watching chan struct{}
}

func startLive(t *testing.T, acct *mailbox.Account, o mailbox.LiveOptions) *liveRun {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "mail.db"), mailstore.Migrations()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	r := &liveRun{ms: mailstore.New(db, nil), done: make(chan error, 1), errs: map[string]int{}, watching: make(chan struct{})}
	var once sync.Once
	o.OnChange = func(c mailbox.LiveChange) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.changes = append(r.changes, c)
	}
	o.OnError = func(folder string, err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.errs[folder]++
	}
	o.OnEvent = func(ev mailbox.WatchEvent) {
		if ev.Kind == "watching" {
			once.Do(func() { close(r.watching) })
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- acct.SyncLive(ctx, r.ms, &o) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	select {
	case <-r.watching:
	case err := <-r.done:
		t.Fatalf("SyncLive ended before watching: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("SyncLive: no IDLE session")
	}
	return r
}

// waitStore polls the store until ok says so (a bounded wait, not a timing assertion).
func (r *liveRun) waitStore(t *testing.T, what string, ok func(mailstore.Page) bool, account string) mailstore.Page {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		page, err := r.ms.List(context.Background(), mailstore.Query{Accounts: []string{account}, Folders: []string{"INBOX"}, Limit: 500})
		if err == nil && ok(page) {
			return page
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in the store (last list: %+v, %v)", what, page, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *liveRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("SyncLive after cancel = %v, want nil", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("SyncLive did not end after cancel")
	}
}

// changed reports whether a change f accepts was reported, waiting a few seconds for it: the
// store shows a sync's result before SyncLive calls OnChange with it.
func (r *liveRun) changed(f func(mailbox.LiveChange) bool) bool {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r.mu.Lock()
		ok := slices.ContainsFunc(r.changes, f)
		r.mu.Unlock()
		if ok || time.Now().After(deadline) {
			return ok
		}
	}
}

func withSubject(s string) func(mailstore.Page) bool {
	return func(p mailstore.Page) bool {
		return slices.ContainsFunc(p.Messages, func(m mailstore.Message) bool { return m.DisplaySubject == s })
	}
}

// Live synchronisation against the sandbox operator (issue 9 item 1, ECO.1.0.2): a mail sent
// while SyncLive runs reaches the store through IDLE (the periodic sync is an hour away), a flag
// set and an expunge done by another session are reflected, a folder that cannot be synchronised
// keeps its error and is retried, and cancel ends SyncLive with nil.
func TestSyncLive_sandbox(t *testing.T) {
	w := world(t, 0)
	ctx := context.Background()
	from, to := sbAccount(t, w, "personal", 0), sbAccount(t, w, "personal", 1)
	sender := open(t, w, from, false, nil)
	rcpt := open(t, w, to, false, nil)
	other := open(t, w, to, false, nil) // another session of the same mailbox
	r := startLive(t, rcpt, mailbox.LiveOptions{Folders: []string{"INBOX", "Absent"}, Every: time.Hour,
		Debounce: 50 * time.Millisecond, MaxBackoff: 2 * time.Second})

	if _, err := sender.Send(ctx, &mailbox.Draft{Draft: message.Draft{From: message.Address{Name: "Dr Jeanne ESSAI", Addr: from.Address},
		To: []message.Address{{Addr: to.Address}}, Subject: "live un", Text: "x"}}, nil); err != nil {
		t.Fatal(err)
	}
	page := r.waitStore(t, "the mail sent while SyncLive runs", withSubject("live un"), to.Address)
	uid := page.Messages[slices.IndexFunc(page.Messages, func(m mailstore.Message) bool { return m.DisplaySubject == "live un" })].UID
	if !r.changed(func(c mailbox.LiveChange) bool { return c.Folder == "INBOX" && c.New == 1 }) {
		t.Errorf("no change {INBOX new 1} reported: %+v", r.changes)
	}

	if err := other.Flag(ctx, "INBOX", []uint32{uid}, lps.FlagsAdd, `\Flagged`); err != nil {
		t.Fatal(err)
	}
	r.waitStore(t, "the flag set by another session", func(p mailstore.Page) bool {
		return slices.ContainsFunc(p.Messages, func(m mailstore.Message) bool { return m.UID == uid && slices.Contains(m.Flags, `\Flagged`) })
	}, to.Address)

	if err := other.Delete(ctx, "INBOX", []uint32{uid}); err != nil {
		t.Fatal(err)
	}
	r.waitStore(t, "the expunge by another session", func(p mailstore.Page) bool {
		return !slices.ContainsFunc(p.Messages, func(m mailstore.Message) bool { return m.UID == uid })
	}, to.Address)
	if !r.changed(func(c mailbox.LiveChange) bool { return c.Folder == "INBOX" && c.Removed == 1 }) {
		t.Errorf("no change {INBOX removed 1} reported: %+v", r.changes)
	}

	// "Absent" fails at each attempt: its error is in its state, and it is tried again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		n := r.errs["Absent"]
		r.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Absent tried %d time(s), want a retry", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	folders, err := r.ms.Folders(ctx, to.Address)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if (f.Name == "Absent") != (f.LastError != "") {
			t.Errorf("folder %s: last_error %q", f.Name, f.LastError)
		}
	}
	r.stop(t)
}

// The same against a real Dovecot: a message delivered (doveadm save) while SyncLive runs is in
// the store, an expunge by another session leaves it, cancel ends SyncLive. ECO.1.0.2.
func TestSyncLive_dovecot(t *testing.T) {
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, NoPostfix: true})
	const box = "alice@test.mssante.fr"
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert}, CRLRefresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := lps.ParseEndpoint(st.IMAP)
	if err != nil {
		t.Fatal(err)
	}
	account := func() *mailbox.Account {
		a, err := mailbox.New(mailbox.Options{Address: box, IMAP: ep, Policy: pol,
			Credentials: mailbox.Credentials{Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return st.Token(box, time.Hour), nil })}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		return a
	}
	st.Deliver(box, "INBOX", []byte("From: <bob@test.mssante.fr>\r\nTo: <"+box+">\r\nSubject: avant\r\nMessage-ID: <live-0@test>\r\n\r\nx\r\n"))
	r := startLive(t, account(), mailbox.LiveOptions{Every: time.Hour, Debounce: 50 * time.Millisecond})
	r.waitStore(t, "the message of the initial sync", withSubject("avant"), box)

	st.Deliver(box, "INBOX", []byte("From: <bob@test.mssante.fr>\r\nTo: <"+box+">\r\nSubject: pendant\r\nMessage-ID: <live-1@test>\r\n\r\nx\r\n"))
	page := r.waitStore(t, "the message delivered while SyncLive runs", withSubject("pendant"), box)
	uid := page.Messages[slices.IndexFunc(page.Messages, func(m mailstore.Message) bool { return m.DisplaySubject == "pendant" })].UID

	other := account()
	if err := other.Flag(context.Background(), "INBOX", []uint32{uid}, lps.FlagsAdd, lps.FlagSeen); err != nil {
		t.Fatal(err)
	}
	r.waitStore(t, "the flag set by another session", func(p mailstore.Page) bool {
		return slices.ContainsFunc(p.Messages, func(m mailstore.Message) bool { return m.UID == uid && m.Seen })
	}, box)
	if err := other.Delete(context.Background(), "INBOX", []uint32{uid}); err != nil {
		t.Fatal(err)
	}
	r.waitStore(t, "the expunge by another session", func(p mailstore.Page) bool {
		return !slices.ContainsFunc(p.Messages, func(m mailstore.Message) bool { return m.UID == uid }) && len(p.Messages) == 1
	}, box)
	r.stop(t)
}

// A refused authentication ends SyncLive with the error (retrying cannot cure it).
func TestSyncLive_authRefused(t *testing.T) {
	w := world(t, 0)
	bad := open(t, w, sbAccount(t, w, "personal", 0), false, func(o *mailbox.Options) {
		o.Credentials.Tokens = lps.TokenSourceFunc(func(context.Context) (string, error) { return "not-a-token", nil })
	})
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "mail.db"), mailstore.Migrations()...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = bad.SyncLive(ctx, mailstore.New(db, nil), nil)
	if !errors.Is(err, lps.ErrAuth) {
		t.Errorf("SyncLive with a bad token = %v, want lps.ErrAuth", err)
	}
}

// An operator unreachable when SyncLive starts: the sessions are tried again with back-off, and
// once the operator answers the store fills and IDLE runs.
func TestSyncLive_unreachableAtStart(t *testing.T) {
	w := world(t, 0)
	// A port where nothing listens yet; later a relay to the operator's IMAP listener.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	to := sbAccount(t, w, "personal", 1)
	rcpt := open(t, w, to, false, func(o *mailbox.Options) { o.IMAP = endpoint(t, addr) })
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "mail.db"), mailstore.Migrations()...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms := mailstore.New(db, nil)
	failures := make(chan error, 64)
	watching := make(chan struct{}, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- rcpt.SyncLive(ctx, ms, &mailbox.LiveOptions{Every: time.Hour, MaxBackoff: time.Second, DialTimeout: 5 * time.Second,
			OnError: func(_ string, err error) {
				select {
				case failures <- err:
				default:
				}
			},
			OnEvent: func(ev mailbox.WatchEvent) {
				if ev.Kind == "watching" {
					watching <- struct{}{}
				}
			}})
	}()
	select {
	case <-failures:
	case err := <-done:
		t.Fatalf("SyncLive ended while the operator is unreachable: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no failure reported while the operator is unreachable")
	}
	relay, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer relay.Close()
	go func() {
		for {
			c, err := relay.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", w.Config.IMAP)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c) }()
				_, _ = io.Copy(c, s)
			}()
		}
	}()
	select {
	case <-watching:
	case err := <-done:
		t.Fatalf("SyncLive ended: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no IDLE session once the operator answers")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		page, err := ms.List(context.Background(), mailstore.Query{Accounts: []string{to.Address}, Limit: 10})
		if err == nil && len(page.Messages) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store is still empty: %+v, %v", page, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("SyncLive after cancel = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("SyncLive did not end after cancel")
	}
}
