package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mssante/mssante/internal/annuaire"
	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/server"
	"github.com/mssante/mssante/internal/store"
)

//go:embed assets templates
var files embed.FS

// TokenFunc returns the session's current access token (never sent to the browser).
type TokenFunc func(ctx context.Context) (string, error)

// Operator is the operator side of a professional's mailboxes: what needs a session at the
// MSSanté operator. cmd/mssante implements it with internal/mailbox (and internal/outbox).
type Operator interface {
	// Sync brings the folders of address into the local mail index with the session's token.
	// An authentication failure must be returned as an error (the mailbox is then not kept).
	Sync(ctx context.Context, address, author string, tokens TokenFunc) error
	// Watch blocks until ctx ends or the session fails, calling changed when the INBOX of
	// address changes (IMAP IDLE).
	Watch(ctx context.Context, address, author string, tokens TokenFunc, changed func()) error
	// Send submits a draft from address; the result names the Message-ID and recipients.
	Send(ctx context.Context, address, author string, tokens TokenFunc, d *Draft) (*Sent, error)
	// Displayed tells the mailbox layer that message uid of folder was displayed (ECO.3.1.6):
	// the account's read-receipt policy (mailstore settings) decides; answer is the
	// professional's answer under "ask" ("" none yet, "send", "deny"). It returns the outcome of
	// mailbox.Account.Displayed: "queued", "already", "ask", "declined" or "none".
	Displayed(ctx context.Context, address, author string, tokens TokenFunc, folder string, uid uint32, answer string) (string, error)
}

// Draft is a mail as the compose screen builds it; Operator.Send composes it (MSSanté rules,
// XDM packaging, patient addresses).
type Draft struct {
	From string
	// Author is the professional writing (for the sender label, ECO.2.2.7).
	GivenName, FamilyName string
	To, Cc                []string
	Subject               string
	Text                  string
	// ToPatients are known patients (internal/patients ids) written to (ECO.3.1.5); the
	// address is built from the INS by the mailbox layer.
	ToPatients []int64
	// Derogation: the professional confirmed the birth date and sex decoded from the NIR of a
	// patient without a qualified identity (ECO.2.2.6).
	Derogation bool
	// CDAs are CDA R2 documents to package as IHE_XDM.zip with their PDF/A (ECO.2.1.1).
	CDAs  [][]byte
	Files []File
	DSN   bool
	MDN   bool
	// MESFin sets X-MSS-MES: FIN: the patient may not answer.
	MESFin bool
	// Parent is the mail answered or forwarded (threading headers; forwarded attachments).
	Parent *ParentRef
	// Forward: Parent is forwarded (its attachments are carried), not answered.
	Forward bool
}

// File is an attachment.
type File struct {
	Name, ContentType string
	Data              []byte
}

// ParentRef names a message of the local index.
type ParentRef struct {
	Account, Folder string
	UID             uint32
	Raw             []byte // the parent as received (from the local index)
}

// Sent is what Operator.Send reports.
type Sent struct {
	MessageID  string
	Recipients []string
	// OutboxID is the outbox entry (0 when sent directly).
	OutboxID int64
}

// Auditor receives the trail events; *audit.Trail implements it.
type Auditor interface {
	Append(ctx context.Context, e audit.Event) (audit.Event, error)
}

// Options configure the web application.
type Options struct {
	// Sessions finds the logged-in browser session of a request (server.Server.BrowserSession).
	Sessions func(r *http.Request) (*server.BrowserSession, bool)
	// Mail is the local mail index (required).
	Mail *mailstore.Store
	// DB is the main database, for the web's own tables (added mailboxes, drafts, settings).
	// Default: Mail.DB(). Its migrations are Migrations.
	DB *store.DB
	// Patients are the known patients (nil: none).
	Patients *patients.Store
	// MailboxesOf returns the mailboxes the Annuaire gives for a national id (DirectoryMailboxes;
	// nil: none beyond the session's).
	MailboxesOf func(ctx context.Context, nationalID string) ([]string, error)
	// Directory searches MSSanté addresses (local index first, then FHIR; nil: none).
	Directory annuaire.Source
	// Outbox, when set, gives the timeline of sent mail.
	Outbox *outbox.Outbox
	// Operator reaches the operator (nil: read-only, from the local index).
	Operator Operator
	// PatientDomain is the Mon espace santé domain (ins.DefaultPatientDomain when empty).
	PatientDomain string
	// Audit receives one event per action (nil: none).
	Audit Auditor
	// SyncInterval between two syncs of a session's mailboxes (default 2 min); IDLE triggers
	// one sooner.
	SyncInterval time.Duration
	// LockAfter locks the session after this long without activity (default 10 min): the
	// script blanks the page, and the server answers every page and action of the session with
	// the lock page (log in again with Pro Santé Connect) once the delay has passed since its
	// last page or action.
	LockAfter time.Duration
	// ClassifyPatient, when set, hands a received document to the patient record ("classer dans
	// le dossier patient", the gateway's delivery). Nil: the action is not offered.
	ClassifyPatient func(ctx context.Context, account, folder string, uid uint32) error
	Now             func() time.Time
	Logger          *slog.Logger
}

// App is the web application; Handler serves it under /app/.
type App struct {
	o      Options
	db     *store.DB
	secret []byte
	tpl    *template.Template
	static http.Handler
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	workers map[string]*worker // by session key
	// active is the last activity of each session (by key): a page or an action of the
	// professional, not the script's background requests (idle lock).
	active map[string]time.Time
	// folders caches mailstore.Folders (message and unread counts, which count over the
	// whole folder) per account for a few seconds; a sync of the account drops its entry.
	folders map[string]folderCache
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New returns the application. Call Close to stop the sync workers.
func New(o Options) (*App, error) {
	if o.Sessions == nil || o.Mail == nil {
		return nil, errors.New("web: Options.Sessions and Options.Mail are required")
	}
	if o.DB == nil {
		o.DB = o.Mail.DB()
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = 2 * time.Minute
	}
	if o.LockAfter <= 0 {
		o.LockAfter = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &App{o: o, db: o.DB, secret: make([]byte, 32), log: o.Logger, now: o.Now, workers: map[string]*worker{}, active: map[string]time.Time{}, folders: map[string]folderCache{}}
	_, _ = rand.Read(a.secret)
	var err error
	if a.tpl, err = parseTemplates(); err != nil {
		return nil, err
	}
	sub, _ := fs.Sub(files, "assets")
	a.static = http.StripPrefix("/app/static/", http.FileServerFS(sub))
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

// Close stops the sync workers.
func (a *App) Close() error {
	a.cancel()
	a.wg.Wait()
	return nil
}

// Handler returns the routes of /app/.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /app/static/", a.static)
	page := func(pattern string, h func(w http.ResponseWriter, r *http.Request, c *reqCtx)) {
		mux.HandleFunc(pattern, a.authed(h))
	}
	page("GET /app/{$}", a.handleInbox)
	page("GET /app/inbox", a.handleInbox)
	page("GET /app/mail/{account}/{uid}", a.handleRead)
	page("GET /app/mail/{account}/{uid}/part/{n}", a.handlePart)
	page("POST /app/mail/{account}/{uid}/mdn", a.handleMDN)
	page("POST /app/mail/{account}/{uid}/classify", a.handleClassify)
	page("GET /app/patients", a.handlePatients)
	page("GET /app/patient/{ins}", a.handlePatient)
	page("GET /app/compose", a.handleCompose)
	page("POST /app/compose", a.handleComposePost)
	page("GET /app/directory", a.handleDirectory)
	page("GET /app/mailboxes", a.handleMailboxes)
	page("POST /app/mailboxes", a.handleAddMailbox)
	page("POST /app/settings", a.handleSettings)
	page("GET /app/events", a.handleEvents)
	page("GET /app/sent/{id}", a.handleSent)
	return headers(mux)
}

// headers sets the strict CSP of every page of the app, and the other security headers.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp(false))
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if !strings.HasPrefix(r.URL.Path, "/app/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// csp is the page policy; remote allows remote images (the professional asked for a message's
// remote content).
func csp(remote bool) string {
	img := "img-src 'self' data:"
	if remote {
		img += " https: http:"
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; " + img +
		"; frame-src 'self'; object-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
}

// reqCtx is a request of a logged-in professional.
type reqCtx struct {
	sess      *server.BrowserSession
	mailboxes []Mailbox // the mailboxes this professional may open
	csrf      string
}

// author is the audit author: the professional's national id.
func (c *reqCtx) author() string { return c.sess.Pro.NationalID }

// allowed returns the mailbox address as the professional's list spells it, or false.
func (c *reqCtx) allowed(addr string) (string, bool) {
	for _, m := range c.mailboxes {
		if strings.EqualFold(m.Address, addr) {
			return m.Address, true
		}
	}
	return "", false
}

func (c *reqCtx) addresses() []string {
	out := make([]string, len(c.mailboxes))
	for i, m := range c.mailboxes {
		out[i] = m.Address
	}
	return out
}

// authed wraps a page: a logged-in browser session, its mailboxes, the CSRF check of a POST.
func (a *App) authed(h func(w http.ResponseWriter, r *http.Request, c *reqCtx)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := a.o.Sessions(r)
		if !ok {
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/app/events") &&
				!strings.HasPrefix(r.URL.Path, "/app/directory") {
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
			http.Error(w, "Session expirée : reconnectez-vous.", http.StatusUnauthorized)
			return
		}
		c := &reqCtx{sess: sess, csrf: a.csrfToken(sess.Key)}
		if idle, locked := a.touch(sess, r); locked {
			a.locked(w, r, c, idle)
			return
		}
		var err error
		if c.mailboxes, err = a.mailboxesOf(r.Context(), sess); err != nil {
			a.log.Error("web: mailboxes of the session", "national_id", sess.Pro.NationalID, "err", err)
			a.fail(w, r, c, http.StatusInternalServerError, "Impossible de lire vos boîtes aux lettres.")
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseMultipartForm(64 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
				a.fail(w, r, c, http.StatusBadRequest, "Formulaire illisible.")
				return
			}
			if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(c.csrf)) {
				a.log.Warn("web: CSRF token refused", "national_id", sess.Pro.NationalID, "path", r.URL.Path)
				a.fail(w, r, c, http.StatusForbidden, "Formulaire expiré ou provenant d'un autre site : rechargez la page.")
				return
			}
		}
		a.worker(sess, c.mailboxes) // the session's sync runs while it lives
		h(w, r, c)
	}
}

// csrfToken is the form token of a session: HMAC-SHA256 of its key under the process secret.
func (a *App) csrfToken(key string) string {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte("csrf\x00" + key))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// audit appends an event of the professional's action; a failure is logged, not shown.
func (a *App) audit(ctx context.Context, c *reqCtx, account string, action audit.Action, request string, err error) {
	if a.o.Audit == nil {
		return
	}
	e := audit.Event{Time: a.now(), Author: c.author(), Account: account, Action: action,
		Server: "web", Request: request, Response: "ok", OK: err == nil}
	if err != nil {
		e.Response, e.Error = "refused", err.Error()
	}
	if _, aerr := a.o.Audit.Append(context.WithoutCancel(ctx), e); aerr != nil {
		a.log.Error("web: audit trail", "err", aerr)
	}
}

// Background marks the requests of the page's own script (live refresh, autocomplete): they
// are not the professional's activity and do not keep the session unlocked.
const Background = "X-MSS-Background"

// touch records the activity of r's session and reports whether the session is locked: idle
// longer than Options.LockAfter since its last page or action. A locked session stays locked
// (a new login makes a new session).
func (a *App) touch(sess *server.BrowserSession, r *http.Request) (time.Duration, bool) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	last, seen := a.active[sess.Key]
	if !seen {
		a.active[sess.Key] = now
		done := sess.Done
		go func() { // forget the session when it ends
			select {
			case <-done:
			case <-a.ctx.Done():
			}
			a.mu.Lock()
			delete(a.active, sess.Key)
			a.mu.Unlock()
		}()
		return 0, false
	}
	if idle := now.Sub(last); idle > a.o.LockAfter {
		return idle, true
	}
	if r.Header.Get(Background) == "" && !strings.HasPrefix(r.URL.Path, "/app/events") {
		a.active[sess.Key] = now
	}
	return 0, false
}

// locked answers a request of a locked session: the lock page (423), or a short French error
// to the script's requests and the event stream.
func (a *App) locked(w http.ResponseWriter, r *http.Request, c *reqCtx, idle time.Duration) {
	a.log.Info("web: locked session refused", "national_id", c.author(), "path", r.URL.Path, "idle", idle.Round(time.Second))
	if r.Header.Get(Background) != "" || strings.HasPrefix(r.URL.Path, "/app/events") ||
		strings.Contains(r.Header.Get("Accept"), "application/json") {
		http.Error(w, "Session verrouillée après inactivité : reconnectez-vous.", http.StatusLocked)
		return
	}
	var buf bytes.Buffer
	if err := a.tpl.ExecuteTemplate(&buf, "locked", struct{ Idle, CSRF string }{frenchDuration(a.o.LockAfter), c.csrf}); err != nil {
		a.log.Error("web: render", "page", "locked", "err", err)
		http.Error(w, "Session verrouillée après inactivité : reconnectez-vous.", http.StatusLocked)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusLocked)
	_, _ = w.Write(buf.Bytes())
}

// frenchDuration writes d as "10 min", "1 h 30 min", "45 s".
func frenchDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var parts []string
	if h > 0 {
		parts = append(parts, strconv.Itoa(h)+" h")
	}
	if m > 0 {
		parts = append(parts, strconv.Itoa(m)+" min")
	}
	if sec > 0 || len(parts) == 0 {
		parts = append(parts, strconv.Itoa(sec)+" s")
	}
	return strings.Join(parts, " ")
}
