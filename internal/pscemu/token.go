package pscemu

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// session is one login of a professional; refresh tokens and access tokens belong to it.
type session struct {
	id         string
	pro        *Professional
	start      time.Time
	scope, acr string
	refreshExp time.Time
	ended      bool
}

func (s *Server) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	if msg := s.clientAuth(r); msg != "" {
		oauthErr(w, http.StatusUnauthorized, "invalid_client", msg)
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code":
		s.codeGrant(w, r)
	case "refresh_token":
		s.refreshGrant(w, r)
	case "urn:openid:params:grant-type:ciba":
		s.cibaGrant(w, r)
	default:
		oauthErr(w, http.StatusBadRequest, "unsupported_grant_type", gt)
	}
}

func (s *Server) codeGrant(w http.ResponseWriter, r *http.Request) {
	code := r.PostForm.Get("code")
	s.mu.Lock()
	g := s.codes[code]
	delete(s.codes, code) // single use
	s.mu.Unlock()
	if g == nil || s.now().After(g.expires) {
		oauthErr(w, http.StatusBadRequest, "invalid_grant", "unknown or expired code")
		return
	}
	if r.PostForm.Get("redirect_uri") != g.redirect {
		oauthErr(w, http.StatusBadRequest, "invalid_grant", "redirect_uri mismatch")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1 {
		oauthErr(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}
	s.issue(w, s.newSession(g.pro, g.scope, g.acr), g.nonce)
}

func (s *Server) newSession(p *Professional, scope, acr string) *session {
	if acr == "" {
		acr = "eidas1"
	}
	ss := &session{id: random(16), pro: p, start: s.now(), scope: scope, acr: acr}
	s.mu.Lock()
	s.sessions[ss.id] = ss
	s.mu.Unlock()
	return ss
}

func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request) {
	rt := r.PostForm.Get("refresh_token")
	now := s.now()
	s.mu.Lock()
	sid, ok := s.refresh[rt]
	delete(s.refresh, rt) // rotation: a refresh token is used once
	ss := s.sessions[sid]
	s.mu.Unlock()
	switch {
	case !ok || ss == nil:
		oauthErr(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
	case ss.ended:
		oauthErr(w, http.StatusBadRequest, "invalid_grant", "Session not active")
	case !now.Before(ss.refreshExp):
		oauthErr(w, http.StatusBadRequest, "invalid_grant", "Token is not active")
	default:
		s.o.Logger.Info("pscemu refresh", "pro", ss.pro.NationalID)
		s.issue(w, ss, "")
	}
}

// issue answers a token request with new access, refresh and ID tokens for the session.
func (s *Server) issue(w http.ResponseWriter, ss *session, nonce string) {
	now := s.now()
	access, err := s.sign(s.accessClaims(ss, now))
	if err != nil {
		oauthErr(w, http.StatusInternalServerError, "server_error", "signing")
		return
	}
	idc := map[string]any{"iss": s.Issuer, "sub": subject(ss.pro), "aud": s.o.ClientID,
		"azp": s.o.ClientID, "iat": now.Unix(), "exp": now.Add(s.o.AccessTTL).Unix(),
		"auth_time": ss.start.Unix(), "acr": ss.acr, "sid": ss.id, "typ": "ID",
		"SubjectNameID": ss.pro.NationalID, "preferred_username": ss.pro.NationalID,
		"given_name": ss.pro.GivenName, "family_name": ss.pro.FamilyName}
	if nonce != "" {
		idc["nonce"] = nonce
	}
	idt, err := s.sign(idc)
	if err != nil {
		oauthErr(w, http.StatusInternalServerError, "server_error", "signing")
		return
	}
	rt := random(32)
	s.mu.Lock()
	ss.refreshExp = min64(now.Add(s.o.RefreshTTL), ss.start.Add(s.o.SessionMax))
	s.refresh[rt] = ss.id
	refreshIn := ss.refreshExp.Sub(now)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": int64(s.o.AccessTTL / time.Second),
		"refresh_token": rt, "refresh_expires_in": int64(refreshIn / time.Second),
		"id_token": idt, "scope": ss.scope, "session_state": ss.id, "not-before-policy": 0,
	})
}

func min64(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func subject(p *Professional) string { return "f:00000000-0000-0000-0000-000000000000:" + p.NationalID }

func (s *Server) accessClaims(ss *session, now time.Time) map[string]any {
	c := map[string]any{"iss": s.Issuer, "sub": subject(ss.pro), "aud": s.o.ClientID, "azp": s.o.ClientID,
		"typ": "Bearer", "iat": now.Unix(), "exp": now.Add(s.o.AccessTTL).Unix(), "jti": random(12),
		"auth_time": ss.start.Unix(), "acr": ss.acr, "sid": ss.id, "scope": ss.scope,
		"SubjectNameID": ss.pro.NationalID, "preferred_username": ss.pro.NationalID,
		"given_name": ss.pro.GivenName, "family_name": ss.pro.FamilyName}
	if len(ss.pro.Mailboxes) > 0 {
		c["email"] = ss.pro.Mailboxes[0]
	}
	return c
}

func (s *Server) sign(claims map[string]any) (string, error) {
	return jwt.Signed(s.signer).Claims(claims).Serialize()
}

// verifyAccess checks an access token's signature and expiry and that its session lives.
func (s *Server) verifyAccess(raw string) (map[string]any, *session) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, nil
	}
	var std jwt.Claims
	var all map[string]any
	if tok.Claims(&s.o.Key.PublicKey, &std, &all) != nil {
		return nil, nil
	}
	if std.Validate(jwt.Expected{Issuer: s.Issuer, Time: s.now()}) != nil {
		return nil, nil
	}
	if t, _ := all["typ"].(string); t != "Bearer" {
		return nil, nil
	}
	sid, _ := all["sid"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[sid]
	if ss == nil || ss.ended {
		return nil, nil
	}
	return all, ss
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		oauthErr(w, http.StatusUnauthorized, "invalid_token", "missing bearer token")
		return
	}
	_, ss := s.verifyAccess(raw)
	if ss == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		oauthErr(w, http.StatusUnauthorized, "invalid_token", "token is not active")
		return
	}
	p := ss.pro
	prof := p.Profession
	if prof == "" {
		prof = "10"
	}
	u := map[string]any{"sub": subject(p), "SubjectNameID": p.NationalID, "preferred_username": p.NationalID,
		"given_name": p.GivenName, "family_name": p.FamilyName,
		"SubjectRole": []string{prof + "^1.2.250.1.213.1.1.5.5"},
		"otherIds":    []map[string]string{{"identifiant": strings.TrimPrefix(p.NationalID, "8"), "origine": "RPPS", "qualite": "1"}},
		"SubjectRefPro": map[string]any{"exercices": []map[string]any{{
			"codeProfession": prof, "nomDexercice": p.FamilyName, "prenomDexercice": p.GivenName,
			"activities": []map[string]string{{"raisonSocialeSite": "Cabinet de test", "identifiantTechniqueDeLaStructure": "R10000000000001"}},
		}}},
	}
	if len(p.Mailboxes) > 0 {
		u["email"] = p.Mailboxes[0]
	}
	writeJSON(w, http.StatusOK, u)
}

// introspect answers active and, for access tokens only, SubjectNameID (as PSC does).
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	if msg := s.clientAuth(r); msg != "" {
		oauthErr(w, http.StatusUnauthorized, "invalid_client", msg)
		return
	}
	tok := r.PostFormValue("token")
	if claims, _ := s.verifyAccess(tok); claims != nil {
		claims["active"] = true
		writeJSON(w, http.StatusOK, claims)
		return
	}
	now := s.now()
	s.mu.Lock()
	ss := s.sessions[s.refresh[tok]]
	s.mu.Unlock()
	if ss != nil && !ss.ended && now.Before(ss.refreshExp) {
		writeJSON(w, http.StatusOK, map[string]any{"active": true, "typ": "Refresh", "sub": subject(ss.pro),
			"sid": ss.id, "azp": s.o.ClientID, "iss": s.Issuer, "exp": ss.refreshExp.Unix()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"active": false})
}

// logout ends the session of a refresh token (back-channel, POST) or of an ID token hint (browser).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		if msg := s.clientAuth(r); msg != "" {
			oauthErr(w, http.StatusUnauthorized, "invalid_client", msg)
			return
		}
		if !s.endRefresh(r.PostFormValue("refresh_token")) {
			oauthErr(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	q := r.URL.Query()
	if tok, err := jwt.ParseSigned(q.Get("id_token_hint"), []jose.SignatureAlgorithm{jose.RS256}); err == nil {
		var c struct {
			SID string `json:"sid"`
		}
		if tok.Claims(&s.o.Key.PublicKey, &c) == nil {
			s.endSession(c.SID)
		}
	}
	if u := q.Get("post_logout_redirect_uri"); u != "" {
		http.Redirect(w, r, u, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte("<!DOCTYPE html><p>Vous êtes déconnecté de Pro Santé Connect (émulateur).</p>"))
}

// revoke (RFC 7009): revoking a refresh token ends its session; unknown tokens are ignored.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if msg := s.clientAuth(r); msg != "" {
		oauthErr(w, http.StatusUnauthorized, "invalid_client", msg)
		return
	}
	s.endRefresh(r.PostFormValue("token"))
	w.WriteHeader(http.StatusOK)
}

func (s *Server) endRefresh(rt string) bool {
	s.mu.Lock()
	sid, ok := s.refresh[rt]
	s.mu.Unlock()
	if ok {
		s.endSession(sid)
	}
	return ok
}

func (s *Server) endSession(sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.sessions[sid]; ss != nil {
		ss.ended = true
		s.o.Logger.Info("pscemu session ended", "pro", ss.pro.NationalID)
	}
	for rt, id := range s.refresh {
		if id == sid {
			delete(s.refresh, rt)
		}
	}
}

// EndSessions ends every session of a professional, as a PSC logout elsewhere or an
// administrative revocation would: their next refresh is refused. It returns how many ended.
func (s *Server) EndSessions(nationalID string) int {
	s.mu.Lock()
	var ids []string
	for id, ss := range s.sessions {
		if ss.pro.NationalID == nationalID && !ss.ended {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.endSession(id)
	}
	return len(ids)
}
