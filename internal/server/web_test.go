package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The web app mounted at /app/ sees the browser session (identity, a token function that works
// in the process), a logged-in home page leads to it, and a thick client's bearer session is not a
// browser session (the token never reaches a browser, ECO.1.2.5).
func TestBrowserSession_app(t *testing.T) {
	var seen *BrowserSession
	var tokenErr error
	var e *env
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := e.srv.BrowserSession(r)
		if !ok {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		seen = s
		tok, err := s.Token(r.Context())
		tokenErr = err
		fmt.Fprintf(w, "app %s %s token:%v", s.Pro.NationalID, strings.Join(s.Pro.Mailboxes, ","), tok != "")
	})
	e = newEnv(t, envOptions{server: Options{App: app}})
	c := browser(t)
	if body := get(t, c, e.ts.URL+"/app/", http.StatusUnauthorized); !strings.Contains(body, "no session") {
		t.Fatalf("before login: %s", body)
	}
	body := e.browserLogin(t, c, 0) // the callback leads to / which leads to /app/
	if !strings.HasPrefix(body, "app ") || !strings.Contains(body, "token:true") || tokenErr != nil {
		t.Fatalf("after login: %q (%v)", body, tokenErr)
	}
	if seen == nil || len(seen.Key) != 64 || seen.Pro.NationalID == "" {
		t.Fatalf("session %+v", seen)
	}
	if strings.Contains(body, seen.Key) {
		t.Error("the session key reached the page")
	}
	// A bearer handle is not a browser session.
	handle := e.agentLogin(t, seen.Pro.NationalID)
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/app/", nil)
	req.Header.Set("Authorization", "Bearer "+handle)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bearer session on /app/: %d, want 401", resp.StatusCode)
	}
	// Logout ends it: Done is closed.
	select {
	case <-seen.Done:
		t.Fatal("session ended before logout")
	default:
	}
	req, _ = http.NewRequest(http.MethodPost, e.ts.URL+"/auth/logout", nil)
	do(t, c, req, http.StatusOK)
	select {
	case <-seen.Done:
	default:
		t.Error("Done not closed after logout")
	}
}
