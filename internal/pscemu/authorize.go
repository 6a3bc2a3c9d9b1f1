package pscemu

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// authReq is an authorization request waiting on the login page.
type authReq struct {
	clientID, redirect, state, nonce, challenge, scope, acr string
	created                                                 time.Time
}

// grant is what an authorization code (or an approved CIBA request) stands for.
type grant struct {
	pro                        *Professional
	nonce, challenge, redirect string
	scope, acr                 string
	expires                    time.Time
}

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Pro Santé Connect — émulateur</title></head>
<body>
<h1>Pro Santé Connect (émulateur de test)</h1>
<p>Choisissez le professionnel de test à connecter.</p>
<ul>
{{range .Pros}}<li><a class="login" href="{{.Link}}">{{.Pro.GivenName}} {{.Pro.FamilyName}}</a>
 — identifiant national <code>{{.Pro.NationalID}}</code> — BAL : {{range .Pro.Mailboxes}}<code>{{.}}</code> {{end}}</li>
{{end}}</ul>
<p><a class="deny" href="{{.Deny}}">Refuser</a></p>
</body></html>
`))

// authorize validates the request and shows the login page.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ar := &authReq{clientID: q.Get("client_id"), redirect: q.Get("redirect_uri"), state: q.Get("state"),
		nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), scope: q.Get("scope"),
		acr: q.Get("acr_values"), created: s.now()}
	if ar.clientID != s.o.ClientID {
		http.Error(w, "client_id inconnu", http.StatusBadRequest)
		return
	}
	u, err := url.Parse(ar.redirect)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
		(len(s.o.RedirectURIs) > 0 && !slices.Contains(s.o.RedirectURIs, ar.redirect)) {
		http.Error(w, "redirect_uri refusée", http.StatusBadRequest)
		return
	}
	fail := func(code, desc string) {
		v := url.Values{"error": {code}, "error_description": {desc}, "state": {ar.state}}
		http.Redirect(w, r, appendQuery(ar.redirect, v), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only code")
	case ar.challenge == "" || q.Get("code_challenge_method") != "S256":
		fail("invalid_request", "PKCE S256 is required")
	case !slices.Contains(strings.Fields(ar.scope), "openid"):
		fail("invalid_scope", "openid is required")
	default:
		id := random(16)
		s.mu.Lock()
		s.authReqs[id] = ar
		s.mu.Unlock()
		type item struct {
			Pro  *Professional
			Link string
		}
		var data struct {
			Pros []item
			Deny string
		}
		for i := range s.o.Professionals {
			p := &s.o.Professionals[i]
			data.Pros = append(data.Pros, item{p, "/wallet/auth/login?" +
				url.Values{"req": {id}, "pro": {p.NationalID}}.Encode()})
		}
		data.Deny = "/wallet/auth/login?" + url.Values{"req": {id}, "deny": {"1"}}.Encode()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = loginPage.Execute(w, data)
	}
}

// login is the click on a professional: it redirects to the client with a code.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	ar := s.authReqs[q.Get("req")]
	delete(s.authReqs, q.Get("req"))
	s.mu.Unlock()
	if ar == nil || s.now().Sub(ar.created) > 10*time.Minute {
		http.Error(w, "demande inconnue ou expirée", http.StatusBadRequest)
		return
	}
	if q.Get("deny") != "" {
		v := url.Values{"error": {"access_denied"}, "state": {ar.state}}
		http.Redirect(w, r, appendQuery(ar.redirect, v), http.StatusFound)
		return
	}
	pro := s.professional(q.Get("pro"))
	if pro == nil {
		http.Error(w, "professionnel inconnu", http.StatusBadRequest)
		return
	}
	code := random(24)
	s.mu.Lock()
	s.codes[code] = &grant{pro: pro, nonce: ar.nonce, challenge: ar.challenge, redirect: ar.redirect,
		scope: ar.scope, acr: ar.acr, expires: s.now().Add(time.Minute)}
	s.mu.Unlock()
	s.o.Logger.Info("pscemu login", "pro", pro.NationalID)
	http.Redirect(w, r, appendQuery(ar.redirect, url.Values{"code": {code}, "state": {ar.state}}),
		http.StatusFound)
}

func appendQuery(u string, v url.Values) string {
	if strings.Contains(u, "?") {
		return u + "&" + v.Encode()
	}
	return u + "?" + v.Encode()
}
