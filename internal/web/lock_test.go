package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The idle lock is enforced by the server: a session idle longer than Options.LockAfter (10 min
// by default) gets the lock page for every page and action, whatever the browser runs, until the
// professional logs in again; the script's background refreshes do not keep it unlocked.
func TestIdleLock_serverSide(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		if w := hs.do("martin", "GET", "/app/inbox", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "Avis cardiologique") {
			t.Fatalf("inbox before the lock: %d", w.Code)
		}
		token := hs.csrf("martin")
		hs.advance(9 * time.Minute)
		if w := hs.do("martin", "GET", "/app/inbox", nil); w.Code != 200 {
			t.Fatalf("inbox after 9 min idle: %d, want 200", w.Code)
		}
		// Background refreshes of the open page for 11 minutes: not activity.
		for i := range 11 {
			hs.advance(time.Minute)
			w := hs.bg("martin", "/app/inbox")
			if i < 9 && w.Code != 200 {
				t.Fatalf("background refresh %d min after the last page: %d", i+1, w.Code)
			}
		}
		// 11 minutes since the last page: every page and action answers the lock page.
		for _, target := range []string{"/app/inbox", "/app/", "/app/compose", "/app/patients", "/app/mailboxes",
			"/app/mail/" + url.PathEscape(drMartin) + "/1?folder=INBOX"} {
			w := hs.do("martin", "GET", target, nil)
			b := w.Body.String()
			if w.Code != http.StatusLocked || !strings.Contains(b, "Session verrouillée") || !strings.Contains(b, `href="/auth/login"`) {
				t.Errorf("GET %s when locked: %d\n%s", target, w.Code, b)
			}
			for _, leak := range []string{"Avis cardiologique", "PETIT", drMartin} {
				if strings.Contains(b, leak) {
					t.Errorf("GET %s when locked shows %q", target, leak)
				}
			}
		}
		sent := len(hs.op.sent)
		w := hs.do("martin", "POST", "/app/compose", url.Values{"csrf": {token}, "from": {drMartin}, "to": {drDupont},
			"subject": {"x"}, "text": {"x"}, "action": {"send"}})
		if w.Code != http.StatusLocked || len(hs.op.sent) != sent {
			t.Errorf("send when locked: %d, %d sent", w.Code, len(hs.op.sent)-sent)
		}
		if w := hs.bg("martin", "/app/inbox"); w.Code != http.StatusLocked || strings.Contains(w.Body.String(), "Avis") {
			t.Errorf("background refresh when locked: %d", w.Code)
		}
		// Activity does not unlock it: it stays locked.
		if w := hs.do("martin", "GET", "/app/inbox", nil); w.Code != http.StatusLocked {
			t.Errorf("second page when locked: %d", w.Code)
		}
		// Another professional's session is not locked by Martin's idleness.
		if w := hs.do("dupont", "GET", "/app/inbox", nil); w.Code != 200 {
			t.Errorf("Dupont's inbox: %d", w.Code)
		}
		// A new login (a new session) opens the app again.
		s := *hs.sess["martin"]
		s.Key, s.Done = "k-martin-2", make(chan struct{})
		hs.sess["martin2"] = &s
		if w := hs.do("martin2", "GET", "/app/inbox", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "Avis cardiologique") {
			t.Errorf("inbox after a new login: %d", w.Code)
		}
	})
}

func TestFrenchDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{10 * time.Minute: "10 min", 90 * time.Minute: "1 h 30 min", 45 * time.Second: "45 s", 0: "0 s"} {
		if got := frenchDuration(d); got != want {
			t.Errorf("frenchDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
