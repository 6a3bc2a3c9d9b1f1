package psc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// PollCIBA waits the interval between polls and adds 5 s at each slow_down.
func TestPollCIBA_honoursIntervalAndSlowDown(t *testing.T) {
	answers := []string{`{"error":"authorization_pending"}`, `{"error":"slow_down"}`,
		`{"error":"authorization_pending"}`, `{"access_token":"a.b.c","token_type":"Bearer","expires_in":120}`}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != GrantCIBA || r.PostForm.Get("auth_req_id") != "req-1" {
			t.Errorf("poll form %v", r.PostForm)
		}
		a := answers[0]
		answers = answers[1:]
		if strings.Contains(a, "error") {
			w.WriteHeader(http.StatusBadRequest)
		}
		_, _ = w.Write([]byte(a))
	}))
	defer srv.Close()
	var slept []time.Duration
	c := &Client{cfg: Config{Issuer: "https://x", ClientID: "c", ClientSecret: []byte("s")},
		meta: Metadata{TokenEndpoint: srv.URL},
		sleep: func(_ context.Context, d time.Duration) error {
			slept = append(slept, d)
			return nil
		}}
	a := &CIBAAuth{AuthReqID: "req-1", Interval: time.Second, Expires: time.Now().Add(time.Minute)}
	tok, err := c.PollCIBA(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if string(tok.Access) != "a.b.c" {
		t.Errorf("access %q", tok.Access)
	}
	want := []time.Duration{time.Second, time.Second, 6 * time.Second, 6 * time.Second}
	if len(slept) != len(want) {
		t.Fatalf("slept %v, want %v", slept, want)
	}
	for i := range want {
		if slept[i] != want[i] {
			t.Fatalf("slept %v, want %v", slept, want)
		}
	}
}

func TestParseTokenResponse_errorsCarryNoToken(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		body   string
		status int
		grant  string
		want   error
	}{
		{`{"error":"invalid_grant","error_description":"Session not active"}`, 400, "refresh_token", ErrRefreshRefused},
		{`{"error":"expired_token"}`, 400, GrantCIBA, ErrExpiredToken},
		{`{"error":"access_denied"}`, 400, GrantCIBA, ErrAccessDenied},
		{`{"access_token":"tok\"en","token_type":"Bearer"}`, 200, "authorization_code", nil},
		{`{"access_token":"SECRET","token_type":"mac"}`, 200, "authorization_code", nil},
		{`{"access_token":"SECRET","token_type":"Bearer","expires_in":-5}`, 200, "authorization_code", nil},
		{`<html>SECRET</html>`, 502, "refresh_token", nil},
	} {
		_, err := parseTokenResponse([]byte(tc.body), tc.status, tc.grant, now)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: error %v, want %v", tc.body, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: error shows the token: %v", tc.body, err)
		}
	}
	tok, err := parseTokenResponse([]byte(`{"access_token":"a.b.c","token_type":"Bearer"}`), 200, "refresh_token", now)
	if err != nil || !tok.Expiry.Equal(now.Add(time.Minute)) {
		t.Errorf("no expires_in: expiry %v, %v (want the 60 s default)", tok, err)
	}
	tok, err = parseTokenResponse([]byte(`{"access_token":"a.b.c","refresh_token":"r","token_type":"bearer","expires_in":120,"refresh_expires_in":350}`), 200, "refresh_token", now)
	if err != nil || string(tok.Refresh) != "r" || !tok.Expiry.Equal(now.Add(120*time.Second)) ||
		!tok.RefreshExpiry.Equal(now.Add(350*time.Second)) {
		t.Errorf("%v %v", tok, err)
	}
}

func FuzzParseTokenResponse(f *testing.F) {
	f.Add([]byte(`{"access_token":"a.b.c","refresh_token":"r","id_token":"i","token_type":"Bearer","expires_in":120,"refresh_expires_in":350}`), 200)
	f.Add([]byte(`{"error":"slow_down"}`), 400)
	f.Add([]byte(`{"access_token":"\u0041","token_type":"Bearer"}`), 200)
	f.Add([]byte(`{"access_token":null,"token_type":"Bearer","expires_in":9223372036854775807}`), 200)
	f.Add([]byte(`[]`), 200)
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		tok, err := parseTokenResponse(body, status, "refresh_token", time.Unix(0, 0))
		if err == nil && (len(tok.Access) == 0 || status != 200) {
			t.Fatalf("accepted %q (%d)", body, status)
		}
		if err == nil {
			tok.Zero()
			if tok.Access != nil {
				t.Fatal("Zero kept the access token")
			}
		}
	})
}
