package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/pscemu"
	"github.com/mssante/mssante/internal/store"
)

// ECO.1.2.1: a professional logs in with Pro Santé Connect by redirect (code + PKCE); /api/v1/me
// answers 401 before and the professional after.
func TestLogin_redirectEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := browser(t)
	var unauth apiError
	apiGet(t, c, e.ts.URL+"/api/v1/me", "", http.StatusUnauthorized, &unauth)
	if unauth.Error != "unauthenticated" || unauth.Message == "" {
		t.Fatalf("401 body = %+v", unauth)
	}
	want := pscemu.DefaultProfessionals[1]
	home := e.browserLogin(t, c, 1)
	if !strings.Contains(home, want.FamilyName) || !strings.Contains(home, "Se déconnecter") {
		t.Fatalf("home page after login does not show the professional:\n%s", home)
	}
	var me meAnswer
	apiGet(t, c, e.ts.URL+"/api/v1/me", "", http.StatusOK, &me)
	if me.NationalID != want.NationalID || me.FamilyName != want.FamilyName || me.GivenName != want.GivenName ||
		strings.Join(me.Mailboxes, ",") != strings.Join(want.Mailboxes, ",") || me.AuthMethod != "code" {
		t.Fatalf("me = %+v, want %+v", me, want)
	}
	if me.Session.Kind != "cookie" || !me.TokenExpiresAt.After(time.Now()) {
		t.Fatalf("me.session = %+v, token expiry %v", me.Session, me.TokenExpiresAt)
	}
	// A browser session never gets a PSC token.
	apiGet(t, c, e.ts.URL+"/api/v1/mailboxes/"+want.Mailboxes[0]+"/token", "", http.StatusForbidden, nil)
}

// A callback without the login's state is refused (the state binds the callback to the session).
func TestLogin_callbackWrongStateRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := browser(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get(t, c, e.ts.URL+"/auth/login", http.StatusFound)
	page := get(t, c, e.ts.URL+"/auth/callback?code=abc&state=forged", http.StatusForbidden)
	if !strings.Contains(page, "échoué") {
		t.Fatalf("error page not in French:\n%s", page)
	}
	apiGet(t, c, e.ts.URL+"/api/v1/me", "", http.StatusUnauthorized, nil)
}

// Cookie flags: HttpOnly, SameSite=Lax, Path=/, and under TLS Secure with the __Host- prefix; the
// id is 256 bits and is rotated at login.
func TestSession_cookieFlags(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		e := newEnv(t, envOptions{server: Options{Secure: secure}})
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(e.ts.URL + "/auth/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cookies := resp.Cookies()
		if len(cookies) != 1 {
			t.Fatalf("secure=%t: %d cookies", secure, len(cookies))
		}
		ck := cookies[0]
		wantName := "mssante_session"
		if secure {
			wantName = "__Host-mssante_session"
		}
		raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
		if ck.Name != wantName || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" ||
			ck.Secure != secure || ck.Domain != "" || ck.MaxAge != 0 || err != nil || len(raw) != 32 {
			t.Errorf("secure=%t: cookie %s", secure, resp.Header.Get("Set-Cookie"))
		}
	}
	// Rotation: the cookie after login differs from the pre-login one.
	e := newEnv(t, envOptions{})
	c := browser(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/auth/login", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	before := resp.Cookies()[0].Value
	c.CheckRedirect = nil
	page := get(t, c, resp.Header.Get("Location"), http.StatusOK)
	link := strings.ReplaceAll(loginLink.FindStringSubmatch(page)[1], "&amp;", "&")
	get(t, c, e.emu.URL+link, http.StatusOK)
	u := e.ts.URL + "/"
	for _, ck := range c.Jar.Cookies(mustURL(t, u)) {
		if ck.Name == "mssante_session" && ck.Value == before {
			t.Fatal("session id not rotated at login")
		}
	}
	if s := e.srv.sessions.get(before); s != nil {
		t.Fatal("pre-login session id still valid after login")
	}
}

// CSRF: a cross-site POST with the session cookie is refused; a same-origin one passes.
func TestCSRF_crossSitePostRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := browser(t)
	e.browserLogin(t, c, 0)
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://attaquant.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/auth/logout", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		var body apiError
		if err := json.Unmarshal(do(t, c, req, http.StatusForbidden), &body); err != nil || body.Error != "cross_origin" {
			t.Fatalf("%v: body %+v, err %v", h, body, err)
		}
		apiGet(t, c, e.ts.URL+"/api/v1/me", "", http.StatusOK, nil) // still logged in
	}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/auth/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", e.ts.URL)
	do(t, c, req, http.StatusOK)
	apiGet(t, c, e.ts.URL+"/api/v1/me", "", http.StatusUnauthorized, nil)
}

// ECO.1.2.1: CIBA login of a thick client (start, approval on the device, poll); the token
// endpoint gives the current PSC access token, not cacheable, for the session's mailboxes only.
func TestCIBA_agentTokenEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	pro := pscemu.DefaultProfessionals[0]
	handle := e.agentLogin(t, pro.NationalID)
	c := &http.Client{Timeout: 10 * time.Second}
	var me meAnswer
	apiGet(t, c, e.ts.URL+"/api/v1/me", handle, http.StatusOK, &me)
	if me.NationalID != pro.NationalID || me.AuthMethod != "ciba" || me.Session.Kind != "bearer" {
		t.Fatalf("me = %+v", me)
	}
	var tok tokenAnswer
	h := apiGet(t, c, e.ts.URL+"/api/v1/mailboxes/"+pro.Mailboxes[0]+"/token", handle, http.StatusOK, &tok)
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", h.Get("Cache-Control"))
	}
	issued := e.tokens.all()
	if tok.AccessToken == "" || !bytes.Equal([]byte(tok.AccessToken), issued[0]) || tok.TokenType != "Bearer" ||
		!tok.ExpiresAt.After(time.Now()) {
		t.Fatalf("token answer %+v is not the access token PSC issued", tok.ExpiresAt)
	}
	if claims := jwtClaims(t, tok.AccessToken); claims["SubjectNameID"] != pro.NationalID {
		t.Fatalf("token of %v, want %s", claims["SubjectNameID"], pro.NationalID)
	}
	apiGet(t, c, e.ts.URL+"/api/v1/mailboxes/autre@test.mssante.fr/token", handle, http.StatusNotFound, nil)
	apiGet(t, c, e.ts.URL+"/api/v1/mailboxes/"+pro.Mailboxes[0]+"/token", "", http.StatusUnauthorized, nil)
	apiGet(t, c, e.ts.URL+"/api/v1/mailboxes/"+pro.Mailboxes[0]+"/token", strings.Repeat("A", 43), http.StatusUnauthorized, nil)
}

// CIBA refusals: the professional denies, or does not answer before the request expires.
func TestCIBA_deniedAndExpired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{clock: true})
	c := &http.Client{Timeout: 10 * time.Second}
	pro := pscemu.DefaultProfessionals[0]
	start := func() cibaStartAnswer {
		var a cibaStartAnswer
		apiPost(t, c, e.ts.URL+"/auth/ciba/start", "", map[string]string{"national_id": pro.NationalID,
			"client": "agent"}, http.StatusOK, &a)
		if len(a.BindingMessage) != 2 || a.Handle == "" || a.Interval < 1 {
			t.Fatalf("start = %+v", a)
		}
		return a
	}
	a := start()
	for _, p := range e.emu.Pending() {
		if err := e.emu.Deny(p.AuthReqID); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Add(time.Duration(a.Interval) * time.Second)
	var poll cibaPollAnswer
	apiPost(t, c, e.ts.URL+"/auth/ciba/poll", a.Handle, nil, http.StatusForbidden, &poll)
	if poll.Status != "denied" || poll.Session != "" {
		t.Fatalf("poll after deny = %+v", poll)
	}
	a = start()
	apiPost(t, c, e.ts.URL+"/auth/ciba/poll", a.Handle, nil, http.StatusAccepted, &poll)
	if poll.Status != "pending" {
		t.Fatalf("poll before interval = %+v", poll)
	}
	e.clock.Add(time.Duration(a.ExpiresIn+1) * time.Second)
	apiPost(t, c, e.ts.URL+"/auth/ciba/poll", a.Handle, nil, http.StatusForbidden, &poll)
	if poll.Status != "expired" {
		t.Fatalf("poll after expiry = %+v", poll)
	}
	apiGet(t, c, e.ts.URL+"/api/v1/me", a.Handle, http.StatusUnauthorized, nil)
}

// Idle and absolute expiry with an injected clock; an open event stream is told session-ended.
func TestSession_idleAndAbsoluteExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{clock: true, server: Options{IdleTimeout: 30 * time.Minute, MaxLifetime: 2 * time.Hour},
		emu: pscemu.Options{AccessTTL: time.Hour, RefreshTTL: 3 * time.Hour, SessionMax: 4 * time.Hour}})
	c := &http.Client{Timeout: 10 * time.Second}
	pro := pscemu.DefaultProfessionals[0]

	handle := e.agentLogin(t, pro.NationalID)
	events := e.subscribe(t, handle)
	expectEvent(t, events, "ready")
	e.clock.Add(29 * time.Minute)
	apiGet(t, c, e.ts.URL+"/api/v1/me", handle, http.StatusOK, nil) // use resets the idle timer
	e.clock.Add(29 * time.Minute)
	apiGet(t, c, e.ts.URL+"/api/v1/me", handle, http.StatusOK, nil)
	e.clock.Add(31 * time.Minute)
	if n := e.srv.Sweep(); n != 1 {
		t.Fatalf("Sweep ended %d sessions, want 1", n)
	}
	if ev := expectEvent(t, events, "session-ended"); ev.Reason != reasonIdle {
		t.Fatalf("session-ended reason %q, want %q", ev.Reason, reasonIdle)
	}
	apiGet(t, c, e.ts.URL+"/api/v1/me", handle, http.StatusUnauthorized, nil)

	handle = e.agentLogin(t, pro.NationalID)
	for i := 0; i < 5; i++ { // active every 25 min: 125 min > MaxLifetime
		e.clock.Add(25 * time.Minute)
		want := http.StatusOK
		if i == 4 {
			want = http.StatusUnauthorized
		}
		apiGet(t, c, e.ts.URL+"/api/v1/me", handle, want, nil)
	}
	if !bytes.Contains(e.logs.Bytes(), []byte(`"reason":"`+reasonMaxLife+`"`)) {
		t.Fatalf("no max-lifetime end in the logs:\n%s", e.logs.Bytes())
	}
}

// ECO.1.2.6, ECO.1.2.5: the event stream announces token-renewed, then session-ended when PSC
// refuses the refresh token; afterwards no token is given, and neither the logs nor the data
// directory (audit trail) hold any token PSC issued.
func TestEvents_renewedThenEndedNoTokenAnywhere(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	db, err := store.Open(context.Background(), store.DefaultURL(dataDir), audit.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e := newEnv(t, envOptions{server: Options{Audit: audit.New(db, nil)},
		emu: pscemu.Options{AccessTTL: 6 * time.Second, RefreshTTL: time.Minute}}) // psc.Holder.Token refreshes within 5 s of expiry
	c := &http.Client{Timeout: 10 * time.Second}
	pro := pscemu.DefaultProfessionals[0]
	handle := e.agentLogin(t, pro.NationalID)
	events := e.subscribe(t, handle)
	ready := expectEvent(t, events, "ready")
	renewed := expectEvent(t, events, "token-renewed")
	if !renewed.ExpiresAt.After(ready.ExpiresAt) {
		t.Fatalf("renewed expiry %v not after %v", renewed.ExpiresAt, ready.ExpiresAt)
	}
	var tok tokenAnswer
	apiGet(t, c, e.ts.URL+"/api/v1/mailboxes/"+pro.Mailboxes[0]+"/token", handle, http.StatusOK, &tok)
	if !tok.ExpiresAt.Equal(renewed.ExpiresAt) && !tok.ExpiresAt.After(renewed.ExpiresAt) {
		t.Fatalf("token endpoint gives an older token (%v < %v)", tok.ExpiresAt, renewed.ExpiresAt)
	}
	if n := e.emu.EndSessions(pro.NationalID); n == 0 {
		t.Fatal("emulator ended no session")
	}
	ended := expectEventSkipping(t, events, "session-ended", "token-renewed")
	if ended.Reason != "refresh-refused" {
		t.Fatalf("session-ended reason %q, want refresh-refused", ended.Reason)
	}
	apiGet(t, c, e.ts.URL+"/api/v1/mailboxes/"+pro.Mailboxes[0]+"/token", handle, http.StatusUnauthorized, nil)
	apiGet(t, c, e.ts.URL+"/api/v1/me", handle, http.StatusUnauthorized, nil)

	// ECO.1.2.5: scan.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	issued := e.tokens.all()
	if len(issued) < 4 {
		t.Fatalf("only %d tokens recorded", len(issued))
	}
	logs := e.logs.Bytes()
	if !bytes.Contains(logs, []byte("professional session ended")) {
		t.Fatalf("logs do not record the end of the session:\n%s", logs)
	}
	scanForTokens(t, "logs", logs, issued)
	scanForTokens(t, "session handle in logs", logs, [][]byte{[]byte(handle)})
	err = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanForTokens(t, path, b, issued)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Logout by a thick client ends the session at PSC too: a refresh with its token is refused.
func TestLogout_agentEndsSessionAtPSC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := &http.Client{Timeout: 10 * time.Second}
	pro := pscemu.DefaultProfessionals[1]
	handle := e.agentLogin(t, pro.NationalID)
	events := e.subscribe(t, handle)
	expectEvent(t, events, "ready")
	apiPost(t, c, e.ts.URL+"/auth/logout", handle, nil, http.StatusOK, nil)
	if ev := expectEvent(t, events, "session-ended"); ev.Reason != "logout" {
		t.Fatalf("reason %q, want logout", ev.Reason)
	}
	apiGet(t, c, e.ts.URL+"/api/v1/me", handle, http.StatusUnauthorized, nil)
	if n := e.emu.EndSessions(pro.NationalID); n != 0 {
		t.Fatalf("%d sessions still open at PSC after logout", n)
	}
}

func scanForTokens(t *testing.T, where string, data []byte, tokens [][]byte) {
	t.Helper()
	for _, tok := range tokens {
		if len(tok) >= 16 && bytes.Contains(data, tok) {
			t.Errorf("%s holds a token (%d bytes)", where, len(tok))
		}
		// Also a long fragment: the signature part of a JWT alone is a secret.
		if parts := bytes.Split(tok, []byte(".")); len(parts) == 3 && len(parts[2]) >= 32 &&
			bytes.Contains(data, parts[2]) {
			t.Errorf("%s holds a token signature", where)
		}
	}
}

// subscribe opens the event stream of a bearer session and returns its events.
func (e *env) subscribe(t testing.TB, handle string) <-chan streamEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+handle)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan streamEvent, 16)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var ev streamEvent
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev) != nil || ev.Kind != name {
					ev = streamEvent{Kind: "malformed:" + line}
				}
				ch <- ev
			}
		}
	}()
	return ch
}

func expectEvent(t *testing.T, ch <-chan streamEvent, kind string) streamEvent {
	t.Helper()
	return expectEventSkipping(t, ch, kind, "")
}

// expectEventSkipping waits for an event of kind, ignoring events of kind skip.
func expectEventSkipping(t *testing.T, ch <-chan streamEvent, kind, skip string) streamEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event stream closed, waiting for %s", kind)
			}
			if ev.Kind == kind {
				return ev
			}
			if ev.Kind != skip {
				t.Fatalf("event %q, want %q", ev.Kind, kind)
			}
		case <-timeout:
			t.Fatalf("no %s event within 10 s", kind)
		}
	}
}

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT (%d parts)", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The French pages: a browser logs in by CIBA with the login page's form, sees the binding
// message, and lands on the home page once approved.
func TestCIBA_browserForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := browser(t)
	home := get(t, c, e.ts.URL+"/", http.StatusOK)
	if !strings.Contains(home, "Se connecter avec Pro Santé Connect") || !strings.Contains(home, `name="national_id"`) {
		t.Fatalf("login page:\n%s", home)
	}
	pro := pscemu.DefaultProfessionals[0]
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/auth/ciba/start",
		strings.NewReader("national_id="+pro.NationalID+"&channel=CARD"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Origin", e.ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	page := string(do(t, c, req, http.StatusOK))
	pending := e.emu.Pending()
	if len(pending) != 1 || pending[0].Channel != "CARD" || !strings.Contains(page, `class="code">`+pending[0].BindingMessage+"<") {
		t.Fatalf("pending %+v, page:\n%s", pending, page)
	}
	if !strings.Contains(page, `http-equiv="refresh"`) {
		t.Fatal("pending page does not refresh itself")
	}
	e.approve(t, pro.NationalID, pending[0].BindingMessage)
	var final string
	for i := 0; i < 20 && !strings.Contains(final, "Se déconnecter"); i++ {
		time.Sleep(time.Second)
		final = get(t, c, e.ts.URL+"/auth/ciba/poll", http.StatusOK)
	}
	if !strings.Contains(final, pro.FamilyName) {
		t.Fatalf("page after approval:\n%s", final)
	}
	// Bad national id: a French error page.
	req, _ = http.NewRequest(http.MethodPost, e.ts.URL+"/auth/ciba/start", strings.NewReader("national_id=<x>"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	if page := string(do(t, c, req, http.StatusBadRequest)); !strings.Contains(page, "Identifiant national invalide") {
		t.Fatalf("error page:\n%s", page)
	}
}

// An unfinished login does not hold memory: it ends after PendingTimeout.
func TestSession_pendingLoginTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{clock: true, server: Options{PendingTimeout: 5 * time.Minute}})
	c := &http.Client{Timeout: 10 * time.Second}
	var a cibaStartAnswer
	apiPost(t, c, e.ts.URL+"/auth/ciba/start", "", map[string]string{"national_id": pscemu.DefaultProfessionals[0].NationalID,
		"client": "agent"}, http.StatusOK, &a)
	e.clock.Add(5 * time.Minute)
	if n := e.srv.Sweep(); n != 1 {
		t.Fatalf("Sweep ended %d sessions, want 1", n)
	}
	apiPost(t, c, e.ts.URL+"/auth/ciba/poll", a.Handle, nil, http.StatusUnauthorized, nil)
}

// Browser login on behalf of a thick client: the client gets a user code, the professional types
// it on /auth/device and logs in at PSC in the browser; the session goes to the client, the
// browser stays logged out, and the code is single use.
func TestDevice_browserLoginForThickClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := &http.Client{Timeout: 10 * time.Second}
	var start deviceStartAnswer
	apiPost(t, c, e.ts.URL+"/auth/device/start", "", nil, http.StatusOK, &start)
	if len(start.UserCode) != 9 || start.VerificationURL != e.ts.URL+"/auth/device" || start.Handle == "" {
		t.Fatalf("start = %+v", start)
	}
	var poll cibaPollAnswer
	apiPost(t, c, e.ts.URL+"/auth/device/poll", start.Handle, nil, http.StatusAccepted, &poll)
	if poll.Status != "pending" {
		t.Fatalf("poll before login = %+v", poll)
	}

	b := browser(t)
	if page := get(t, b, start.VerificationURL, http.StatusOK); !strings.Contains(page, `name="user_code"`) {
		t.Fatalf("device page:\n%s", page)
	}
	typed := strings.ToLower(strings.ReplaceAll(start.UserCode, "-", " "))
	postCode := func(code string, want int) string {
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/auth/device", strings.NewReader("user_code="+code))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		return string(do(t, b, req, want))
	}
	if page := postCode("ZZZZ-ZZZZ", http.StatusBadRequest); !strings.Contains(page, "Code inconnu") {
		t.Fatalf("wrong code page:\n%s", page)
	}
	loginPage := postCode(typed, http.StatusOK) // followed to the PSC login page
	m := loginLink.FindStringSubmatch(loginPage)
	if m == nil {
		t.Fatalf("no PSC login page after the code:\n%s", loginPage)
	}
	done := get(t, b, e.emu.URL+strings.ReplaceAll(m[1], "&amp;", "&"), http.StatusOK)
	if !strings.Contains(done, "Connexion réussie") {
		t.Fatalf("page after PSC login:\n%s", done)
	}
	apiGet(t, b, e.ts.URL+"/api/v1/me", "", http.StatusUnauthorized, nil) // the browser is not logged in
	if page := postCode(start.UserCode, http.StatusBadRequest); !strings.Contains(page, "Code inconnu") {
		t.Fatal("user code accepted twice")
	}

	apiPost(t, c, e.ts.URL+"/auth/device/poll", start.Handle, nil, http.StatusOK, &poll)
	if poll.Status != "ok" || poll.Session == "" || poll.Me == nil {
		t.Fatalf("poll after login = %+v", poll)
	}
	apiGet(t, c, e.ts.URL+"/api/v1/me", start.Handle, http.StatusUnauthorized, nil) // replaced
	var me meAnswer
	apiGet(t, c, e.ts.URL+"/api/v1/me", poll.Session, http.StatusOK, &me)
	pro := pscemu.DefaultProfessionals[0]
	if me.NationalID != pro.NationalID || me.Session.Kind != "bearer" || me.AuthMethod != "code" {
		t.Fatalf("me = %+v", me)
	}
	var tok tokenAnswer
	apiGet(t, c, e.ts.URL+"/api/v1/mailboxes/"+pro.Mailboxes[0]+"/token", poll.Session, http.StatusOK, &tok)
	if jwtClaims(t, tok.AccessToken)["SubjectNameID"] != pro.NationalID {
		t.Fatal("token of another professional")
	}
}
