package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/serverapi"
)

// handleLogin starts a redirect login: a new pre-login session (cookie) keeps the PKCE verifier,
// state and nonce, and the browser goes to PSC.
func (srv *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	req, err := srv.o.PSC.AuthCodeURL()
	if err != nil {
		srv.log.Error("psc authorization request", "err", err)
		srv.fail(w, r, http.StatusInternalServerError, "psc", "La connexion à Pro Santé Connect est indisponible.")
		return
	}
	id, s := srv.sessions.create(kindCookie)
	s.mu.Lock()
	s.pending = &pendingLogin{code: req}
	s.mu.Unlock()
	srv.setCookie(w, id)
	http.Redirect(w, r, req.URL, http.StatusFound)
}

// handleCallback completes a redirect login. The state is checked against the pre-login session
// of the cookie (SameSite=Lax: the cookie comes with PSC's top-level redirect).
func (srv *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	s := srv.session(r)
	if s == nil {
		srv.fail(w, r, http.StatusBadRequest, "no_login", "Aucune connexion en cours : recommencez depuis la page d'accueil.")
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		srv.log.Info("psc login refused", "sid", logID(s), "error", e)
		s.mu.Lock()
		if s.pending != nil && s.pending.device != nil {
			failDevice(s.pending.device, "denied")
		}
		s.mu.Unlock()
		srv.sessions.end(s, "login-refused", false)
		srv.clearCookie(w)
		srv.fail(w, r, http.StatusForbidden, "access_denied", "Pro Santé Connect a refusé la connexion.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	if p == nil || p.code == nil || srv.now().Sub(p.code.Created) > srv.o.PendingTimeout {
		srv.fail(w, r, http.StatusBadRequest, "no_login", "Aucune connexion en cours ou connexion trop ancienne : recommencez.")
		return
	}
	tok, err := srv.o.PSC.Exchange(r.Context(), p.code, q.Get("code"), q.Get("state"))
	if err != nil {
		srv.log.Warn("psc code exchange", "sid", logID(s), "err", err)
		if p.device != nil {
			failDevice(p.device, "failed")
		}
		srv.fail(w, r, http.StatusForbidden, "login_failed", "La connexion Pro Santé Connect a échoué.")
		return
	}
	if p.device != nil {
		srv.completeDevice(w, r, s, p.device, tok)
		return
	}
	if err := srv.completeLogin(r.Context(), s, tok, "code"); err != nil {
		srv.fail(w, r, http.StatusBadGateway, "login_failed", "Impossible de lire votre identité auprès de Pro Santé Connect.")
		return
	}
	srv.setCookie(w, srv.sessions.rotate(s))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// completeDevice gives the tokens of a browser login to the thick client's session it was made
// for; the browser's own pre-login session ends (s.mu is held).
func (srv *Server) completeDevice(w http.ResponseWriter, r *http.Request, s, device *session, tok *psc.Tokens) {
	s.pending = nil
	go srv.sessions.end(s, "device-login-done", false) // end takes s.mu in its callback
	srv.clearCookie(w)
	device.mu.Lock()
	defer device.mu.Unlock()
	select {
	case <-device.ended:
		tok.Zero()
		srv.fail(w, r, http.StatusGone, "no_login", "L'application a abandonné la connexion : recommencez depuis l'application.")
		return
	default:
	}
	if device.pro != nil {
		tok.Zero()
		srv.fail(w, r, http.StatusConflict, "no_login", "Cette application est déjà connectée.")
		return
	}
	if err := srv.completeLogin(r.Context(), device, tok, "code"); err != nil {
		failDevice0(device, "failed")
		srv.fail(w, r, http.StatusBadGateway, "login_failed", "Impossible de lire votre identité auprès de Pro Santé Connect.")
		return
	}
	srv.render(w, http.StatusOK, "device", pageData{Title: "Connexion réussie", Done: true, Pro: device.pro})
}

// failDevice marks a device login failed (device.mu not held).
func failDevice(device *session, status string) {
	device.mu.Lock()
	defer device.mu.Unlock()
	failDevice0(device, status)
}

func failDevice0(device *session, status string) {
	if device.pending != nil {
		device.pending.failed = status
	}
}

// completeLogin turns a pre-login session into a professional session: userinfo, mailboxes, the
// token holder and its watcher. It owns tok (the holder takes it, or it is zeroed). s.mu is held.
func (srv *Server) completeLogin(ctx context.Context, s *session, tok *psc.Tokens, method string) error {
	u, err := srv.o.PSC.UserInfo(ctx, tok.Access)
	if err != nil {
		tok.Zero()
		srv.log.Warn("psc userinfo", "sid", logID(s), "err", err)
		return err
	}
	boxes, err := srv.o.Mailboxes(ctx, u)
	if err != nil {
		tok.Zero()
		srv.log.Warn("mailboxes of professional", "sid", logID(s), "err", err)
		return err
	}
	pro := &Professional{NationalID: srv.nationalID(s, u, tok), GivenName: u.GivenName, FamilyName: u.FamilyName,
		Mailboxes: boxes, AuthMethod: method, LoginTime: srv.now()}
	if pro.Mailboxes == nil {
		pro.Mailboxes = []string{}
	}
	if len(pro.Mailboxes) == 0 {
		srv.log.Warn("no mailbox for this professional", "sid", logID(s), "national_id", pro.NationalID,
			"claims", strings.Join(srv.o.MailboxClaims, ","))
	}
	if len(tok.Refresh) == 0 {
		srv.log.Warn("PSC gave no refresh token: the session ends when the access token expires "+
			"(a generic OpenID Connect provider needs the offline_access scope)", "sid", logID(s))
	}
	h := srv.o.NewHolder(tok)
	s.pending, s.pro, s.holder = nil, pro, h
	s.authed.Store(true)
	srv.wg.Add(2)
	go func() { defer srv.wg.Done(); _ = h.Run(srv.ctx) }()
	go func() {
		defer srv.wg.Done()
		select {
		case <-h.Done():
			srv.sessions.end(s, string(h.Reason()), false)
		case <-s.ended:
		}
	}()
	srv.log.Info("professional logged in", "sid", logID(s), "national_id", pro.NationalID,
		"method", method, "mailboxes", len(pro.Mailboxes), "kind", kindName(s.kind))
	srv.audit(ctx, pro, audit.ActionAuth, "PSC login ("+method+")", "ok", true)
	return nil
}

// nationalID is the professional's national id: the configured userinfo claim, else PSC's
// SubjectNameID (userinfo, then ID token), else preferred_username or sub (a generic provider),
// logged as such.
func (srv *Server) nationalID(s *session, u *psc.UserInfo, tok *psc.Tokens) string {
	if v := claimStrings(u.Raw[srv.o.NationalIDClaim]); len(v) == 1 && v[0] != "" {
		return v[0]
	}
	if u.SubjectNameID != "" {
		return u.SubjectNameID
	}
	if tok.Claims != nil && tok.Claims.SubjectNameID != "" {
		return tok.Claims.SubjectNameID
	}
	for _, c := range []struct{ name, value string }{{"preferred_username", u.PreferredUsername}, {"sub", u.Subject}} {
		if c.value != "" {
			srv.log.Warn("national id claim absent: using another claim", "sid", logID(s),
				"claim", srv.o.NationalIDClaim, "using", c.name)
			return c.value
		}
	}
	srv.log.Warn("national id claim absent", "sid", logID(s), "claim", srv.o.NationalIDClaim)
	return ""
}

// sessionEnded is called once per ended session: the holder ends (at PSC too when logout), the
// audit trail records it.
func (srv *Server) sessionEnded(s *session, logout bool) {
	pro, h := s.identity()
	if h == nil {
		return
	}
	if logout {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(srv.ctx), 10*time.Second)
		if err := h.Logout(ctx); err != nil {
			srv.log.Warn("psc logout", "sid", logID(s), "err", err)
		}
		cancel()
	} else {
		_ = h.Close()
	}
	reason := srv.sessions.endReason(s)
	srv.log.Info("professional session ended", "sid", logID(s), "national_id", pro.NationalID, "reason", reason)
	srv.audit(context.WithoutCancel(srv.ctx), pro, audit.ActionLogout, "session end", reason, true)
}

func (srv *Server) audit(ctx context.Context, pro *Professional, action audit.Action, req, resp string, ok bool) {
	if srv.o.Audit == nil {
		return
	}
	e := audit.Event{Author: pro.NationalID, Account: strings.Join(pro.Mailboxes, ","), Action: action,
		Request: req, Response: resp, OK: ok}
	if _, err := srv.o.Audit.Append(ctx, e); err != nil {
		srv.log.Error("audit append", "err", err)
	}
}

func kindName(k sessionKind) string {
	if k == kindBearer {
		return "bearer"
	}
	return "cookie"
}

// cibaStartRequest is the body of POST /auth/ciba/start (JSON, or a form from the login page).
type cibaStartRequest = serverapi.CIBAStartRequest

// cibaStartAnswer is the answer of POST /auth/ciba/start.
type cibaStartAnswer = serverapi.CIBAStartAnswer

var nationalIDPattern = regexp.MustCompile(`^[0-9A-Za-z]{6,20}$`)

// handleCIBAStart sends a CIBA request to PSC for a national id.
func (srv *Server) handleCIBAStart(w http.ResponseWriter, r *http.Request) {
	in, err := readCIBAStart(r)
	if err != nil {
		srv.fail(w, r, http.StatusBadRequest, "bad_request", "Demande invalide : "+err.Error())
		return
	}
	if !nationalIDPattern.MatchString(in.NationalID) {
		srv.fail(w, r, http.StatusBadRequest, "bad_request", "Identifiant national invalide.")
		return
	}
	ch := psc.Channel(strings.ToUpper(in.Channel))
	if ch == "" {
		ch = psc.ChannelMobile
	}
	if ch != psc.ChannelMobile && ch != psc.ChannelCard {
		srv.fail(w, r, http.StatusBadRequest, "bad_request", "Canal invalide (MOBILE ou CARD).")
		return
	}
	a, err := srv.o.PSC.StartCIBA(r.Context(), psc.CIBARequest{LoginHint: in.NationalID, Channel: ch})
	if errors.Is(err, psc.ErrCIBAUnsupported) {
		srv.log.Warn("psc ciba start", "err", err)
		srv.fail(w, r, http.StatusNotImplemented, "ciba_unsupported",
			"Ce fournisseur d'identité ne propose pas la validation sur l'application e-CPS ou la carte CPS : connectez-vous par le navigateur.")
		return
	}
	if err != nil {
		srv.log.Warn("psc ciba start", "err", err)
		srv.fail(w, r, http.StatusBadGateway, "psc", "Pro Santé Connect a refusé la demande d'authentification.")
		return
	}
	kind := kindCookie
	if in.Client == "agent" {
		kind = kindBearer
	}
	id, s := srv.sessions.create(kind)
	s.mu.Lock()
	s.pending = &pendingLogin{ciba: a, nextPoll: srv.now().Add(a.Interval), channel: ch}
	s.mu.Unlock()
	ans := cibaStartAnswer{BindingMessage: a.BindingMessage, Interval: int(a.Interval / time.Second),
		ExpiresIn: int(a.Expires.Sub(srv.now()) / time.Second)}
	if kind == kindBearer {
		ans.Handle = id
	} else {
		srv.setCookie(w, id)
	}
	srv.log.Info("ciba login started", "sid", logID(s), "channel", string(ch), "kind", kindName(kind))
	if wantsHTML(r) {
		srv.renderCIBAPending(w, ans.BindingMessage, ans.Interval)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func readCIBAStart(r *http.Request) (cibaStartRequest, error) {
	var in cibaStartRequest
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil {
			return in, errors.New("JSON illisible")
		}
		return in, nil
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		return in, errors.New("formulaire illisible")
	}
	in.NationalID, in.Channel, in.Client = r.PostForm.Get("national_id"), r.PostForm.Get("channel"), r.PostForm.Get("client")
	return in, nil
}

// cibaPollAnswer is the answer of /auth/ciba/poll.
type cibaPollAnswer struct {
	serverapi.PollAnswer

	fresh bool // the login completed in this poll: the session id is rotated
}

// handleCIBAPoll asks PSC whether the professional approved, at most once per interval: polls
// that come earlier get "pending" without a call to PSC.
func (srv *Server) handleCIBAPoll(w http.ResponseWriter, r *http.Request) {
	s := srv.session(r)
	if s == nil {
		srv.fail(w, r, http.StatusUnauthorized, "no_login", "Aucune authentification en cours.")
		return
	}
	s.mu.Lock()
	ans, status := srv.pollLocked(r.Context(), s)
	s.mu.Unlock()
	if ans.fresh {
		id := srv.sessions.rotate(s)
		if s.kind == kindBearer {
			ans.Session = id
		} else {
			srv.setCookie(w, id)
		}
	}
	if wantsHTML(r) {
		switch ans.Status {
		case "ok":
			http.Redirect(w, r, "/", http.StatusSeeOther)
		case "pending":
			srv.renderCIBAPending(w, s.pendingBinding(), ans.Interval)
		default:
			srv.renderError(w, status, cibaMessage(ans.Status))
		}
		return
	}
	writeJSON(w, status, ans)
}

// pendingBinding is the binding message of a CIBA login in progress (s.mu not held).
func (s *session) pendingBinding() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != nil && s.pending.ciba != nil {
		return s.pending.ciba.BindingMessage
	}
	return ""
}

func cibaMessage(status string) string {
	switch status {
	case "denied":
		return "Vous avez refusé la demande d'authentification."
	case "expired":
		return "La demande d'authentification a expiré : recommencez."
	}
	return "L'authentification a échoué."
}

// pollLocked runs one poll step; s.mu is held.
func (srv *Server) pollLocked(ctx context.Context, s *session) (cibaPollAnswer, int) {
	if s.pro != nil {
		return cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: "ok", Me: s.pro}}, http.StatusOK
	}
	p := s.pending
	if p == nil || p.ciba == nil {
		return cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: "expired"}}, http.StatusGone
	}
	if p.failed != "" {
		return cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: p.failed}}, http.StatusForbidden
	}
	now := srv.now()
	if !now.Before(p.ciba.Expires) {
		p.failed = "expired"
		return cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: "expired"}}, http.StatusForbidden
	}
	if now.Before(p.nextPoll) {
		return cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: "pending", Interval: secondsUntil(now, p.nextPoll)}}, http.StatusAccepted
	}
	tok, err := srv.o.PSC.PollCIBAOnce(ctx, p.ciba)
	switch {
	case err == nil:
		if err := srv.completeLogin(ctx, s, tok, "ciba"); err != nil {
			p.failed = "failed"
			return cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: "failed"}}, http.StatusBadGateway
		}
		return cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: "ok", Me: s.pro}, fresh: true}, http.StatusOK
	case errors.Is(err, psc.ErrSlowDown):
		p.ciba.Interval += psc.SlowDownStep
	case errors.Is(err, psc.ErrAuthorizationPending):
	case errors.Is(err, psc.ErrAccessDenied):
		p.failed = "denied"
	case errors.Is(err, psc.ErrExpiredToken):
		p.failed = "expired"
	default:
		srv.log.Warn("psc ciba poll", "sid", logID(s), "err", err)
		p.failed = "failed"
	}
	if p.failed != "" {
		srv.log.Info("ciba login failed", "sid", logID(s), "status", p.failed)
		return cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: p.failed}}, http.StatusForbidden
	}
	p.nextPoll = now.Add(p.ciba.Interval)
	return cibaPollAnswer{PollAnswer: serverapi.PollAnswer{Status: "pending", Interval: secondsUntil(now, p.nextPoll)}}, http.StatusAccepted
}

func secondsUntil(now, t time.Time) int {
	return int((t.Sub(now) + time.Second - 1) / time.Second)
}

// handleLogout ends the session here and at PSC.
func (srv *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	s := srv.session(r)
	if s != nil {
		srv.sessions.end(s, string(psc.ReasonLogout), true)
	}
	if s == nil || s.kind == kindCookie {
		srv.clearCookie(w)
	}
	if wantsHTML(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged_out"})
}
