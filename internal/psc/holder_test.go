package psc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/psc"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeRefresher issues tokens "access-N"/"refresh-N" valid for lifetime.
type fakeRefresher struct {
	mu       sync.Mutex
	now      func() time.Time
	lifetime time.Duration
	calls    int
	err      error
	gate     chan struct{} // when set, Refresh waits on it
	seen     [][]byte      // refresh tokens received
	subject  string        // "sub" of the ID token claims
}

func (f *fakeRefresher) tokens(n int) *psc.Tokens {
	now := f.now()
	return &psc.Tokens{Access: fmt.Appendf(nil, "access-%d-SECRETTOKEN", n), Refresh: fmt.Appendf(nil, "refresh-%d-SECRETTOKEN", n),
		IssuedAt: now, Expiry: now.Add(f.lifetime), RefreshExpiry: now.Add(350 * time.Second),
		Claims: &psc.IDClaims{Subject: f.subject, SubjectNameID: camille}}
}

func (f *fakeRefresher) Refresh(ctx context.Context, refresh []byte) (*psc.Tokens, error) {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, bytes.Clone(refresh))
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return f.tokens(f.calls), nil
}

func (f *fakeRefresher) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

func newFakeHolder(lifetime time.Duration, o *psc.HolderOptions) (*psc.Holder, *fakeRefresher, *fakeClock, *psc.Tokens) {
	clk := &fakeClock{t: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
	r := &fakeRefresher{now: clk.Now, lifetime: lifetime}
	if o == nil {
		o = &psc.HolderOptions{}
	}
	o.Now = clk.Now
	tok := r.tokens(0)
	return psc.NewHolder(tok, r, o), r, clk, tok
}

func TestHolder_nextRefreshAheadOfExpiry(t *testing.T) {
	for _, tc := range []struct{ life, want time.Duration }{
		{120 * time.Second, 84 * time.Second},  // 70 %
		{300 * time.Second, 210 * time.Second}, // 70 %
		{80 * time.Second, 50 * time.Second},   // 30 s before expiry, earlier than 70 %
		{3600 * time.Second, 42 * time.Minute},
		{2 * time.Second, 1400 * time.Millisecond},
	} {
		h, _, clk, _ := newFakeHolder(tc.life, nil)
		if got := h.NextRefresh().Sub(clk.Now()); got != tc.want {
			t.Errorf("lifetime %s: refresh after %s, want %s", tc.life, got, tc.want)
		}
	}
}

// ECO.1.2.7: the token is renewed before it expires, and subscribers are told.
func TestHolder_refreshIfDue(t *testing.T) {
	h, r, clk, _ := newFakeHolder(120*time.Second, nil)
	events := h.Subscribe()
	clk.Advance(83 * time.Second)
	if err := h.RefreshIfDue(ctxT(t)); err != nil || r.count() != 0 {
		t.Fatalf("refreshed too early: %v, %d calls", err, r.count())
	}
	clk.Advance(2 * time.Second)
	if err := h.RefreshIfDue(ctxT(t)); err != nil || r.count() != 1 {
		t.Fatalf("not refreshed when due: %v, %d calls", err, r.count())
	}
	ev := <-events
	if ev.Kind != psc.EventTokenRenewed || !ev.Expiry.Equal(clk.Now().Add(120*time.Second)) {
		t.Errorf("event %+v", ev)
	}
	if string(r.seen[0]) != "refresh-0-SECRETTOKEN" {
		t.Errorf("refreshed with %q", r.seen[0])
	}
	tok, err := h.Token(ctxT(t))
	if err != nil || tok != "access-1-SECRETTOKEN" {
		t.Errorf("Token = %q, %v", tok, err)
	}
}

// ECO.1.2.7: a mail session reopened after the access token expired gets a refreshed token.
func TestHolder_tokenRefreshesExpiredFirst(t *testing.T) {
	h, r, clk, _ := newFakeHolder(120*time.Second, nil)
	clk.Advance(119 * time.Second)
	tok, err := h.Token(ctxT(t))
	if err != nil || tok != "access-1-SECRETTOKEN" || r.count() != 1 {
		t.Fatalf("Token = %q, %v (%d refreshes)", tok, err, r.count())
	}
}

// A refresh that answers for another person ends the session (OpenID Connect Core 12.2).
func TestHolder_refreshWithAnotherSubjectEnds(t *testing.T) {
	h, r, clk, _ := newFakeHolder(120*time.Second, nil)
	r.subject = "someone-else"
	clk.Advance(100 * time.Second)
	if err := h.RefreshIfDue(ctxT(t)); !errors.Is(err, psc.ErrSessionEnded) || h.Reason() != psc.ReasonRefreshRefused {
		t.Fatalf("%v, reason %q", err, h.Reason())
	}
}

// Tokens of unknown lifetime are given as they are and never renewed in a loop.
func TestHolder_unknownExpiryNoRefreshLoop(t *testing.T) {
	r := &fakeRefresher{now: time.Now, lifetime: time.Minute}
	h := psc.NewHolder(&psc.Tokens{Access: []byte("opaque")}, r, nil)
	ctx, cancel := context.WithTimeout(ctxT(t), 200*time.Millisecond)
	defer cancel()
	if err := h.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v", err)
	}
	if tok, err := h.Token(ctxT(t)); err != nil || tok != "opaque" || r.count() != 0 {
		t.Errorf("Token = %q, %v after %d refreshes", tok, err, r.count())
	}
}

// Short-lived tokens (PSC-like 2 s in tests) are not refreshed at every call.
func TestHolder_shortLivedTokenNotRefreshedInALoop(t *testing.T) {
	h, r, clk, _ := newFakeHolder(2*time.Second, nil)
	if tok, err := h.Token(ctxT(t)); err != nil || tok != "access-0-SECRETTOKEN" || r.count() != 0 {
		t.Fatalf("fresh token: %q, %v, %d refreshes", tok, err, r.count())
	}
	clk.Advance(1600 * time.Millisecond)
	if tok, err := h.Token(ctxT(t)); err != nil || tok != "access-1-SECRETTOKEN" || r.count() != 1 {
		t.Fatalf("near expiry: %q, %v, %d refreshes", tok, err, r.count())
	}
}

func TestHolder_concurrentTokensShareOneRefresh(t *testing.T) {
	h, r, clk, _ := newFakeHolder(120*time.Second, nil)
	r.gate = make(chan struct{})
	clk.Advance(200 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			tok, err := h.Token(ctxT(t))
			if err == nil && tok != "access-1-SECRETTOKEN" {
				err = fmt.Errorf("token %q", tok)
			}
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(r.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if r.count() != 1 {
		t.Errorf("%d refreshes, want 1", r.count())
	}
}

// ECO.1.2.6: a transient failure keeps the session; a refusal, an expired refresh token or the
// maximum session lifetime end it.
func TestHolder_endsOnlyWhenRefreshTokenDies(t *testing.T) {
	t.Run("transient then refused", func(t *testing.T) {
		h, r, clk, _ := newFakeHolder(120*time.Second, nil)
		r.err = errors.New("dial tcp: connection refused")
		clk.Advance(90 * time.Second)
		if err := h.RefreshIfDue(ctxT(t)); err == nil || errors.Is(err, psc.ErrSessionEnded) || h.Reason() != "" {
			t.Fatalf("transient failure: %v, reason %q", err, h.Reason())
		}
		r.err = &psc.OAuthError{Endpoint: "token", Status: 400, Code: "invalid_grant", Err: psc.ErrRefreshRefused}
		if err := h.RefreshIfDue(ctxT(t)); !errors.Is(err, psc.ErrSessionEnded) || h.Reason() != psc.ReasonRefreshRefused {
			t.Fatalf("refusal: %v, reason %q", err, h.Reason())
		}
	})
	t.Run("refresh token expired", func(t *testing.T) {
		h, r, clk, _ := newFakeHolder(120*time.Second, nil)
		r.err = errors.New("timeout")
		clk.Advance(351 * time.Second)
		if err := h.RefreshIfDue(ctxT(t)); !errors.Is(err, psc.ErrSessionEnded) || h.Reason() != psc.ReasonExpired {
			t.Fatalf("expired refresh token: %v, reason %q", err, h.Reason())
		}
	})
	t.Run("max session", func(t *testing.T) {
		h, r, clk, _ := newFakeHolder(120*time.Second, &psc.HolderOptions{MaxSession: 10 * time.Minute})
		clk.Advance(10 * time.Minute)
		if err := h.RefreshIfDue(ctxT(t)); !errors.Is(err, psc.ErrSessionEnded) || h.Reason() != psc.ReasonExpired || r.count() != 0 {
			t.Fatalf("max session: %v, reason %q", err, h.Reason())
		}
	})
}

func TestHolder_runRenewsThenEnds(t *testing.T) {
	r := &fakeRefresher{now: time.Now, lifetime: 400 * time.Millisecond}
	h := psc.NewHolder(r.tokens(0), r, nil)
	events := h.Subscribe()
	hctx, cancel := h.Context(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctxT(t)) }()
	for i := 0; i < 2; i++ {
		select {
		case ev := <-events:
			if ev.Kind != psc.EventTokenRenewed {
				t.Fatalf("event %+v", ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no renewal")
		}
	}
	r.mu.Lock()
	r.err = fmt.Errorf("wrapped: %w", psc.ErrRefreshRefused)
	r.mu.Unlock()
	for ev := range events {
		if ev.Kind == psc.EventSessionEnded && ev.Reason != psc.ReasonRefreshRefused {
			t.Errorf("end event %+v", ev)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	select {
	case <-hctx.Done():
	case <-time.After(time.Second):
		t.Error("Holder.Context not cancelled at the end")
	}
}

// ECO.1.2.5: released tokens are zeroed.
func TestHolder_zeroesReleasedTokens(t *testing.T) {
	h, _, clk, first := newFakeHolder(120*time.Second, nil)
	access, refresh := first.Access, first.Refresh
	clk.Advance(100 * time.Second)
	if err := h.RefreshIfDue(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if len(bytes.Trim(access, "\x00")) > 0 || len(bytes.Trim(refresh, "\x00")) > 0 {
		t.Errorf("replaced tokens not zeroed: %q %q", access, refresh)
	}
	tok, err := h.Token(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = h.Close()
	if _, err := h.Token(ctxT(t)); !errors.Is(err, psc.ErrSessionEnded) {
		t.Errorf("Token after Close: %v", err)
	}
	if tok == "" {
		t.Error("empty token")
	}
}

// ECO.1.2.5: no fmt verb and no slog handler shows a token.
func TestHolder_printsNoToken(t *testing.T) {
	h, _, _, tok := newFakeHolder(120*time.Second, nil)
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, verb+"\n", h)
		fmt.Fprintf(&out, verb+"\n", tok)
		fmt.Fprintf(&out, verb+"\n", *tok)
		fmt.Fprintf(&out, verb+"\n", []any{h, tok, *tok})
	}
	var logs bytes.Buffer
	for _, hd := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(hd).Info("state", "holder", h, "tokens", tok, "value", *tok)
	}
	ev, _ := json.Marshal(psc.Event{Kind: psc.EventTokenRenewed, Time: time.Now(), Expiry: tok.Expiry})
	all := out.String() + logs.String() + string(ev)
	if strings.Contains(all, "SECRETTOKEN") || strings.Contains(all, fmt.Sprintf("%x", "SECRETTOKEN")) {
		t.Fatalf("token printed:\n%s", all)
	}
	if !strings.Contains(all, camille) || !strings.Contains(string(ev), `"kind":"token-renewed"`) {
		t.Errorf("unexpected output:\n%s", all)
	}
}

// Register closes mail sessions at the end, and at once when the session already ended.
func TestHolder_registerAfterEndClosesAtOnce(t *testing.T) {
	h, _, _, _ := newFakeHolder(120*time.Second, nil)
	a := &fakeMail{closed: make(chan struct{})}
	b := &fakeMail{closed: make(chan struct{})}
	unregister := h.Register(a)
	unregister()
	_ = h.Close()
	h.Register(b)
	select {
	case <-b.closed:
	default:
		t.Error("registering on an ended session did not close")
	}
	select {
	case <-a.closed:
		t.Error("an unregistered session was closed")
	case <-time.After(50 * time.Millisecond):
	}
	ch := h.Subscribe()
	if ev := <-ch; ev.Kind != psc.EventSessionEnded || ev.Reason != psc.ReasonClosed {
		t.Errorf("late subscriber got %+v", ev)
	}
}

// BenchmarkHolderToken measures the hot path of every IMAP/SMTP authentication.
func BenchmarkHolderToken(b *testing.B) {
	r := &fakeRefresher{now: time.Now, lifetime: time.Hour}
	h := psc.NewHolder(r.tokens(0), r, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Token(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// QA issue 4: a provider that gives no refresh token (a generic provider asked without
// offline_access): the session lasts as long as the access token and ends "expired" then, not
// "refresh-refused" at 70 % of its life; the refresher is never called with an empty token.
func TestHolder_noRefreshTokenEndsAtExpiry(t *testing.T) {
	h, r, clk, tok := newFakeHolder(120*time.Second, nil)
	tok.Refresh = nil
	if got := h.NextRefresh(); !got.Equal(tok.Expiry) {
		t.Fatalf("NextRefresh %v, want the expiry %v", got, tok.Expiry)
	}
	clk.Advance(90 * time.Second)
	if err := h.RefreshIfDue(context.Background()); err != nil {
		t.Fatalf("RefreshIfDue at 75 %%: %v", err)
	}
	if _, err := h.Token(context.Background()); err != nil {
		t.Fatalf("Token at 75 %%: %v", err)
	}
	clk.Advance(30 * time.Second)
	if err := h.RefreshIfDue(context.Background()); !errors.Is(err, psc.ErrSessionEnded) {
		t.Fatalf("RefreshIfDue at expiry: %v", err)
	}
	if h.Reason() != psc.ReasonExpired || r.count() != 0 {
		t.Fatalf("reason %q, refresher called %d times", h.Reason(), r.count())
	}
}
