package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/testkit"
)

// webSession logs in to the web app of serve at base as the professional nationalID through the
// PSC emulator's page (plain HTTP, no browser) and returns a client holding the session cookie.
func webSession(t *testing.T, base, nationalID string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.Get(base + "/auth/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var link string
	for _, m := range regexp.MustCompile(`class="login" href="([^"]+)"`).FindAllSubmatch(page, -1) {
		if l := strings.ReplaceAll(string(m[1]), "&amp;", "&"); strings.Contains(l, "pro="+nationalID) {
			link = l
		}
	}
	if link == "" {
		t.Fatalf("no login link for %s on the PSC page:\n%s", nationalID, page)
	}
	u, err := resp.Request.URL.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = c.Get(u.String()); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), base+"/app") {
		t.Fatalf("after login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	return c
}

type directoryAnswer struct {
	Address, Source string
}

// autocomplete asks the compose screen's directory endpoint, as its script does.
func autocomplete(t *testing.T, c *http.Client, base, q string) []directoryAnswer {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/app/directory?q="+url.QueryEscape(q), nil)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("autocomplete %q: %d %s", q, resp.StatusCode, body)
	}
	var out []directoryAnswer
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("autocomplete %q: %v\n%s", q, err, body)
	}
	return out
}

// ECO.3.1.4: `serve --source local,fhir` completes the recipients from the local index first,
// then from the Annuaire Santé FHIR API (ESANTE-API-KEY from --fhir-api-key-file); with the API
// down, the local answers still come (200, a log line), never an error page.
func TestServe_directoryLocalThenFHIR(t *testing.T) {
	const key = "test-api-key-not-a-secret"
	fixtures := filepath.Join(testkit.ModuleRoot(t), "internal", "annuaire", "fhir", "testdata")
	var hits, badKey atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fixture := "empty.json"
		q := r.URL.Query()
		switch {
		case r.Header.Get("ESANTE-API-KEY") != key:
			badKey.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			fixture = "operationoutcome-security.json"
		case q.Get("_getpages") != "":
			fixture = "practitioner-name-martin-2.json"
		case strings.HasSuffix(r.URL.Path, "/Practitioner") && q.Get("name") != "":
			fixture = "practitioner-name-martin-1.json"
		case strings.HasSuffix(r.URL.Path, "/Organization") && q.Get("_id") != "":
			fixture = "organization-by-id.json"
		}
		data, err := os.ReadFile(filepath.Join(fixtures, fixture))
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/fhir+json;charset=UTF-8")
		_, _ = w.Write([]byte(strings.ReplaceAll(string(data), "{{BASE}}", "http://"+r.Host+"/fhir/v2")))
	}))
	defer api.Close()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "esante-api-key")
	writeFile(t, keyFile, key+"\n")
	s := startServe(t, "--sandbox", "--sandbox-ports", "random", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--source", "local,fhir", "--fhir-url", api.URL+"/fhir/v2", "--fhir-api-key-file", keyFile)
	c := webSession(t, s.ready.URL, "899700200016")

	// "centre hospitalier": every mailbox of the sandbox's hospital in the local index, the
	// hospital practitioners of the FHIR fixture.
	got := autocomplete(t, c, s.ready.URL, "centre hospitalier")
	var sources []string
	firstFHIR, lastLocal := -1, -1
	has := map[string]string{}
	for i, e := range got {
		sources = append(sources, e.Source)
		has[e.Address] = e.Source
		switch e.Source {
		case "local":
			lastLocal = i
		case "fhir":
			if firstFHIR < 0 {
				firstFHIR = i
			}
		}
	}
	if lastLocal < 1 || has["cardiologie@hopital.sandbox.mssante.test"] != "local" || has["marie-helene.martin@ch-exemple.mssante.fr"] != "fhir" {
		t.Fatalf("autocomplete = %+v (FHIR asked %d times)\nserve log: %s", got, hits.Load(), lastLines(s.stderr.String(), 10))
	}
	t.Logf("answer sources: %v", sources)
	if firstFHIR < lastLocal {
		t.Errorf("FHIR answers before local ones: sources %v", sources)
	}
	if badKey.Load() != 0 {
		t.Errorf("%d FHIR requests without the API key of --fhir-api-key-file", badKey.Load())
	}

	// The API goes down: the local answers alone, and a log line says why.
	api.Close()
	start := time.Now()
	got = autocomplete(t, c, s.ready.URL, "centre hospitalier")
	took := time.Since(start)
	if len(got) == 0 {
		t.Fatal("FHIR down: no local answers")
	}
	for _, e := range got {
		if e.Source != "local" {
			t.Errorf("FHIR down: answer %+v", e)
		}
	}
	logs := s.stderr.String()
	if !regexp.MustCompile(`"msg":"web: directory".*fhir`).MatchString(logs) {
		t.Errorf("no log line of the FHIR failure:\n%s", lastLines(logs, 10))
	}
	if strings.Contains(logs, key) {
		t.Error("serve logs hold the API key")
	}
	t.Logf("autocomplete with the FHIR API down answered in %v", took.Round(time.Millisecond))
}
