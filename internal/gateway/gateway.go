package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/store"
)

// Connector opens the sessions of one applicative mailbox; AccountConnector is the
// implementation over internal/mailbox.
type Connector interface {
	// SMTP opens a submission session (one per outbox worker, reused for several messages).
	SMTP(ctx context.Context) (outbox.Session, error)
	// IMAP opens a session for sync, moves and IDLE.
	IMAP(ctx context.Context) (IMAPSession, error)
}

// IMAPSession is what the gateway does with an IMAP session: the sync engine's reads, moving
// the processed messages, waiting for news.
type IMAPSession interface {
	mailstore.Source
	// Move moves uids of folder to dest, creating dest when it is missing.
	Move(ctx context.Context, folder string, uids []uint32, dest string) error
	// Wait returns when folder changes (IDLE) or after d, whichever comes first.
	Wait(ctx context.Context, folder string, d time.Duration) error
	Close() error
}

// Mailbox is one applicative mailbox the gateway serves.
type Mailbox struct {
	Address string
	// Label is the display label of From (ECO.2.2.7: the software or service name); the
	// address when empty.
	Label string
	Conn  Connector
}

// Webhook is where events are posted.
type Webhook struct {
	URL    string
	Secret []byte // HMAC-SHA256 key of X-MSSante-Signature
	Client *http.Client
}

// Options configure a Gateway. Zero values are the documented defaults.
type Options struct {
	Mailboxes []Mailbox
	// Folder is the folder received documents are read from; "INBOX" when empty.
	Folder string
	// DoneFolder receives the messages whose documents are committed locally (created on the
	// server when missing); empty leaves them in Folder (they are deduplicated by Message-ID +
	// document id anyway).
	DoneFolder string
	// OutboxDir and InboxDir are the drop folders (empty: none).
	OutboxDir, InboxDir string
	// Deliveries are delivered every received document, besides InboxDir (HL7 file, MLLP…).
	Deliveries []Delivery
	Webhook    *Webhook
	// Compose sets the composing of outgoing mail.
	Compose ComposeOptions
	// Workers is the number of outbox workers (default 2); SyncConcurrency the number of
	// mailboxes synchronised at once (default 4).
	Workers, SyncConcurrency int
	// Lease is the lease of an outbox message, a mailbox's sync, a delivery (default 30 s).
	Lease time.Duration
	// Poll is the period of the drop folder scan and the idle wait of the queues (default 1 s);
	// Reidle the longest IDLE before a new sync (default 5 min).
	Poll, Reidle time.Duration
	// MaxBackoff bounds the wait after a failure (default 1 min).
	MaxBackoff time.Duration
	// Patients are the known patients (received documents are matched against them).
	Patients *patients.Store
	Registry prometheus.Registerer // nil: a private registry
	Now      func() time.Time
	Rand     io.Reader
	Logger   *slog.Logger
}

// Gateway is the delivery layer of applicative mailboxes: the outbox workers, one sync per
// mailbox, the deliveries, the webhooks and the REST API, all kept in one store.
type Gateway struct {
	db      *store.DB
	o       Options
	ob      *outbox.Outbox
	ms      *mailstore.Store
	owner   string
	log     *slog.Logger
	m       *metrics
	reg     *prometheus.Registry
	boxes   map[string]Mailbox
	targets []Delivery

	readyMu sync.Mutex
	ready   map[string]bool
}

// New returns the gateway on db, migrated with Migrations.
func New(db *store.DB, o Options) (*Gateway, error) {
	if o.Folder == "" {
		o.Folder = "INBOX"
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.SyncConcurrency <= 0 {
		o.SyncConcurrency = 4
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Reidle <= 0 {
		o.Reidle = 5 * time.Minute
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	if _, err := io.ReadFull(o.Rand, b[:]); err != nil {
		return nil, fmt.Errorf("gateway: owner id: %w", err)
	}
	g := &Gateway{db: db, o: o, owner: "gw-" + hex.EncodeToString(b[:]), log: o.Logger,
		boxes: map[string]Mailbox{}, ready: map[string]bool{}}
	for _, mb := range o.Mailboxes {
		if mb.Address == "" || mb.Conn == nil {
			return nil, errors.New("gateway: a mailbox needs an address and a connector")
		}
		g.boxes[canon(mb.Address)] = mb
	}
	g.ob = outbox.New(db, &outbox.Options{Now: o.Now, Logger: o.Logger, Owner: g.owner, Lease: o.Lease})
	msOpts := &mailstore.Options{Now: o.Now, Logger: o.Logger}
	if o.Patients != nil {
		msOpts.Patients = o.Patients
	}
	g.ms = mailstore.New(db, msOpts)
	g.reg = prometheus.NewRegistry()
	var reg prometheus.Registerer = g.reg
	if o.Registry != nil {
		reg = o.Registry
	}
	g.m = newMetrics(reg, g)
	if o.InboxDir != "" {
		g.targets = append(g.targets, &FolderDelivery{Dir: o.InboxDir})
	}
	g.targets = append(g.targets, o.Deliveries...)
	return g, nil
}

// Outbox returns the gateway's outbox.
func (g *Gateway) Outbox() *outbox.Outbox { return g.ob }

// Owner is this process's lease owner id.
func (g *Gateway) Owner() string { return g.owner }

// Run runs every worker until ctx ends: the outbox workers, the sync of each mailbox (bounded
// concurrency), the deliveries, the drop folder and the webhooks. It returns the first error
// that stops a worker for good, or nil when ctx ends.
func (g *Gateway) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	start := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				g.log.Error("gateway worker stopped", "worker", name, "err", err)
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	start("outbox", g.runOutbox)
	start("sync", g.runSyncs)
	start("deliveries", g.runDeliveries)
	start("outbox events", g.runOutboxEvents)
	if g.o.OutboxDir != "" {
		start("drops", g.runDrops)
	}
	if g.o.Webhook != nil {
		start("webhooks", g.runWebhooks)
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// canon is the form of an address used as a key (case-insensitive).
func canon(addr string) string {
	b := []byte(addr)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// timeLayout is RFC 3339 with a fixed number of fraction digits, so that text order is time
// order in both dialects.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// backoff returns the wait before attempt n+1: doubling from one second, capped.
func (g *Gateway) backoff(n int) time.Duration {
	d := time.Second
	for i := 1; i < n && d < g.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, g.o.MaxBackoff)
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// lease takes or renews the named lease for this process; false when another owner holds it.
func (g *Gateway) lease(ctx context.Context, name string) (bool, error) {
	now := g.o.Now()
	var got bool
	err := g.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO gateway_leases (name, owner, until) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
			WHERE gateway_leases.owner = excluded.owner OR gateway_leases.until < ?`,
			name, g.owner, formatTime(now.Add(g.o.Lease)), formatTime(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		got = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("take lease %s: %w", name, err)
	}
	return got, nil
}

// errLeaseLost: the lease could not be renewed; the work under it stopped before any effect
// another holder could repeat.
var errLeaseLost = errors.New("lease lost")

// underLease runs f with a context cancelled when the named lease (held on entry) cannot be
// renewed; it renews it every third of Options.Lease meanwhile.
func (g *Gateway) underLease(ctx context.Context, name string, f func(ctx context.Context) error) error {
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(g.o.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-lctx.Done():
				return
			case <-t.C:
				if ok, err := g.lease(lctx, name); err != nil || !ok {
					cancel(errLeaseLost)
					return
				}
			}
		}
	}()
	err := f(lctx)
	if errors.Is(context.Cause(lctx), errLeaseLost) {
		return fmt.Errorf("%s: %w", name, errLeaseLost)
	}
	return err
}

// release gives the named lease up (at shutdown), so that another process takes over at once.
func (g *Gateway) release(name string) {
	_, _ = g.db.ExecContext(context.Background(), `DELETE FROM gateway_leases WHERE name = ? AND owner = ?`, name, g.owner)
}

func (g *Gateway) setReady(name string, ok bool) {
	g.readyMu.Lock()
	g.ready[name] = ok
	g.readyMu.Unlock()
}
