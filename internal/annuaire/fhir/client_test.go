package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/annuaire"
)

const testKey = "test-api-key-not-a-secret"

// fakeAPI is a local Annuaire Santé FHIR API serving the fixtures of testdata.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	// hits counts requests by "Resource" or "Resource page2".
	hits map[string]int
	// throttle answers 429 with this Retry-After to the next n requests.
	throttle      int
	throttleAfter string
	// block makes every request wait until the client gives up.
	block bool
	// nextOverride replaces the host of next links.
	nextOverride string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, hits: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) base() string { return f.srv.URL + "/fhir/v2" }

func (f *fakeAPI) client(o Options) *Client {
	if o.BaseURL == "" {
		o.BaseURL = f.base()
	}
	if o.APIKey == "" {
		o.APIKey = testKey
	}
	return New(o)
}

func (f *fakeAPI) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[key]
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	if f.block {
		<-r.Context().Done()
		return
	}
	if r.Header.Get("ESANTE-API-KEY") != testKey {
		f.reply(w, http.StatusUnauthorized, "operationoutcome-security.json")
		return
	}
	if r.Method != http.MethodGet || !strings.Contains(r.Header.Get("Accept"), "fhir+json") {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	resource := strings.TrimPrefix(r.URL.Path, "/fhir/v2/")
	key := resource
	switch {
	case q.Get("_getpages") != "":
		key += " page2"
	case q.Get("_id") != "":
		key += " _id"
	}
	f.mu.Lock()
	f.hits[key]++
	throttled := f.throttle > 0
	if throttled {
		f.throttle--
	}
	f.mu.Unlock()
	if throttled {
		w.Header().Set("Retry-After", f.throttleAfter)
		f.reply(w, http.StatusTooManyRequests, "operationoutcome-throttled.json")
		return
	}
	name, orgName, mailbox := q.Get("name"), q.Get("name:contains"), q.Get("mailbox-mss:contains")
	switch {
	case name == "erreur" || orgName == "erreur":
		f.reply(w, http.StatusBadRequest, "operationoutcome-invalid.json")
	case name == "malformed" || orgName == "malformed":
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","entry":[{`))
	case key == "Practitioner page2":
		f.reply(w, http.StatusOK, "practitioner-name-martin-2.json")
	case resource == "Practitioner" && name != "":
		if q.Get("_revinclude") != "PractitionerRole:practitioner" {
			f.t.Errorf("Practitioner search without the roles: %s", r.URL.RawQuery)
		}
		f.reply(w, http.StatusOK, "practitioner-name-martin-1.json")
	case key == "Organization _id":
		if q.Get("_id") != "001-3000042" {
			f.t.Errorf("organisations asked: %q, want only the one page 1 lacks", q.Get("_id"))
		}
		f.reply(w, http.StatusOK, "organization-by-id.json")
	case resource == "Organization" && orgName != "" && mailbox == "@":
		f.reply(w, http.StatusOK, "organization-name-martin.json")
	case resource == "PractitionerRole" && strings.Contains(mailbox, "@ch-exemple"):
		f.reply(w, http.StatusOK, "practitionerrole-mailbox.json")
	default:
		f.reply(w, http.StatusOK, "empty.json")
	}
}

func (f *fakeAPI) reply(w http.ResponseWriter, status int, fixture string) {
	data, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		f.t.Error(err)
		return
	}
	base := f.base()
	if f.nextOverride != "" {
		base = f.nextOverride
	}
	w.Header().Set("Content-Type", "application/fhir+json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(strings.ReplaceAll(string(data), "{{BASE}}", base)))
}

func addresses(es []annuaire.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Address)
	}
	slices.Sort(out)
	return out
}

func byAddress(es []annuaire.Entry, addr string) annuaire.Entry {
	for _, e := range es {
		if e.Address == addr {
			return e
		}
	}
	return annuaire.Entry{}
}

// ECO.3.1.4: a name search finds the MSSanté mailboxes of practitioners, their roles and
// organisations across pages; contact e-mails, included organisations and red-listed mailboxes
// are left out.
func TestSearch_nameAcrossPagesAndResources_ECO_3_1_4(t *testing.T) {
	api := newFakeAPI(t)
	got, err := api.client(Options{}).Search(context.Background(), annuaire.Query{Text: "Martin", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"biologie-resultats@clinique-st-martin.mssante.fr",
		"cabinet.martin@medecin.mssante.fr",
		"chir-ortho@clinique-st-martin.mssante.fr",
		"jl.martin@pharmacien.mssante.fr",
		"marie-helene.martin@ch-exemple.mssante.fr",
	}
	if a := addresses(got); !slices.Equal(a, want) {
		t.Fatalf("addresses = %q\nwant %q", a, want)
	}
	if api.count("Practitioner page2") != 1 || api.count("Organization _id") != 1 {
		t.Errorf("next page fetched %d times, referenced organisations %d times; want 1 and 1",
			api.count("Practitioner page2"), api.count("Organization _id"))
	}
	checks := []annuaire.Entry{
		{Address: "marie-helene.martin@ch-exemple.mssante.fr", Type: "PER", NationalID: "810000000017", Civility: "DR",
			LastName: "MARTIN", FirstName: "Marie-Hélène", ProfessionCode: "10", Profession: "Médecin",
			Specialty: "Cardiologie et maladies vasculaires (SM)", Organization: "CENTRE HOSPITALIER D'EXEMPLE-SUR-LOIRE",
			Service: "Service de cardiologie", City: "SAINT-ÉTIENNE", PostalCode: "42000", Department: "42", Source: "fhir"},
		{Address: "cabinet.martin@medecin.mssante.fr", Type: "CAB", NationalID: "810000000017", Civility: "DR",
			LastName: "MARTIN", FirstName: "Marie-Hélène", ProfessionCode: "10", Profession: "Médecin",
			Specialty: "Cardiologie et maladies vasculaires (SM)", Service: "Cabinet du Dr Martin", Source: "fhir"},
		{Address: "jl.martin@pharmacien.mssante.fr", Type: "PER", NationalID: "810000000025", Civility: "M",
			LastName: "MARTIN", FirstName: "Jean-Loïc", ProfessionCode: "21", Profession: "Pharmacien",
			Organization: "PHARMACIE DES ÉCOLES", City: "AJACCIO", PostalCode: "20000", Department: "2A", Source: "fhir"},
		{Address: "chir-ortho@clinique-st-martin.mssante.fr", Type: "ORG", Organization: "CLINIQUE SAINT-MARTIN",
			Service: "Chirurgie orthopédique", City: "LYON", PostalCode: "69003", Department: "69", Source: "fhir"},
		{Address: "biologie-resultats@clinique-st-martin.mssante.fr", Type: "APP", Organization: "CLINIQUE SAINT-MARTIN",
			Service: "Résultats de biologie", City: "LYON", PostalCode: "69003", Department: "69", Source: "fhir"},
	}
	for _, want := range checks {
		if e := byAddress(got, want.Address); e != want {
			t.Errorf("entry\n got %+v\nwant %+v", e, want)
		}
	}
}

func TestSearch_filters(t *testing.T) {
	tests := []struct {
		name string
		q    annuaire.Query
		want []string
	}{
		{"two words, accents folded", annuaire.Query{Text: "HELENE cardio"}, []string{
			"cabinet.martin@medecin.mssante.fr", "marie-helene.martin@ch-exemple.mssante.fr"}},
		{"name and city of the role's organisation", annuaire.Query{Text: "hélène ÉTIENNE"}, []string{"marie-helene.martin@ch-exemple.mssante.fr"}},
		{"word prefix on the city", annuaire.Query{Text: "martin ajac"}, []string{"jl.martin@pharmacien.mssante.fr"}},
		{"postcode", annuaire.Query{Text: "martin 69003"}, []string{
			"biologie-resultats@clinique-st-martin.mssante.fr", "chir-ortho@clinique-st-martin.mssante.fr"}},
		{"type ORG", annuaire.Query{Text: "martin", Type: annuaire.TypeORG}, []string{"chir-ortho@clinique-st-martin.mssante.fr"}},
		{"department 2A", annuaire.Query{Text: "martin", Department: "2a"}, []string{"jl.martin@pharmacien.mssante.fr"}},
		{"profession", annuaire.Query{Text: "martin", Profession: "médecin"}, []string{
			"cabinet.martin@medecin.mssante.fr", "marie-helene.martin@ch-exemple.mssante.fr"}},
		{"profession code", annuaire.Query{Text: "martin", Profession: "21"}, []string{"jl.martin@pharmacien.mssante.fr"}},
		{"mailbox", annuaire.Query{Text: "Marie-Helene.Martin@ch-exemple.mssante.fr"}, []string{"marie-helene.martin@ch-exemple.mssante.fr"}},
		{"empty", annuaire.Query{Text: "  "}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			got, err := api.client(Options{}).Search(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if a := addresses(got); !slices.Equal(a, tt.want) {
				t.Errorf("Search(%+v) = %q, want %q", tt.q, a, tt.want)
			}
			if tt.q.Type == annuaire.TypeORG && api.count("Practitioner") != 0 {
				t.Errorf("type ORG searched Practitioner")
			}
		})
	}
}

func TestSearch_mailboxResolvesIncludedPractitioner(t *testing.T) {
	api := newFakeAPI(t)
	got, err := api.client(Options{}).Search(context.Background(), annuaire.Query{Text: "marie-helene.martin@ch-exemple.mssante.fr"})
	if err != nil || len(got) != 1 {
		t.Fatalf("Search = %+v, %v", got, err)
	}
	if e := got[0]; e.LastName != "MARTIN" || e.Organization != "CENTRE HOSPITALIER D'EXEMPLE-SUR-LOIRE" || e.NationalID != "810000000017" {
		t.Errorf("entry = %+v", e)
	}
}

func TestSearch_limitStopsPaging(t *testing.T) {
	api := newFakeAPI(t)
	got, err := api.client(Options{}).Search(context.Background(), annuaire.Query{Text: "martin", Limit: 2})
	if err != nil || len(got) != 2 {
		t.Fatalf("Search = %d entries, %v", len(got), err)
	}
	if api.count("Practitioner page2") != 0 || api.count("Organization") != 0 {
		t.Errorf("limit reached on page 1 but fetched page 2 (%d) or Organization (%d)", api.count("Practitioner page2"), api.count("Organization"))
	}
}

func TestSearch_operationOutcome(t *testing.T) {
	api := newFakeAPI(t)
	_, err := api.client(Options{}).Search(context.Background(), annuaire.Query{Text: "erreur"})
	var fe *Error
	if !errors.As(err, &fe) || fe.StatusCode != http.StatusBadRequest || len(fe.Issues) != 1 ||
		fe.Issues[0].Code != "processing" || !strings.Contains(fe.Issues[0].Diagnostics, "does not know how to handle") {
		t.Fatalf("error = %#v", err)
	}
	if !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "Invalid request") {
		t.Errorf("message %q lacks the status or the diagnostics", err)
	}
	if errors.Is(err, ErrRateLimited) || errors.Is(err, ErrUnauthorized) {
		t.Errorf("400 maps to a sentinel: %v", err)
	}
}

func TestSearch_wrongKeyIsUnauthorized(t *testing.T) {
	api := newFakeAPI(t)
	_, err := api.client(Options{APIKey: "wrong"}).Search(context.Background(), annuaire.Query{Text: "martin"})
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "ESANTE-API-KEY") {
		t.Fatalf("error = %v, want ErrUnauthorized with diagnostics", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the key leaks into the error: %v", err)
	}
}

func TestSearch_retries429AfterRetryAfter(t *testing.T) {
	api := newFakeAPI(t)
	api.throttle, api.throttleAfter = 2, "2"
	c := api.client(Options{})
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	got, err := c.Search(context.Background(), annuaire.Query{Text: "martin", Type: annuaire.TypeORG})
	if err != nil || len(got) != 1 {
		t.Fatalf("Search = %d entries, %v", len(got), err)
	}
	if !slices.Equal(waits, []time.Duration{2 * time.Second, 2 * time.Second}) {
		t.Errorf("waits = %v, want two of 2s", waits)
	}
}

func TestSearch_429Bounded(t *testing.T) {
	for _, tt := range []struct {
		retryAfter string
		waits      int
	}{
		{"1", maxRetries},    // retried maxRetries times, then given up
		{"3600", 0},          // longer than maxRetryWait: no wait at all
		{"", maxRetries},     // no Retry-After: exponential backoff
		{"soon", maxRetries}, // unreadable: exponential backoff
	} {
		api := newFakeAPI(t)
		api.throttle, api.throttleAfter = 100, tt.retryAfter
		c := api.client(Options{})
		var waits []time.Duration
		c.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
		_, err := c.Search(context.Background(), annuaire.Query{Text: "martin", Type: annuaire.TypeORG})
		var fe *Error
		if !errors.Is(err, ErrRateLimited) || !errors.As(err, &fe) || !strings.Contains(err.Error(), "Quota exceeded") {
			t.Errorf("Retry-After %q: error = %v, want ErrRateLimited", tt.retryAfter, err)
		}
		if len(waits) != tt.waits || api.count("Organization") != tt.waits+1 {
			t.Errorf("Retry-After %q: %d waits, %d requests; want %d waits", tt.retryAfter, len(waits), api.count("Organization"), tt.waits)
		}
	}
}

func TestSearch_timeout(t *testing.T) {
	api := newFakeAPI(t)
	api.block = true
	start := time.Now()
	_, err := api.client(Options{Timeout: 100 * time.Millisecond}).Search(context.Background(), annuaire.Query{Text: "martin"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want a deadline", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Timeout not applied: %v", time.Since(start))
	}
	// The caller's context is honoured as well.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := api.client(Options{}).Search(ctx, annuaire.Query{Text: "martin"}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: error = %v", err)
	}
}

func TestSearch_nextLinkToOtherHostRefused(t *testing.T) {
	var leaked sync.Map
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store("key", r.Header.Get("ESANTE-API-KEY"))
	}))
	defer other.Close()
	api := newFakeAPI(t)
	api.nextOverride = other.URL + "/fhir/v2"
	_, err := api.client(Options{}).Search(context.Background(), annuaire.Query{Text: "martin", Type: annuaire.TypePER, Limit: 50})
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("error = %v, want ErrMalformed", err)
	}
	if _, ok := leaked.Load("key"); ok {
		t.Errorf("a request went to the other host")
	}
}

func TestSearch_malformedAnswer(t *testing.T) {
	api := newFakeAPI(t)
	if _, err := api.client(Options{}).Search(context.Background(), annuaire.Query{Text: "malformed"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("error = %v, want ErrMalformed", err)
	}
	if _, err := New(Options{BaseURL: "not a url"}).Search(context.Background(), annuaire.Query{Text: "x"}); err == nil {
		t.Errorf("relative base URL accepted")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": -1, "7": 7 * time.Second, "x": -1, "-3": -1,
		"Sat, 28 Nov 2026 10:00:30 GMT": 30 * time.Second, "Sat, 28 Nov 2026 09:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestDepartment(t *testing.T) {
	for in, want := range map[string]string{"42000": "42", "20000": "2A", "20167": "2A", "20200": "2B", "97400": "974", "98800": "988", "750": ""} {
		if got := department(in); got != want {
			t.Errorf("department(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzBundleEntries feeds arbitrary JSON to the bundle reader: it must not panic, and every entry
// it returns is a mailbox with a type, from the fhir source.
func FuzzBundleEntries(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Organization","name":["x"]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var b bundle
		if json.Unmarshal(data, &b) != nil {
			return
		}
		for _, e := range b.entries() {
			if !strings.Contains(e.Address, "@") || e.Type == "" || e.Source != "fhir" {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}
