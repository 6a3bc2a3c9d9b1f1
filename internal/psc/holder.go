package psc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Refresher renews tokens with a refresh token. *Client implements it.
type Refresher interface {
	Refresh(ctx context.Context, refresh []byte) (*Tokens, error)
}

// Logouter ends a session at PSC. *Client implements it.
type Logouter interface {
	Logout(ctx context.Context, t *Tokens) error
}

// EventKind is the kind of a Holder event.
type EventKind int

// Holder event kinds.
const (
	// EventTokenRenewed: a new access token is available; sessions that cache nothing need not act.
	EventTokenRenewed EventKind = iota + 1
	// EventSessionEnded: the session is over (see Event.Reason); every mail session was closed.
	EventSessionEnded
)

// String returns "token-renewed" or "session-ended", the names used on the event stream.
func (k EventKind) String() string {
	switch k {
	case EventTokenRenewed:
		return "token-renewed"
	case EventSessionEnded:
		return "session-ended"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// MarshalText writes String.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// EndReason says why a session ended.
type EndReason string

// End reasons.
const (
	ReasonRefreshRefused EndReason = "refresh-refused" // PSC refused the refresh token
	ReasonExpired        EndReason = "expired"         // refresh token or maximum session lifetime reached
	ReasonLogout         EndReason = "logout"          // the professional logged out
	ReasonClosed         EndReason = "closed"          // the application closed the session
)

// Event is sent to the Holder's subscribers. It holds no token.
type Event struct {
	Kind   EventKind `json:"kind"`
	Time   time.Time `json:"time"`
	Expiry time.Time `json:"expiry,omitzero"`  // token-renewed: expiry of the new access token
	Reason EndReason `json:"reason,omitempty"` // session-ended
}

// HolderOptions tune a Holder; the zero value gives the defaults.
type HolderOptions struct {
	// RefreshFraction of the access token's lifetime after which it is renewed (default 0.7).
	RefreshFraction float64
	// RefreshBefore: renew at the latest this long before expiry (default 30 s), unless that is
	// earlier than half the lifetime.
	RefreshBefore time.Duration
	// MaxSession ends the session this long after the Holder was made (0: only PSC decides).
	MaxSession time.Duration
	// RetryDelay between two refresh attempts after a transient failure (default 5 s).
	RetryDelay time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Logger receives refresh and end events, never a token (nil: discard).
	Logger *slog.Logger
}

// Holder keeps the tokens of one professional session in memory and gives the access token to
// every IMAP and SMTP session of that professional: it implements lps.TokenSource.
//
// Run renews the access token ahead of expiry. When the session ends (refresh refused, refresh
// token or MaxSession expired, Logout, Close), the tokens are zeroed, each subscriber receives an
// EventSessionEnded and then sees its channel closed, the registered mail sessions are closed
// (ECO.1.2.6), and Token returns ErrSessionEnded so that lps stops reconnecting. While the session
// is valid, Token refreshes first when the access token is about to expire, so that a mail session
// the operator closed reopens with a valid token (ECO.1.2.7).
type Holder struct {
	r       Refresher
	o       HolderOptions
	created time.Time

	mu      sync.Mutex
	tok     *Tokens
	claims  *IDClaims
	subs    []chan Event
	closers map[int]io.Closer
	nextID  int
	reason  EndReason // "" while the session lives
	done    chan struct{}
	kick    chan struct{}
	flight  chan struct{} // non-nil while a refresh runs
	lastErr error
}

// NewHolder takes ownership of t (it will zero it) and returns its holder. No I/O; call Run to
// refresh in the background.
func NewHolder(t *Tokens, r Refresher, o *HolderOptions) *Holder {
	if t == nil {
		t = &Tokens{}
	}
	h := &Holder{r: r, tok: t, closers: map[int]io.Closer{}, done: make(chan struct{}),
		kick: make(chan struct{}, 1)}
	if o != nil {
		h.o = *o
	}
	if h.o.RefreshFraction <= 0 || h.o.RefreshFraction >= 1 {
		h.o.RefreshFraction = 0.7
	}
	if h.o.RefreshBefore <= 0 {
		h.o.RefreshBefore = 30 * time.Second
	}
	if h.o.RetryDelay <= 0 {
		h.o.RetryDelay = 5 * time.Second
	}
	if h.o.Logger == nil {
		h.o.Logger = slog.New(slog.DiscardHandler)
	}
	h.created = h.now()
	if t != nil {
		h.claims = t.Claims
	}
	return h
}

func (h *Holder) now() time.Time {
	if h.o.Now != nil {
		return h.o.Now()
	}
	return time.Now()
}

// Token returns the current access token, refreshing it first when it expires within 5 s (or a
// quarter of its lifetime, when shorter). It returns ErrSessionEnded once the session is over. It
// implements lps.TokenSource.
func (h *Holder) Token(ctx context.Context) (string, error) {
	for refreshed := false; ; refreshed = true {
		h.mu.Lock()
		if h.reason != "" {
			h.mu.Unlock()
			return "", ErrSessionEnded
		}
		t, now := h.tok, h.now()
		skew := min(5*time.Second, t.Expiry.Sub(t.IssuedAt)/4)
		if t.Expiry.IsZero() || now.Add(skew).Before(t.Expiry) || (refreshed && now.Before(t.Expiry)) {
			s := string(t.Access)
			h.mu.Unlock()
			return s, nil
		}
		h.mu.Unlock()
		if refreshed {
			return "", fmt.Errorf("psc: the renewed access token is already expired")
		}
		if err := h.Refresh(ctx); err != nil {
			return "", err
		}
	}
}

// NextRefresh is when Run will renew the access token.
func (h *Holder) NextRefresh() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nextRefreshLocked()
}

func (h *Holder) nextRefreshLocked() time.Time {
	t := h.tok
	if t == nil || t.Expiry.IsZero() {
		return time.Time{}
	}
	if len(t.Refresh) == 0 {
		// Nothing to renew with (a provider that gave no refresh token): the session lasts as
		// long as the access token.
		return t.Expiry
	}
	life := t.Expiry.Sub(t.IssuedAt)
	at := t.IssuedAt.Add(time.Duration(float64(life) * h.o.RefreshFraction))
	if before := t.Expiry.Add(-h.o.RefreshBefore); before.Before(at) && before.After(t.IssuedAt.Add(life/2)) {
		at = before
	}
	return at
}

// RefreshIfDue renews the tokens when NextRefresh has come, and ends the session when MaxSession
// has passed.
func (h *Holder) RefreshIfDue(ctx context.Context) error {
	h.mu.Lock()
	if h.reason != "" {
		h.mu.Unlock()
		return ErrSessionEnded
	}
	now := h.now()
	if h.o.MaxSession > 0 && !now.Before(h.created.Add(h.o.MaxSession)) {
		h.mu.Unlock()
		h.end(ReasonExpired)
		return ErrSessionEnded
	}
	next := h.nextRefreshLocked()
	due := !next.IsZero() && !now.Before(next)
	h.mu.Unlock()
	if !due {
		return nil
	}
	return h.Refresh(ctx)
}

// Refresh renews the tokens now. Concurrent calls share one request. A refusal by PSC ends the
// session; a transient failure is returned and ends the session only when the refresh token has
// expired.
func (h *Holder) Refresh(ctx context.Context) error {
	h.mu.Lock()
	if h.reason != "" {
		h.mu.Unlock()
		return ErrSessionEnded
	}
	if f := h.flight; f != nil {
		h.mu.Unlock()
		select {
		case <-f:
		case <-ctx.Done():
			return ctx.Err()
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.reason != "" {
			return ErrSessionEnded
		}
		return h.lastErr
	}
	if len(h.tok.Refresh) == 0 {
		h.mu.Unlock()
		h.o.Logger.Info("psc session without refresh token: the access token expires")
		h.end(ReasonExpired)
		return ErrSessionEnded
	}
	f := make(chan struct{})
	h.flight = f
	refresh := bytes.Clone(h.tok.Refresh)
	h.mu.Unlock()

	nt, err := h.r.Refresh(ctx, refresh)
	zero(refresh)

	h.mu.Lock()
	h.flight = nil
	h.lastErr = err
	close(f)
	if err != nil {
		expired := !h.tok.RefreshExpiry.IsZero() && !h.now().Before(h.tok.RefreshExpiry)
		h.mu.Unlock()
		switch {
		case errors.Is(err, ErrRefreshRefused):
			h.o.Logger.Info("psc refresh refused", "err", err)
			h.end(ReasonRefreshRefused)
			return ErrSessionEnded
		case expired:
			h.end(ReasonExpired)
			return ErrSessionEnded
		}
		h.o.Logger.Warn("psc refresh failed", "err", err)
		return err
	}
	if h.reason != "" { // ended while refreshing
		h.mu.Unlock()
		nt.Zero()
		return ErrSessionEnded
	}
	if nt.Claims != nil && h.claims != nil && nt.Claims.Subject != h.claims.Subject {
		// OpenID Connect Core 12.2: a refreshed ID token must be about the same person.
		h.mu.Unlock()
		nt.Zero()
		h.o.Logger.Warn("psc refresh returned another subject")
		h.end(ReasonRefreshRefused)
		return ErrSessionEnded
	}
	old := h.tok
	if len(nt.Refresh) == 0 {
		nt.Refresh, old.Refresh = old.Refresh, nil
		nt.RefreshExpiry = old.RefreshExpiry
	}
	if len(nt.IDToken) == 0 {
		nt.IDToken, old.IDToken = old.IDToken, nil
	}
	if nt.Claims != nil {
		h.claims = nt.Claims
	}
	old.Zero()
	h.tok = nt
	ev := Event{Kind: EventTokenRenewed, Time: h.now(), Expiry: nt.Expiry}
	for _, s := range h.subs {
		select {
		case s <- ev:
		default: // a slow subscriber misses a renewal, never the end
		}
	}
	h.mu.Unlock()
	h.o.Logger.Debug("psc token renewed", "expiry", nt.Expiry)
	h.wake()
	return nil
}

func (h *Holder) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Run renews the tokens ahead of expiry until the session ends (it then returns nil) or ctx is
// done (it returns ctx.Err() and the session stays open: call Close).
func (h *Holder) Run(ctx context.Context) error {
	for {
		h.mu.Lock()
		if h.reason != "" {
			h.mu.Unlock()
			return nil
		}
		wait := time.Duration(1<<63 - 1) // no expiry known: nothing to renew ahead of
		if next := h.nextRefreshLocked(); !next.IsZero() {
			wait = next.Sub(h.now())
		}
		if h.o.MaxSession > 0 {
			wait = min(wait, h.created.Add(h.o.MaxSession).Sub(h.now()))
		}
		h.mu.Unlock()
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-h.done:
			timer.Stop()
			return nil
		case <-h.kick:
			timer.Stop()
			continue
		case <-timer.C:
		}
		if err := h.RefreshIfDue(ctx); err != nil && !errors.Is(err, ErrSessionEnded) {
			retry := time.NewTimer(h.o.RetryDelay)
			select {
			case <-ctx.Done():
				retry.Stop()
				return ctx.Err()
			case <-h.done:
				retry.Stop()
				return nil
			case <-retry.C:
			}
		}
	}
}

// Subscribe returns a channel of events. Renewals may be dropped for a subscriber that does not
// read; the end of the session is always seen: EventSessionEnded is sent when there is room, and
// the channel is closed. Subscribing to an ended session gives a closed channel.
func (h *Holder) Subscribe() <-chan Event {
	ch := make(chan Event, 8)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reason != "" {
		ch <- Event{Kind: EventSessionEnded, Time: h.now(), Reason: h.reason}
		close(ch)
		return ch
	}
	h.subs = append(h.subs, ch)
	return ch
}

// Unsubscribe stops the events of a channel given by Subscribe and closes it.
func (h *Holder) Unsubscribe(ch <-chan Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, s := range h.subs {
		if s == ch {
			h.subs = append(h.subs[:i], h.subs[i+1:]...)
			close(s)
			return
		}
	}
}

// Register adds a mail session (an *lps.IMAPClient or *lps.SMTPClient) to close when the session
// ends; Close is called from a new goroutine. The returned function removes it (call it when the mail session is closed otherwise).
// Registering on an ended session closes c at once.
func (h *Holder) Register(c io.Closer) (unregister func()) {
	h.mu.Lock()
	if h.reason != "" {
		h.mu.Unlock()
		_ = c.Close()
		return func() {}
	}
	id := h.nextID
	h.nextID++
	h.closers[id] = c
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.closers, id)
		h.mu.Unlock()
	}
}

// Logout ends the session at PSC (when the Refresher is also a Logouter) and here. The session
// ends here even when PSC cannot be reached; that error is returned.
func (h *Holder) Logout(ctx context.Context) error {
	var err error
	if l, ok := h.r.(Logouter); ok {
		h.mu.Lock()
		var t *Tokens
		if h.reason == "" && h.tok != nil {
			t = &Tokens{Refresh: bytes.Clone(h.tok.Refresh), IDToken: bytes.Clone(h.tok.IDToken)}
		}
		h.mu.Unlock()
		if t != nil {
			err = l.Logout(ctx, t)
			t.Zero()
		}
	}
	h.end(ReasonLogout)
	return err
}

// Close ends the session without telling PSC.
func (h *Holder) Close() error {
	h.end(ReasonClosed)
	return nil
}

// end zeroes the tokens, tells the subscribers and closes the mail sessions, once.
func (h *Holder) end(reason EndReason) {
	h.mu.Lock()
	if h.reason != "" {
		h.mu.Unlock()
		return
	}
	h.reason = reason
	h.tok.Zero()
	subs, closers := h.subs, h.closers
	h.subs, h.closers = nil, map[int]io.Closer{}
	close(h.done)
	ev := Event{Kind: EventSessionEnded, Time: h.now(), Reason: reason}
	h.mu.Unlock()
	h.o.Logger.Info("psc session ended", "reason", string(reason), "mail_sessions", len(closers))
	for _, s := range subs {
		select {
		case s <- ev:
		default:
		}
		close(s)
	}
	// Each mail session is closed in its own goroutine, so that a slow LOGOUT or QUIT does not
	// delay the others (lps's Close also stops a running IDLE).
	for _, c := range closers {
		go func() {
			if err := c.Close(); err != nil {
				h.o.Logger.Debug("closing mail session", "err", err)
			}
		}()
	}
}

// Context returns a context that is cancelled when the session ends (or parent is done). Run the
// long calls of the professional's mail sessions, such as IMAP IDLE, under it.
func (h *Holder) Context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-h.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Done is closed when the session ends.
func (h *Holder) Done() <-chan struct{} { return h.done }

// Reason is why the session ended, or "" while it lives.
func (h *Holder) Reason() EndReason {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reason
}

// Claims are the verified ID token claims of the session's professional (nil if unknown).
func (h *Holder) Claims() *IDClaims {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.claims == nil {
		return nil
	}
	c := *h.claims
	return &c
}

// Expiry is the expiry of the current access token.
func (h *Holder) Expiry() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tok.Expiry
}

// String describes the holder without any token.
func (h *Holder) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	sub := ""
	if h.claims != nil {
		sub = h.claims.SubjectNameID
	}
	state := "active"
	if h.reason != "" {
		state = "ended: " + string(h.reason)
	}
	return fmt.Sprintf("psc.Holder{subject: %s, %s, expiry: %s, mail_sessions: %d}", sub, state,
		h.tok.Expiry.Format(time.RFC3339), len(h.closers))
}

// Format prints String for every verb, so that no verb reveals a token.
func (h *Holder) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, h.String()) }

// LogValue describes the holder without any token.
func (h *Holder) LogValue() slog.Value { return slog.StringValue(h.String()) }
