package pscemu

import (
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// cibaAuth is a pending decoupled login.
type cibaAuth struct {
	id, binding, channel, scope, acr string
	pro                              *Professional
	created, expires, lastPoll       time.Time
	interval                         time.Duration
	decision                         string // "", "approved", "denied"
}

// Pending is a CIBA request waiting for the professional, as shown on the sandbox page.
type Pending struct {
	AuthReqID      string
	NationalID     string
	BindingMessage string
	Channel        string
	Expires        time.Time
}

func (s *Server) cibaAuth(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	if msg := s.clientAuth(r); msg != "" {
		oauthErr(w, http.StatusUnauthorized, "invalid_client", msg)
		return
	}
	f := r.PostForm
	pro := s.professional(f.Get("login_hint"))
	ch := f.Get("channel")
	switch {
	case !slices.Contains(strings.Fields(f.Get("scope")), "openid"):
		oauthErr(w, http.StatusBadRequest, "invalid_scope", "openid is required")
	case pro == nil:
		oauthErr(w, http.StatusBadRequest, "unknown_user_id", "unknown login_hint")
	case ch != "CARD" && ch != "MOBILE":
		oauthErr(w, http.StatusBadRequest, "invalid_request", "channel must be CARD or MOBILE")
	case len(f.Get("binding_message")) == 0 || len(f.Get("binding_message")) > 20:
		oauthErr(w, http.StatusBadRequest, "invalid_binding_message", "binding_message required")
	default:
		now := s.now()
		a := &cibaAuth{id: random(24), binding: f.Get("binding_message"), channel: ch, pro: pro,
			scope: f.Get("scope"), acr: f.Get("acr_values"), created: now,
			expires: now.Add(s.o.CIBAExpiresIn), interval: s.o.CIBAInterval}
		s.mu.Lock()
		s.ciba[a.id] = a
		s.mu.Unlock()
		s.o.Logger.Info("pscemu ciba request", "pro", pro.NationalID, "channel", ch)
		writeJSON(w, http.StatusOK, map[string]any{"auth_req_id": a.id,
			"expires_in": int64(s.o.CIBAExpiresIn / time.Second), "interval": int64(a.interval / time.Second)})
	}
}

// cibaGrant answers a poll: pending, slow_down, expired_token, access_denied or the tokens.
func (s *Server) cibaGrant(w http.ResponseWriter, r *http.Request) {
	id := r.PostForm.Get("auth_req_id")
	now := s.now()
	s.mu.Lock()
	a := s.ciba[id]
	if a == nil {
		s.mu.Unlock()
		oauthErr(w, http.StatusBadRequest, "invalid_grant", "unknown auth_req_id")
		return
	}
	if !now.Before(a.expires) {
		delete(s.ciba, id)
		s.mu.Unlock()
		oauthErr(w, http.StatusBadRequest, "expired_token", "authentication request expired")
		return
	}
	// 100 ms of tolerance for timer jitter.
	tooFast := !a.lastPoll.IsZero() && now.Sub(a.lastPoll) < a.interval-100*time.Millisecond
	a.lastPoll = now
	switch {
	case tooFast:
		a.interval += 5 * time.Second
		s.mu.Unlock()
		oauthErr(w, http.StatusBadRequest, "slow_down", "polling too fast")
	case a.decision == "":
		s.mu.Unlock()
		oauthErr(w, http.StatusBadRequest, "authorization_pending", "the user has not answered yet")
	case a.decision == "denied":
		delete(s.ciba, id)
		s.mu.Unlock()
		oauthErr(w, http.StatusBadRequest, "access_denied", "the user denied the request")
	default:
		delete(s.ciba, id)
		s.mu.Unlock()
		s.issue(w, s.newSession(a.pro, a.scope, a.acr), "")
	}
}

// Approve accepts a pending CIBA request, as the professional would on the e-CPS app.
func (s *Server) Approve(authReqID string) error { return s.decide(authReqID, "approved") }

// Deny refuses a pending CIBA request.
func (s *Server) Deny(authReqID string) error { return s.decide(authReqID, "denied") }

func (s *Server) decide(id, d string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.ciba[id]
	if a == nil || a.decision != "" {
		return errNotFound
	}
	a.decision = d
	return nil
}

// Pending lists the CIBA requests waiting for an answer, oldest first.
func (s *Server) Pending() []Pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Pending
	for _, a := range s.ciba {
		if a.decision == "" {
			out = append(out, Pending{AuthReqID: a.id, NationalID: a.pro.NationalID,
				BindingMessage: a.binding, Channel: a.channel, Expires: a.expires})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.Before(out[j].Expires) })
	return out
}

var sandboxPage = template.Must(template.New("ciba").Parse(`<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Demandes CIBA en attente</title></head>
<body><h1>Demandes d'authentification en attente (émulateur PSC)</h1>
{{if not .}}<p>Aucune demande en attente.</p>{{end}}
<ul>{{range .}}<li>{{.NationalID}} — canal {{.Channel}} — code affiché <strong>{{.BindingMessage}}</strong>
<form method="post" action="/sandbox/ciba/{{.AuthReqID}}/approve" style="display:inline"><button>Accepter</button></form>
<form method="post" action="/sandbox/ciba/{{.AuthReqID}}/deny" style="display:inline"><button>Refuser</button></form></li>
{{end}}</ul></body></html>
`))

func (s *Server) sandboxCIBA(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = sandboxPage.Execute(w, s.Pending())
}

func (s *Server) sandboxDecide(w http.ResponseWriter, r *http.Request) {
	var err error
	switch r.PathValue("decision") {
	case "approve":
		err = s.Approve(r.PathValue("id"))
	case "deny":
		err = s.Deny(r.PathValue("id"))
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "demande inconnue", http.StatusNotFound)
		return
	}
	http.Redirect(w, r, "/sandbox/ciba", http.StatusSeeOther)
}
