package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
	"github.com/mssante/mssante/lps"
)

// clock is an injected Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// seqRand is a deterministic io.Reader.
type seqRand struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func newRand() *seqRand { return &seqRand{r: rand.NewChaCha8([32]byte{1})} }
func (s *seqRand) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

// fakeSender records every submission by Message-ID; refuse decides the answer.
type fakeSender struct {
	mu     sync.Mutex
	sent   map[string]int
	opens  int
	refuse func(messageID string, n int) error
	delay  time.Duration
	// onSubmit, when set, is called as each submission starts.
	onSubmit func()
	lastDSN  *DSN
}

func (f *fakeSender) Open(ctx context.Context, account string) (Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	return fakeSession{f}, nil
}

type fakeSession struct{ f *fakeSender }

func (s fakeSession) Submit(ctx context.Context, from string, rcpts []string, raw []byte, dsn *DSN) (Result, error) {
	id, err := MessageID(raw)
	if err != nil {
		return Result{}, err
	}
	if s.f.onSubmit != nil {
		s.f.onSubmit()
	}
	if s.f.delay > 0 {
		select {
		case <-ctx.Done():
			return Result{}, &lps.SendError{Command: "DATA", Err: ctx.Err()}
		case <-time.After(s.f.delay):
		}
	}
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if s.f.sent == nil {
		s.f.sent = map[string]int{}
	}
	if s.f.refuse != nil {
		if err := s.f.refuse(id, s.f.sent[id]); err != nil {
			s.f.sent[id+"#refused"]++
			return Result{}, err
		}
	}
	s.f.sent[id]++
	s.f.lastDSN = dsn
	return Result{Response: "2.0.0 Ok: queued"}, nil
}

func (s fakeSession) Close() error { return nil }

func testMessage(i int) Message {
	return Message{Account: "alice@test.mssante.fr", From: "alice@test.mssante.fr", Rcpts: []string{"bob@test.mssante.fr"},
		Raw: fmt.Appendf(nil, "From: <alice@test.mssante.fr>\r\nTo: <bob@test.mssante.fr>\r\nSubject: n%d\r\nMessage-ID: <m%d@test.mssante.fr>\r\n\r\nBonjour.\r\n", i, i)}
}

func states(t *testing.T, ctx context.Context, o *Outbox, id int64) []State {
	t.Helper()
	tl, err := o.Timeline(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []State
	for _, e := range tl {
		out = append(out, e.State)
	}
	return out
}

// Issue 9 item 3: a message is stored with its Message-ID before any SMTP command, then sent once.
func TestAddRun_sent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock()
		o := New(db, &Options{Now: clk.Now, Rand: newRand()})
		m := testMessage(1)
		m.DSN = &DSN{}
		e, err := o.Add(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if e.State != Queued || e.MessageID != "m1@test.mssante.fr" || !e.Added || e.Size != int64(len(m.Raw)) {
			t.Fatalf("Add = %+v", e)
		}
		again, err := o.Add(ctx, m)
		if err != nil || again.ID != e.ID || again.Added {
			t.Fatalf("second Add = %+v, %v; want the same entry, not added", again, err)
		}
		if _, err := o.Add(ctx, Message{Account: "a@b", From: "a@b", Rcpts: []string{"c@d"}, Raw: []byte("Subject: x\r\n\r\n")}); !errors.Is(err, ErrNoMessageID) {
			t.Errorf("Add without Message-ID: %v", err)
		}
		f := &fakeSender{}
		var progress []Entry
		st, err := o.Run(ctx, f, RunOptions{Once: true, Workers: 2, Poll: time.Millisecond, Progress: func(e Entry) { progress = append(progress, e) }})
		if err != nil || st.Sent != 1 || st.Attempts != 1 {
			t.Fatalf("Run = %+v, %v", st, err)
		}
		if f.sent["m1@test.mssante.fr"] != 1 || len(progress) != 1 || progress[0].State != Sent {
			t.Fatalf("sent %v, progress %+v", f.sent, progress)
		}
		// ECO.2.3.1: the DSN request goes with the message, its ENVID the Message-ID (for
		// Original-Envelope-Id correlation).
		if f.lastDSN == nil || f.lastDSN.EnvelopeID != "m1@test.mssante.fr" {
			t.Errorf("DSN options = %+v", f.lastDSN)
		}
		got, err := o.Get(ctx, e.ID)
		if err != nil || got.State != Sent || got.Response != "2.0.0 Ok: queued" || got.Attempts != 1 {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if s := states(t, ctx, o, e.ID); fmt.Sprint(s) != "[queued sending sent]" {
			t.Errorf("timeline = %v", s)
		}
		// Nothing left: a second run sends nothing.
		if st, err := o.Run(ctx, f, RunOptions{Once: true, Poll: time.Millisecond}); err != nil || st.Attempts != 0 {
			t.Errorf("second Run = %+v, %v", st, err)
		}
	}, Migrations...)
}

// A permanent refusal (5xx) fails the message at once: no retry.
func TestRun_permanentRefusalFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock()
		o := New(db, &Options{Now: clk.Now, Rand: newRand()})
		e, _ := o.Add(ctx, testMessage(1))
		f := &fakeSender{refuse: func(string, int) error {
			return &lps.SendError{Permanent: true, Code: 550, Enhanced: "5.1.1", Command: "RCPT", Line: "5.1.1 <bob@test.mssante.fr>: Recipient address rejected"}
		}}
		st, err := o.Run(ctx, f, RunOptions{Once: true, Poll: time.Millisecond})
		if err != nil || st.Failed != 1 || st.Attempts != 1 {
			t.Fatalf("Run = %+v, %v", st, err)
		}
		clk.Advance(48 * time.Hour)
		if st, _ := o.Run(ctx, f, RunOptions{Once: true, Poll: time.Millisecond}); st.Attempts != 0 {
			t.Errorf("a failed message was retried: %+v", st)
		}
		got, _ := o.Get(ctx, e.ID)
		if got.State != Failed || !strings.Contains(got.Reason, "5.1.1") || got.Attempts != 1 {
			t.Errorf("entry = %+v", got)
		}
	}, Migrations...)
}

// A temporary refusal (4xx, broken connection) is retried with exponential back-off, jitter and
// a cap, then given up after MaxAttempts.
func TestRun_temporaryRefusalBackoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock()
		bo := Backoff{Base: 10 * time.Second, Cap: 60 * time.Second}
		o := New(db, &Options{Now: clk.Now, Rand: newRand(), Backoff: bo, MaxAttempts: 6})
		e, _ := o.Add(ctx, testMessage(1))
		temp := &lps.SendError{Code: 451, Enhanced: "4.3.0", Command: "DATA", Line: "4.3.0 try again later"}
		f := &fakeSender{refuse: func(id string, n int) error { return temp }}
		run := func() Stats {
			st, err := o.Run(ctx, f, RunOptions{Once: true, Poll: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		var last time.Time
		for attempt := 1; attempt <= 5; attempt++ {
			if st := run(); st.Retried != 1 {
				t.Fatalf("attempt %d: %+v", attempt, st)
			}
			got, _ := o.Get(ctx, e.ID)
			d := min(bo.Base<<(attempt-1), bo.Cap)
			wait := got.NextAttemptAt.Sub(clk.Now())
			if got.State != Queued || wait < d/2 || wait > d || !strings.Contains(got.Reason, "4.3.0") {
				t.Fatalf("attempt %d: entry %+v, waits %v, want in [%v, %v]", attempt, got, wait, d/2, d)
			}
			last = got.NextAttemptAt
			// Not due before its time.
			clk.Advance(wait - time.Second)
			if st := run(); st.Attempts != 0 {
				t.Fatalf("attempt %d: retried before its time", attempt)
			}
			clk.Advance(time.Second)
		}
		_ = last
		if st := run(); st.Failed != 1 {
			t.Fatalf("sixth attempt: %+v", st)
		}
		got, _ := o.Get(ctx, e.ID)
		if got.State != Failed || !strings.Contains(got.Reason, "given up after 6 attempts") {
			t.Errorf("entry = %+v", got)
		}
		// A message refused once then accepted ends sent.
		e2, _ := o.Add(ctx, testMessage(2))
		f.refuse = func(id string, n int) error {
			if f.sent[id+"#refused"] == 0 {
				return temp
			}
			return nil
		}
		run()
		clk.Advance(time.Minute)
		run()
		got, _ = o.Get(ctx, e2.ID)
		if got.State != Sent || got.Attempts != 2 {
			t.Errorf("entry = %+v", got)
		}
		if s := states(t, ctx, o, e2.ID); fmt.Sprint(s) != "[queued sending queued sending sent]" {
			t.Errorf("timeline = %v", s)
		}
	}, Migrations...)
}

func TestBackoff_capAndJitter(t *testing.T) {
	b := Backoff{Base: time.Second, Cap: 8 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 30: 8 * time.Second} {
		if lo, hi := b.Delay(n, 0), b.Delay(n, 0.999999); lo != want/2 || hi > want || hi < want*99/100 {
			t.Errorf("Delay(%d) in [%v, %v], want [%v, %v]", n, lo, hi, want/2, want)
		}
	}
}

// A worker that dies holding a lease: once the lease expires another worker takes the message,
// and the timeline says it may be a second copy.
func TestClaim_expiredLeaseIsTakenAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock()
		dead := New(db, &Options{Now: clk.Now, Owner: "dead", Lease: 30 * time.Second})
		live := New(db, &Options{Now: clk.Now, Owner: "live", Lease: 30 * time.Second})
		e, _ := dead.Add(ctx, testMessage(1))
		c, err := dead.claim(ctx, "")
		if err != nil || c == nil || c.attempt != 1 {
			t.Fatalf("claim = %+v, %v", c, err)
		}
		if c2, err := live.claim(ctx, ""); err != nil || c2 != nil {
			t.Fatalf("a leased message was claimed again: %+v, %v", c2, err)
		}
		if n, _ := live.inFlight(ctx, ""); n != 1 {
			t.Errorf("inFlight = %d", n)
		}
		clk.Advance(31 * time.Second)
		c2, err := live.claim(ctx, "")
		if err != nil || c2 == nil || c2.id != e.ID || c2.attempt != 2 {
			t.Fatalf("claim after expiry = %+v, %v", c2, err)
		}
		// The dead worker's late answer does not overwrite the live worker's lease…
		if _, st, err := dead.finish(ctx, c, Result{}, errors.New("late"), false); err != nil || st != Queued {
			t.Fatal(err)
		}
		got, _ := live.Get(ctx, e.ID)
		if got.State != Sending {
			t.Fatalf("state after the dead worker's late failure = %s", got.State)
		}
		if _, _, err := live.finish(ctx, c2, Result{Response: "ok"}, nil, false); err != nil {
			t.Fatal(err)
		}
		tl, _ := live.Timeline(ctx, e.ID)
		if len(tl) != 4 || tl[2].Owner != "live" || !strings.Contains(tl[2].Reason, "lease of dead expired") || tl[3].State != Sent {
			t.Errorf("timeline = %+v", tl)
		}
	}, Migrations...)
}

// Several workers in several "processes" (outboxes with their own connections and owners) on
// one database: every message is sent exactly once.
func TestRun_concurrentWorkersSendOnce(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			url := storetest.URL(t, d)
			var dbs []*store.DB
			for range 2 {
				db, err := store.Open(ctx, url, Migrations...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				dbs = append(dbs, db)
			}
			const n = 120
			adder := New(dbs[0], nil)
			for i := range n {
				if _, err := adder.Add(ctx, testMessage(i)); err != nil {
					t.Fatal(err)
				}
			}
			f := &fakeSender{delay: time.Millisecond}
			var wg sync.WaitGroup
			stats := make([]Stats, 2)
			for p := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					o := New(dbs[p], &Options{Owner: fmt.Sprintf("p%d", p)})
					st, err := o.Run(ctx, f, RunOptions{Once: true, Workers: 4, Poll: 5 * time.Millisecond})
					if err != nil {
						t.Error(err)
					}
					stats[p] = st
				}()
			}
			wg.Wait()
			for i := range n {
				if c := f.sent[fmt.Sprintf("m%d@test.mssante.fr", i)]; c != 1 {
					t.Errorf("message %d sent %d times", i, c)
				}
			}
			if stats[0].Sent+stats[1].Sent != n {
				t.Errorf("stats = %+v", stats)
			}
			t.Logf("%s: %d messages, process 0 sent %d, process 1 sent %d, %d sessions", d, n, stats[0].Sent, stats[1].Sent, f.opens)
			left, _ := adder.List(ctx, Filter{States: []State{Queued, Sending}})
			if len(left) != 0 {
				t.Errorf("%d messages left", len(left))
			}
		})
	}
}

type fakeReports map[string][]Report

func (f fakeReports) ReportsFor(ctx context.Context, id string) ([]Report, error) { return f[id], nil }

// Issue 9 item 4: DSN, MDN and bounces found by sync move a sent message to
// delivered, read or bounced, with the reason.
func TestRefresh_reports(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		o := New(db, nil)
		var ids []int64
		for i := range 4 {
			e, _ := o.Add(ctx, testMessage(i))
			ids = append(ids, e.ID)
		}
		if _, err := o.Run(ctx, &fakeSender{}, RunOptions{Once: true, Poll: time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		r := fakeReports{
			"m0@test.mssante.fr": {{State: Delivered, Recipient: "bob@test.mssante.fr"}},
			"m1@test.mssante.fr": {{State: Delivered}, {State: Read, Reason: "displayed"}},
			"m2@test.mssante.fr": {{State: Delivered}, {State: Bounced, Recipient: "patient@patient.mssante.fr", Reason: "5.1.1 Message non distribué : boîte aux lettres fermée"}},
		}
		changed, err := o.Refresh(ctx, r, Filter{})
		if err != nil || len(changed) != 3 {
			t.Fatalf("Refresh = %+v, %v", changed, err)
		}
		want := []State{Delivered, Read, Bounced, Sent}
		for i, id := range ids {
			e, _ := o.Get(ctx, id)
			if e.State != want[i] {
				t.Errorf("message %d: %s, want %s", i, e.State, want[i])
			}
			if i == 2 && !strings.Contains(e.Reason, "boîte aux lettres fermée") {
				t.Errorf("bounce reason = %q", e.Reason)
			}
		}
		// A later delivery report does not undo a bounce; the timeline records each change once.
		if changed, _ := o.Refresh(ctx, r, Filter{}); len(changed) != 0 {
			t.Errorf("second Refresh changed %+v", changed)
		}
		if s := states(t, ctx, o, ids[2]); fmt.Sprint(s) != "[queued sending sent bounced]" {
			t.Errorf("timeline = %v", s)
		}
	}, Migrations...)
}

func TestEnsureMessageID(t *testing.T) {
	raw := []byte("From: Dr A <alice@test.mssante.fr>\r\nMessage-ID:\r\nSubject: x\r\n\r\nbody\r\n")
	out, id, added, err := EnsureMessageID(raw, "alice@test.mssante.fr", newRand())
	if err != nil || !added || !strings.HasSuffix(id, "@test.mssante.fr") || len(id) != 32+len("@test.mssante.fr") {
		t.Fatalf("EnsureMessageID = %q, %v, %v", id, added, err)
	}
	if got, err := MessageID(out); err != nil || got != id || strings.Count(string(out), "Message-ID") != 1 {
		t.Fatalf("message after = %q (%v)\n%s", got, err, out)
	}
	same, id2, added, err := EnsureMessageID(out, "alice@test.mssante.fr", newRand())
	if err != nil || added || id2 != id || string(same) != string(out) {
		t.Errorf("second EnsureMessageID changed the message: %q %v %v", id2, added, err)
	}
	lf, _, _, _ := EnsureMessageID([]byte("Subject: x\n\nbody\n"), "a@b.fr", newRand())
	if !strings.HasPrefix(string(lf), "Message-ID: <") || strings.Contains(string(lf), "\r") {
		t.Errorf("LF message: %q", lf)
	}
}

func FuzzMessageID(f *testing.F) {
	f.Add([]byte("Message-ID: <a@b>\r\n\r\n"))
	f.Add([]byte("Subject: x\n\n"))
	f.Add([]byte("Message-Id:   <x y@z>\r\n\r\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, err := MessageID(raw)
		if err == nil && (id == "" || strings.ContainsAny(id, " \t<>")) {
			t.Fatalf("MessageID = %q", id)
		}
		out, id, _, err := EnsureMessageID(raw, "a@b.fr", newRand())
		if err != nil {
			return
		}
		if got, err := MessageID(out); err != nil || got != id {
			t.Fatalf("after EnsureMessageID: %q, %v, want %q", got, err, id)
		}
	})
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		kind, action, disposition string
		failed                    bool
		want                      State
		ok                        bool
	}{
		{"dsn", "delivered", "", false, Delivered, true},
		{"dsn", "relayed", "", false, Delivered, true},
		{"dsn", "delayed", "", false, "", false},
		{"dsn", "failed", "", true, Bounced, true},
		{"bounce", "", "", true, Bounced, true},
		{"mdn", "", "displayed", false, Read, true},
		{"mdn", "", "deleted", false, "", false},
	} {
		if got, ok := Classify(c.kind, c.action, c.disposition, c.failed); got != c.want || ok != c.ok {
			t.Errorf("Classify(%q, %q, %q, %v) = %q, %v", c.kind, c.action, c.disposition, c.failed, got, ok)
		}
	}
}

// Stopping a run lets the submission under way finish within Options.Grace (stopping must not
// open the duplicate window itself); past the grace it is abandoned and queued again at once.
func TestRun_stopGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, c := range []struct {
			grace time.Duration
			want  State
		}{{5 * time.Second, Sent}, {20 * time.Millisecond, Queued}} {
			o := New(db, &Options{Grace: c.grace})
			e, err := o.Add(context.Background(), testMessage(int(c.grace)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			f := &fakeSender{delay: 300 * time.Millisecond, onSubmit: cancel}
			if _, err := o.Run(ctx, f, RunOptions{Poll: time.Millisecond}); !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v", err)
			}
			got, _ := o.Get(context.Background(), e.ID)
			if got.State != c.want || (c.want == Queued && (!strings.Contains(got.Reason, "interrupted") || got.NextAttemptAt.After(time.Now()))) {
				t.Errorf("grace %v: %+v, want %s", c.grace, got, c.want)
			}
		}
	}, Migrations...)
}

// A worker that loses its lease (another worker took the message) abandons its submission before
// the end of DATA instead of sending a second copy.
func TestRun_lostLeaseAbandonsSubmission(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		o := New(db, &Options{Owner: "w1", Lease: 300 * time.Millisecond})
		e, _ := o.Add(ctx, testMessage(1))
		f := &fakeSender{delay: 3 * time.Second, onSubmit: func() {
			if _, err := db.ExecContext(ctx, `UPDATE outbox_messages SET lease_owner = 'thief', lease_expires_at = ? WHERE id = ?`,
				formatTime(time.Now().Add(time.Hour)), e.ID); err != nil {
				t.Error(err)
			}
		}}
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := o.Run(rctx, f, RunOptions{Poll: 10 * time.Millisecond}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v", err)
		}
		if f.sent["m1@test.mssante.fr"] != 0 {
			t.Errorf("sent %v after losing the lease", f.sent)
		}
		got, _ := o.Get(ctx, e.ID)
		if got.State != Sending || time.Since(start) > 3*time.Second {
			t.Errorf("entry %+v (the thief holds it), after %v", got, time.Since(start))
		}
		tl, _ := o.Timeline(ctx, e.ID)
		if len(tl) != 2 {
			t.Errorf("timeline = %+v", tl)
		}
	}, Migrations...)
}

func TestLocalDead(t *testing.T) {
	host, _ := os.Hostname()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	gone := cmd.ProcessState.Pid()
	for owner, want := range map[string]bool{
		fmt.Sprintf("%s:%d:ab", host, gone):        true,
		fmt.Sprintf("%s:%d:ab", host, os.Getpid()): false,
		fmt.Sprintf("other-%s:%d:ab", host, gone):  false,
		"w1": false, host + ":x:ab": false,
	} {
		if got := LocalDead(owner); got != want {
			t.Errorf("LocalDead(%q) = %v, want %v", owner, got, want)
		}
	}
}

// A run takes at once the messages of a lease owner Options.Dead reports dead (a killed run of
// this host), without waiting for the lease to expire.
func TestRun_deadOwnerReclaimedAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock()
		dead := New(db, &Options{Now: clk.Now, Owner: "killed", Lease: time.Hour})
		e, _ := dead.Add(ctx, testMessage(1))
		if c, err := dead.claim(ctx, ""); err != nil || c == nil {
			t.Fatal(c, err)
		}
		alive := New(db, &Options{Now: clk.Now, Owner: "alive", Lease: time.Hour, Dead: func(o string) bool { return o == "killed" }})
		f := &fakeSender{}
		if st, err := alive.Run(ctx, f, RunOptions{Once: true, Poll: time.Millisecond}); err != nil || st.Sent != 1 {
			t.Fatalf("Run = %+v, %v", st, err)
		}
		tl, _ := alive.Timeline(ctx, e.ID)
		if len(tl) != 4 || !strings.Contains(tl[2].Reason, "lease of killed expired") {
			t.Errorf("timeline = %+v", tl)
		}
		// Without Dead the lease is waited for.
		e2, _ := dead.Add(ctx, testMessage(2))
		if c, err := dead.claim(ctx, ""); err != nil || c == nil || c.id != e2.ID {
			t.Fatal(c, err)
		}
		patient := New(db, &Options{Now: clk.Now, Owner: "patient"})
		rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if st, err := patient.Run(rctx, f, RunOptions{Once: true, Poll: time.Millisecond}); st.Attempts != 0 || err == nil {
			t.Errorf("Run without Dead = %+v, %v; want it to wait for the lease", st, err)
		}
	}, Migrations...)
}
