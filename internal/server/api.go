package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/serverapi"
)

// The JSON of the API is declared once, in internal/serverapi, for the server and its clients.
type (
	meAnswer    = serverapi.Me
	sessionInfo = serverapi.SessionInfo
	tokenAnswer = serverapi.Token
	streamEvent = serverapi.Event
)

// professionalSession returns the logged-in session of r, or answers 401.
func (srv *Server) professionalSession(w http.ResponseWriter, r *http.Request) (*session, *Professional, Holder) {
	s := srv.session(r)
	if s != nil {
		if pro, h := s.identity(); pro != nil {
			return s, pro, h
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="mssante"`)
	writeJSON(w, http.StatusUnauthorized, apiError{Error: "unauthenticated",
		Message: "Vous n'êtes pas connecté : connectez-vous avec Pro Santé Connect."})
	return nil, nil, nil
}

// handleMe answers the professional of the session (401 without one).
func (srv *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	s, pro, h := srv.professionalSession(w, r)
	if s == nil {
		return
	}
	idle, abs := srv.sessions.expiresAt(s)
	writeJSON(w, http.StatusOK, meAnswer{Professional: *pro, TokenExpiresAt: h.Expiry(),
		Session: sessionInfo{Kind: kindName(s.kind), IdleExpiresAt: idle, ExpiresAt: abs}})
}

// handleToken gives a thick client the current PSC access token for one of its mailboxes
// (Figure 2 of the referential). Only bearer sessions get it: a browser session never sees a PSC
// token. The answer is not cacheable (Cache-Control: no-store).
func (srv *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s, pro, h := srv.professionalSession(w, r)
	if s == nil {
		return
	}
	addr := r.PathValue("address")
	switch {
	case s.kind != kindBearer:
		writeJSON(w, http.StatusForbidden, apiError{Error: "bearer_only",
			Message: "Le jeton n'est remis qu'aux clients lourds authentifiés."})
		return
	case !pro.HasMailbox(addr):
		writeJSON(w, http.StatusNotFound, apiError{Error: "unknown_mailbox",
			Message: "Cette boîte aux lettres n'est pas rattachée à votre session."})
		return
	}
	tok, err := h.Token(r.Context())
	if err != nil {
		status, code := http.StatusBadGateway, "token_unavailable"
		if errors.Is(err, psc.ErrSessionEnded) {
			status, code = http.StatusUnauthorized, "session_ended"
		}
		srv.log.Warn("access token for thick client", "sid", logID(s), "err", err)
		writeJSON(w, status, apiError{Error: code, Message: "Jeton Pro Santé Connect indisponible : reconnectez-vous."})
		return
	}
	w.Header().Set("Pragma", "no-cache")
	srv.log.Debug("access token handed out", "sid", logID(s), "mailbox", addr)
	writeJSON(w, http.StatusOK, tokenAnswer{Mailbox: addr, AccessToken: tok, TokenType: "Bearer", ExpiresAt: h.Expiry()})
}

// heartbeat is the interval of SSE comments that keep proxies from closing an idle stream.
const heartbeat = 25 * time.Second

// handleEvents streams "ready", then "token-renewed" at each refresh and a final "session-ended"
// (text/event-stream). An open stream does not keep the session alive: idle expiry counts
// requests only.
func (srv *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	s, _, h := srv.professionalSession(w, r)
	if s == nil {
		return
	}
	rc := http.NewResponseController(w)
	ch := h.Subscribe()
	defer h.Unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(ev streamEvent) error {
		data, _ := json.Marshal(ev)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Kind, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	if send(streamEvent{Kind: "ready", Time: srv.now(), ExpiresAt: h.Expiry()}) != nil {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.ended:
			_ = send(streamEvent{Kind: "session-ended", Time: srv.now(), Reason: srv.sessions.endReason(s)})
			return
		case ev, ok := <-ch:
			if !ok || ev.Kind == psc.EventSessionEnded {
				reason := string(h.Reason())
				if ok && ev.Reason != "" {
					reason = string(ev.Reason)
				}
				_ = send(streamEvent{Kind: "session-ended", Time: srv.now(), Reason: reason})
				return
			}
			if send(streamEvent{Kind: ev.Kind.String(), Time: ev.Time, ExpiresAt: ev.Expiry}) != nil {
				return
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
