package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/serverapi"
)

// PSC is what the server needs from the Pro Santé Connect client; *psc.Client implements it.
type PSC interface {
	AuthCodeURL() (*psc.AuthRequest, error)
	Exchange(ctx context.Context, req *psc.AuthRequest, code, state string) (*psc.Tokens, error)
	StartCIBA(ctx context.Context, r psc.CIBARequest) (*psc.CIBAAuth, error)
	PollCIBAOnce(ctx context.Context, a *psc.CIBAAuth) (*psc.Tokens, error)
	UserInfo(ctx context.Context, access []byte) (*psc.UserInfo, error)
}

// Holder is the token holder of one professional session; *psc.Holder implements it.
type Holder interface {
	Token(ctx context.Context) (string, error)
	Expiry() time.Time
	Subscribe() <-chan psc.Event
	Unsubscribe(ch <-chan psc.Event)
	Run(ctx context.Context) error
	Logout(ctx context.Context) error
	Close() error
	Done() <-chan struct{}
	Reason() psc.EndReason
}

// Auditor records logins and logouts; *audit.Trail implements it.
type Auditor interface {
	Append(ctx context.Context, e audit.Event) (audit.Event, error)
}

// Professional is the identity of a logged-in session, as shown by GET /api/v1/me.
type Professional = serverapi.Professional

// Options configure a Server. Only PSC is required.
type Options struct {
	// PSC is the Pro Santé Connect client (required).
	PSC PSC
	// NewHolder makes the token holder of a new login. Default: psc.NewHolder with PSC as the
	// refresher (PSC must then implement psc.Refresher), MaxSession = MaxLifetime, Now, Logger.
	NewHolder func(t *psc.Tokens) Holder
	// Mailboxes returns the mailboxes of a professional. Default: the userinfo claims named by
	// MailboxClaims.
	Mailboxes func(ctx context.Context, u *psc.UserInfo) ([]string, error)
	// MailboxClaims name the userinfo claims (a string or a list of strings) that give the
	// mailboxes when Mailboxes is nil. Default "email" then "mailboxes".
	MailboxClaims []string
	// NationalIDClaim names the userinfo claim of the national id. Default "SubjectNameID" (PSC).
	// When the provider gives neither it nor SubjectNameID (in userinfo or the ID token), the
	// national id falls back to preferred_username, then sub, with a warning in the log.
	NationalIDClaim string
	// Secure is true when clients reach the server over TLS: cookies get Secure and the __Host-
	// prefix. Default false (development on 127.0.0.1).
	Secure bool
	// IdleTimeout ends a session unused this long (default 30 min); MaxLifetime ends it this long
	// after its creation whatever its use (default 12 h). PendingTimeout bounds a login in
	// progress (default 10 min).
	IdleTimeout, MaxLifetime, PendingTimeout time.Duration
	// TrustedOrigins are other origins allowed to send state-changing requests (CSRF check), such
	// as "https://app.example.org". The server's own origin is always allowed.
	TrustedOrigins []string
	// Audit receives login and logout events (nil: none).
	Audit Auditor
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Logger receives JSON-friendly events, never a token or a session id (nil: discard).
	Logger *slog.Logger
}

// Server is the intermediate LPS server. It is safe for concurrent use.
type Server struct {
	o        Options
	secure   bool
	now      func() time.Time
	log      *slog.Logger
	sessions *sessionStore
	devices  deviceCodes
	handler  http.Handler

	ctx    context.Context // lives until Close: holders refresh under it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a server. It does no I/O; serve Handler and call Run for the expiry sweeper.
func New(o Options) (*Server, error) {
	if o.PSC == nil {
		return nil, errors.New("server: Options.PSC is required")
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Minute
	}
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = 12 * time.Hour
	}
	if o.PendingTimeout <= 0 {
		o.PendingTimeout = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.MailboxClaims) == 0 {
		o.MailboxClaims = []string{"email", "mailboxes"}
	}
	if o.Mailboxes == nil {
		o.Mailboxes = claimMailboxes(o.MailboxClaims)
	}
	if o.NationalIDClaim == "" {
		o.NationalIDClaim = "SubjectNameID"
	}
	if o.NewHolder == nil {
		r, ok := o.PSC.(psc.Refresher)
		if !ok {
			return nil, errors.New("server: Options.NewHolder is required when PSC cannot refresh")
		}
		hopts := &psc.HolderOptions{MaxSession: o.MaxLifetime, Now: o.Now, Logger: o.Logger}
		o.NewHolder = func(t *psc.Tokens) Holder { return psc.NewHolder(t, r, hopts) }
	}
	srv := &Server{o: o, secure: o.Secure, now: o.Now, log: o.Logger, devices: deviceCodes{codes: map[string]*session{}}}
	srv.ctx, srv.cancel = context.WithCancel(context.Background())
	srv.sessions = newSessionStore(o.Now, o.IdleTimeout, o.MaxLifetime, o.PendingTimeout, srv.sessionEnded)
	h, err := srv.routes()
	if err != nil {
		return nil, err
	}
	srv.handler = h
	return srv, nil
}

// Handler returns the HTTP handler of every route.
func (srv *Server) Handler() http.Handler { return srv.handler }

// Run ends expired sessions every interval (default one minute) until ctx is done.
func (srv *Server) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			srv.Sweep()
		}
	}
}

// Sweep ends the sessions past their idle or absolute expiry now, and returns how many.
func (srv *Server) Sweep() int { return srv.sessions.sweep() }

// Close ends every session (logging out at PSC, best effort) and waits for the holders.
func (srv *Server) Close() error {
	for _, s := range srv.sessions.all() {
		srv.sessions.end(s, "shutdown", true)
	}
	srv.cancel()
	srv.wg.Wait()
	return nil
}

// routes builds the mux behind the security middleware.
func (srv *Server) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", srv.handleHome)
	mux.HandleFunc("GET /auth/login", srv.handleLogin)
	mux.HandleFunc("GET /auth/callback", srv.handleCallback)
	mux.HandleFunc("POST /auth/ciba/start", srv.handleCIBAStart)
	mux.HandleFunc("GET /auth/ciba/poll", srv.handleCIBAPoll)
	mux.HandleFunc("POST /auth/ciba/poll", srv.handleCIBAPoll)
	mux.HandleFunc("POST /auth/device/start", srv.handleDeviceStart)
	mux.HandleFunc("GET /auth/device", srv.handleDevicePage)
	mux.HandleFunc("POST /auth/device", srv.handleDeviceCode)
	mux.HandleFunc("POST /auth/device/poll", srv.handleDevicePoll)
	mux.HandleFunc("POST /auth/logout", srv.handleLogout)
	mux.HandleFunc("GET /api/v1/me", srv.handleMe)
	mux.HandleFunc("GET /api/v1/mailboxes/{address}/token", srv.handleToken)
	mux.HandleFunc("GET /api/v1/events", srv.handleEvents)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})

	// CSRF (decision, see doc.go): Go's CrossOriginProtection refuses non-safe requests that a
	// browser marks cross-site (Sec-Fetch-Site, or Origin ≠ Host); the cookie is SameSite=Lax too.
	cop := http.NewCrossOriginProtection()
	for _, o := range srv.o.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		srv.fail(w, r, http.StatusForbidden, "cross_origin", "Requête refusée : elle provient d'un autre site.")
	}))
	return securityHeaders(cop.Handler(mux)), nil
}

// securityHeaders sets the headers every answer carries.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer") // the callback URL holds the code
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// claimMailboxes reads the mailboxes from the userinfo claims names, each a string or a list of
// strings, in order, without duplicates.
func claimMailboxes(names []string) func(context.Context, *psc.UserInfo) ([]string, error) {
	return func(_ context.Context, u *psc.UserInfo) ([]string, error) {
		var list []string
		add := func(m string) {
			if m = strings.TrimSpace(m); m != "" && !slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, m) }) {
				list = append(list, m)
			}
		}
		for _, name := range names {
			for _, m := range claimStrings(u.Raw[name]) {
				add(m)
			}
		}
		return list, nil
	}
}

// claimStrings reads a claim that is a string or a list of strings.
func claimStrings(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	return nil
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// apiError is the JSON body of an error answer. Message is in French (shown to the professional).
type apiError = serverapi.Error

// fail answers an error: an HTML page to a browser navigation, JSON otherwise.
func (srv *Server) fail(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	if wantsHTML(r) {
		srv.renderError(w, status, message)
		return
	}
	writeJSON(w, status, apiError{Error: code, Message: message})
}

// wantsHTML reports whether the client is a browser navigation (Accept: text/html).
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
