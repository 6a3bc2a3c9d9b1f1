package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/psc"
	"github.com/mssante/mssante/internal/pscemu"
)

// fakeClock is a settable clock shared by the server and the holders.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// tokenRecorder is an HTTP transport that keeps every token PSC issues, so that tests can look
// for them where they must not be (ECO.1.2.5).
type tokenRecorder struct {
	mu     sync.Mutex
	tokens [][]byte
}

func (rt *tokenRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/token") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var v map[string]any
	if json.Unmarshal(body, &v) == nil {
		rt.mu.Lock()
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			if s, ok := v[k].(string); ok && s != "" {
				rt.tokens = append(rt.tokens, []byte(s))
			}
		}
		rt.mu.Unlock()
	}
	return resp, nil
}

func (rt *tokenRecorder) all() [][]byte {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slicesClone(rt.tokens)
}

func slicesClone(b [][]byte) [][]byte { return append([][]byte(nil), b...) }

// env is one test world: the PSC emulator, the server and the captured logs.
type env struct {
	emu    *pscemu.Server
	srv    *Server
	ts     *httptest.Server
	logs   *syncBuffer
	tokens *tokenRecorder
	clock  *fakeClock // nil: real time
}

type envOptions struct {
	emu    pscemu.Options
	server Options
	clock  bool // inject a fake clock in the server and the holders
}

// newEnv starts the emulator and the server on 127.0.0.1.
func newEnv(t testing.TB, eo envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{logs: &syncBuffer{}, tokens: &tokenRecorder{}}
	if eo.emu.ClientSecret == "" {
		eo.emu.ClientSecret = "secret-de-test"
	}
	if eo.clock {
		e.clock = &fakeClock{t: time.Now().Truncate(time.Second)}
		eo.emu.Now = e.clock.Now
	}
	emu, err := pscemu.Start(ctx, &eo.emu)
	if err != nil {
		t.Fatal(err)
	}
	e.emu = emu
	var handler http.Handler = http.NotFoundHandler()
	e.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(e.ts.Close)
	cfg := psc.Config{Issuer: emu.Issuer, DiscoveryURL: emu.DiscoveryURL(), ClientID: emu.ClientID(),
		ClientSecret: []byte(eo.emu.ClientSecret), RedirectURL: e.ts.URL + "/auth/callback",
		HTTPClient: &http.Client{Transport: e.tokens, Timeout: 10 * time.Second}}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := eo.server
	if e.clock != nil {
		cfg.Now, o.Now = e.clock.Now, e.clock.Now
	}
	client, err := psc.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	o.PSC, o.Logger = client, logger
	if o.Mailboxes == nil {
		o.Mailboxes = emulatorMailboxes(emu)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e.srv = srv
	handler = srv.Handler()
	return e
}

// emulatorMailboxes gives the mailboxes of the emulator's professionals (the Annuaire's role).
func emulatorMailboxes(emu *pscemu.Server) func(context.Context, *psc.UserInfo) ([]string, error) {
	return func(_ context.Context, u *psc.UserInfo) ([]string, error) {
		for _, p := range pscemu.DefaultProfessionals {
			if p.NationalID == u.SubjectNameID {
				return p.Mailboxes, nil
			}
		}
		return nil, nil
	}
}

// browser returns an HTTP client with a cookie jar that follows redirects.
func browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

var loginLink = regexp.MustCompile(`class="login" href="([^"]+)"`)

// browserLogin runs the redirect login with the browser client, clicking the n-th professional of
// the emulator's login page. It returns the final page.
func (e *env) browserLogin(t testing.TB, c *http.Client, n int) string {
	t.Helper()
	page := get(t, c, e.ts.URL+"/auth/login", http.StatusOK)
	m := loginLink.FindAllStringSubmatch(page, -1)
	if len(m) <= n {
		t.Fatalf("emulator login page has %d professionals, want > %d:\n%s", len(m), n, page)
	}
	link := strings.ReplaceAll(m[n][1], "&amp;", "&")
	return get(t, c, e.emu.URL+link, http.StatusOK)
}

func get(t testing.TB, c *http.Client, url string, want int) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/html")
	return string(do(t, c, req, want))
}

func do(t testing.TB, c *http.Client, req *http.Request, want int) []byte {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, want, body)
	}
	return body
}

// apiGet sends a JSON GET, with a bearer handle when not empty, and decodes the answer into v.
func apiGet(t testing.TB, c *http.Client, url, bearer string, want int, v any) http.Header {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s = %d, want %d: %s", req.URL.Path, resp.StatusCode, want, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", req.URL.Path, err, body)
		}
	}
	return resp.Header
}

// apiPost posts a JSON body.
func apiPost(t testing.TB, c *http.Client, url, bearer string, in any, want int, v any) {
	t.Helper()
	data, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	body := do(t, c, req, want)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("POST %s: %v: %s", req.URL.Path, err, body)
		}
	}
}

// agentLogin runs a CIBA login as a thick client and returns the session handle.
func (e *env) agentLogin(t testing.TB, nationalID string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	var start cibaStartAnswer
	apiPost(t, c, e.ts.URL+"/auth/ciba/start", "", map[string]string{"national_id": nationalID,
		"channel": "MOBILE", "client": "agent"}, http.StatusOK, &start)
	e.approve(t, nationalID, start.BindingMessage)
	for i := 0; i < 50; i++ {
		var poll cibaPollAnswer
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/auth/ciba/poll", nil)
		req.Header.Set("Authorization", "Bearer "+start.Handle)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&poll)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		switch poll.Status {
		case "ok":
			return poll.Session
		case "pending":
			if e.clock != nil {
				e.clock.Add(time.Duration(poll.Interval) * time.Second)
			} else {
				time.Sleep(time.Duration(poll.Interval) * time.Second)
			}
		default:
			t.Fatalf("ciba poll: %+v", poll)
		}
	}
	t.Fatal("ciba poll: still pending")
	return ""
}

// approve approves the emulator's pending CIBA request of nationalID, checking the binding message.
func (e *env) approve(t testing.TB, nationalID, binding string) {
	t.Helper()
	for _, p := range e.emu.Pending() {
		if p.NationalID == nationalID {
			if p.BindingMessage != binding {
				t.Fatalf("binding message at PSC %q, shown %q", p.BindingMessage, binding)
			}
			if err := e.emu.Approve(p.AuthReqID); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no pending CIBA request for %s", nationalID)
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
