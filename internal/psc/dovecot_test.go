package psc_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/pscemu"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// The Holder feeds lps sessions, and lps sessions are what it closes.
var (
	_ lps.TokenSource = (*psc.Holder)(nil)
	_ io.Closer       = (*lps.IMAPClient)(nil)
	_ io.Closer       = (*lps.SMTPClient)(nil)
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// tokenLog wraps the Holder as the lps TokenSource and remembers every token it gave, for the
// final scan.
type tokenLog struct {
	h      *psc.Holder
	mu     sync.Mutex
	tokens []string
}

func (l *tokenLog) Token(ctx context.Context) (string, error) {
	tok, err := l.h.Token(ctx)
	if err == nil {
		l.mu.Lock()
		l.tokens = append(l.tokens, tok)
		l.mu.Unlock()
	}
	return tok, err
}

func (l *tokenLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.tokens...)
}

// auditRec stores lps events in an audit trail in the data directory, as cmd/mssante does.
type auditRec struct {
	trail *audit.Trail
	mu    sync.Mutex
	evs   []lps.Event
}

func (r *auditRec) Record(ctx context.Context, ev lps.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	e := audit.Event{Time: ev.Time, Author: camille, Account: ev.Account, Action: audit.Action(ev.Action),
		Request: ev.Request, Response: ev.Response, OK: ev.Err == nil}
	if ev.Err != nil {
		e.Error = ev.Err.Error()
	}
	_, _ = r.trail.Append(context.WithoutCancel(ctx), e)
}

func (r *auditRec) reopened() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.evs {
		if ev.Action == lps.ActionConnect && strings.HasPrefix(ev.Request, "REOPEN") {
			return true
		}
	}
	return false
}

// With a real Dovecot and Postfix validating the emulator's JWTs: tokens are renewed while an IMAP
// IDLE session stays open; sessions the operator closes reopen with a renewed token (ECO.1.2.7);
// when PSC refuses the refresh token, the IMAP and SMTP sessions end within one refresh interval
// (ECO.1.2.6); and no token reaches the data directory, the logs, the trace or the audit export
// (ECO.1.2.5).
func TestDovecot_tokenLifecycle(t *testing.T) {
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const ttl = 3 * time.Second
	emu := startEmu(t, pscemu.Options{AccessTTL: ttl, Logger: logger})
	st := peertest.Start(t, peertest.Options{PKI: pki, TokenKey: emu.PublicKey(), TokenClientID: emu.ClientID(),
		TokenKeyID: emu.KeyID(), TokenIssuer: emu.Issuer})
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert},
		OrgIntermediates: []*x509.Certificate{pki.Org.Cert}})
	if err != nil {
		t.Fatal(err)
	}

	ctx := ctxT(t)
	c := newClient(t, emu)
	tok := login(t, c, camille)
	secrets := []string{string(tok.Access), string(tok.Refresh), string(tok.IDToken)}
	h := psc.NewHolder(tok, c, &psc.HolderOptions{Logger: logger})
	events := h.Subscribe()
	go func() { _ = h.Run(ctx) }()
	source := &tokenLog{h: h}

	dataDir := t.TempDir()
	db, err := store.Open(ctx, store.DefaultURL(dataDir), audit.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	rec := &auditRec{trail: audit.New(db, nil)}
	trace := &syncBuffer{}
	opts := &lps.Options{TLS: pol.ClientConfig("", nil), Recorder: rec, Trace: trace, Logger: logger,
		ReconnectDelay: 100 * time.Millisecond, ClassifyTLSError: trust.ClassifyHandshakeError}
	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: camilleMail, Tokens: source}
	endpoint := func(s string) lps.Endpoint {
		e, err := lps.ParseEndpoint(s)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	imap, err := lps.DialIMAP(ctx, endpoint(st.IMAP), auth, opts)
	if err != nil {
		t.Fatalf("DialIMAP: %v\n%s", err, st.Logs())
	}
	h.Register(imap)
	idler, err := lps.DialIMAP(ctx, endpoint(st.IMAP), auth, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.Register(idler)
	smtp, err := lps.DialSMTP(ctx, endpoint(st.Submission), auth, opts)
	if err != nil {
		t.Fatalf("DialSMTP: %v\n%s", err, st.Logs())
	}
	h.Register(smtp)
	if _, err := idler.Select(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	updates := make(chan lps.Update, 32)
	idleCtx, stopIdle := h.Context(ctx)
	defer stopIdle()
	idleDone := make(chan error, 1)
	go func() { idleDone <- idler.Idle(idleCtx, func(u lps.Update) { updates <- u }) }()

	// Two renewals while IDLE stays open, then new mail is still announced on it.
	for i := 0; i < 2; i++ {
		select {
		case ev := <-events:
			if ev.Kind != psc.EventTokenRenewed {
				t.Fatalf("event %+v before the renewals", ev)
			}
		case <-time.After(3 * ttl):
			t.Fatal("no renewal")
		case err := <-idleDone:
			t.Fatalf("IDLE ended during the renewals: %v", err)
		}
	}
	st.Deliver(camilleMail, "INBOX", mail("pendant IDLE"))
	waitUpdate(t, updates, idleDone, 1, "new mail during IDLE after two renewals")

	// ECO.1.2.7: the operator closes the sessions; the first token has expired, so they can only
	// reopen with a renewed one.
	if time.Since(tok.IssuedAt) < ttl {
		t.Fatal("the first token has not expired yet")
	}
	st.KickIMAP(camilleMail)
	time.Sleep(300 * time.Millisecond)
	if _, err := imap.Select(ctx, "INBOX"); err != nil {
		t.Fatalf("IMAP after the operator closed it: %v\n%s", err, st.Logs())
	}
	st.Deliver(camilleMail, "INBOX", mail("après déconnexion"))
	waitUpdate(t, updates, idleDone, 2, "IDLE reopened after the operator closed it")
	if !rec.reopened() {
		t.Error("no REOPEN event recorded")
	}
	if _, err := smtp.Submit(ctx, camilleMail, []string{camilleMail}, bytes.NewReader(mail("envoi")), nil); err != nil {
		t.Fatalf("SMTP submit: %v", err)
	}

	// ECO.1.2.6: PSC ends the session; the next refresh is refused and every mail session ends.
	ended := time.Now()
	emu.EndSessions(camille)
	for ev := range events {
		if ev.Kind == psc.EventSessionEnded {
			if ev.Reason != psc.ReasonRefreshRefused {
				t.Errorf("end reason %q", ev.Reason)
			}
			break
		}
	}
	d := time.Since(ended)
	t.Logf("sessions ended %s after PSC ended the session (access token lifetime %s)", d.Round(time.Millisecond), ttl)
	if d > ttl {
		t.Errorf("session ended %s after PSC ended it, more than one refresh interval", d)
	}
	select {
	case <-idleDone:
	case <-time.After(5 * time.Second):
		t.Fatal("IDLE still running after the session ended")
	}
	time.Sleep(200 * time.Millisecond) // the closers run in their own goroutines
	if _, err := imap.Select(ctx, "INBOX"); err == nil {
		t.Error("IMAP still usable after the session ended")
	}
	if _, err := smtp.Submit(ctx, camilleMail, []string{camilleMail}, bytes.NewReader(mail("refusé")), nil); err == nil {
		t.Error("SMTP still usable after the session ended")
	}

	// ECO.1.2.5: scan everything this session left.
	var export bytes.Buffer
	n, err := rec.trail.Export(ctx, &export, time.Time{})
	if err != nil || n == 0 {
		t.Fatalf("audit export: %d events, %v", n, err)
	}
	evs, _ := json.Marshal(rec.evs)
	places := map[string]string{"logs": logs.String(), "trace": trace.String(), "audit export": export.String(),
		"events": string(evs)}
	_ = filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			places["file "+p] = string(data)
		}
		return nil
	})
	secrets = append(secrets, source.all()...)
	if len(source.all()) < 3 {
		t.Errorf("only %d tokens handed out", len(source.all()))
	}
	for where, text := range places {
		if text == "" && where != "events" {
			t.Errorf("%s is empty: the scan would prove nothing", where)
		}
		for _, s := range secrets {
			if s == "" {
				continue
			}
			parts := strings.Split(s, ".")
			if strings.Contains(text, s) || strings.Contains(text, parts[len(parts)-1]) {
				t.Errorf("a token was found in %s", where)
			}
		}
	}
}

func waitUpdate(t *testing.T, updates <-chan lps.Update, done <-chan error, n uint32, what string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case u := <-updates:
			if u.Messages >= n {
				return
			}
		case err := <-done:
			t.Fatalf("%s: IDLE returned %v", what, err)
		case <-timeout:
			t.Fatalf("%s: no update with %d messages", what, n)
		}
	}
}

func mail(subject string) []byte {
	return fmt.Appendf(nil, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@test.mssante.fr>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTest.\r\n",
		camilleMail, camilleMail, subject, time.Now().Format(time.RFC1123Z), time.Now().UnixNano())
}
