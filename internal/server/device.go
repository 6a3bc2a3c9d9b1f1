package server

import (
	"crypto/rand"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mssante/mssante/internal/serverapi"
)

// Browser login for a thick client (a "device" handoff, after RFC 8628): the client asks for a
// user code, the professional opens /auth/device in a browser, types the code and logs in at PSC
// there; the tokens go to the client's session, not to the browser. Typing the code (rather than
// following a link) is what keeps someone else from sending the professional a login link that
// would open a session for them; the code is 40 random bits, valid for Options.PendingTimeout,
// single use.

// deviceCodes maps the user codes of pending device logins to their sessions.
type deviceCodes struct {
	mu    sync.Mutex
	codes map[string]*session
}

// userCodeAlphabet has no look-alike letters or digits (no 0/O, 1/I/L, U/V).
const userCodeAlphabet = "ABCDEFGHJKMNPQRSTWXYZ23456789"

// newUserCode returns "XXXX-XXXX".
func newUserCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	var sb strings.Builder
	for i, c := range b {
		if i == 4 {
			sb.WriteByte('-')
		}
		sb.WriteByte(userCodeAlphabet[int(c)%len(userCodeAlphabet)])
	}
	return sb.String()
}

// normalizeUserCode accepts lower case, spaces and a missing dash.
func normalizeUserCode(s string) string {
	s = strings.ToUpper(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s))
	if len(s) != 8 {
		return ""
	}
	return s[:4] + "-" + s[4:]
}

// take removes and returns the live session of code.
func (d *deviceCodes) take(code string) *session {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.codes[code]
	delete(d.codes, code)
	if s == nil {
		return nil
	}
	select {
	case <-s.ended:
		return nil
	default:
		return s
	}
}

func (d *deviceCodes) add(code string, s *session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c, old := range d.codes { // forget the codes of ended sessions
		select {
		case <-old.ended:
			delete(d.codes, c)
		default:
		}
	}
	d.codes[code] = s
}

// deviceStartAnswer is the answer of POST /auth/device/start.
type deviceStartAnswer = serverapi.DeviceStartAnswer

// devicePollInterval is the poll interval given to thick clients.
const devicePollInterval = 2 * time.Second

// handleDeviceStart opens a pending bearer session with a user code.
func (srv *Server) handleDeviceStart(w http.ResponseWriter, r *http.Request) {
	id, s := srv.sessions.create(kindBearer)
	code := newUserCode()
	s.mu.Lock()
	s.pending = &pendingLogin{userCode: code}
	s.mu.Unlock()
	srv.devices.add(code, s)
	srv.log.Info("device login started", "sid", logID(s))
	writeJSON(w, http.StatusOK, deviceStartAnswer{Handle: id, UserCode: code,
		VerificationURL: srv.baseURL(r) + "/auth/device", Interval: int(devicePollInterval / time.Second),
		ExpiresIn: int(srv.o.PendingTimeout / time.Second)})
}

// baseURL is the server's URL as the client reached it.
func (srv *Server) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || srv.secure {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// handleDevicePage shows the form where the professional types the user code.
func (srv *Server) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	srv.render(w, http.StatusOK, "device", pageData{Title: "Connexion d'une application"})
}

// handleDeviceCode checks the typed code and starts the PSC redirect login on behalf of the
// code's session.
func (srv *Server) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	_ = r.ParseForm()
	code := normalizeUserCode(r.PostForm.Get("user_code"))
	var target *session
	if code != "" {
		target = srv.devices.take(code)
	}
	if target == nil {
		srv.log.Info("device code refused")
		srv.render(w, http.StatusBadRequest, "device", pageData{Title: "Connexion d'une application",
			Message: "Code inconnu ou expiré : vérifiez le code affiché par votre application."})
		return
	}
	req, err := srv.o.PSC.AuthCodeURL()
	if err != nil {
		srv.log.Error("psc authorization request", "err", err)
		srv.fail(w, r, http.StatusInternalServerError, "psc", "La connexion à Pro Santé Connect est indisponible.")
		return
	}
	id, s := srv.sessions.create(kindCookie)
	s.mu.Lock()
	s.pending = &pendingLogin{code: req, device: target}
	s.mu.Unlock()
	srv.setCookie(w, id)
	http.Redirect(w, r, req.URL, http.StatusSeeOther)
}

// handleDevicePoll tells a thick client whether the browser login completed; the first "ok"
// carries the session handle, which replaces the start handle.
func (srv *Server) handleDevicePoll(w http.ResponseWriter, r *http.Request) {
	s := srv.session(r)
	if s == nil || s.kind != kindBearer {
		writeJSON(w, http.StatusUnauthorized, cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: "expired"}})
		return
	}
	s.mu.Lock()
	ans := cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: "pending", Interval: int(devicePollInterval / time.Second)}}
	status := http.StatusAccepted
	switch {
	case s.pro != nil && !s.delivered:
		s.delivered = true
		ans = cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: "ok", Me: s.pro}, fresh: true}
		status = http.StatusOK
	case s.pro != nil:
		ans, status = cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: "ok", Me: s.pro}}, http.StatusOK
	case s.pending != nil && s.pending.failed != "":
		ans, status = cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: s.pending.failed}}, http.StatusForbidden
	}
	s.mu.Unlock()
	if ans.fresh {
		ans.Session = srv.sessions.rotate(s)
	}
	writeJSON(w, status, ans)
}
