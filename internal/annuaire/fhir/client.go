// Package fhir searches MSSanté mailboxes in the Annuaire Santé FHIR API (FHIR R4, ANS gateway
// https://gateway.api.esante.gouv.fr/fhir/v2), one of the three directory accesses the referential
// names (ECO.3.1.4).
//
// Mailboxes are telecoms with system "email" that carry the extension as-ext-mailbox-mss-metadata
// (or the fr-core email type MSSANTE): PER on PractitionerRole (and Practitioner), CAB on
// Practitioner, ORG and APP on Organization (API guide v2, "Extraction des BAL MSSanté"). A query
// with "@" searches the mailbox-mss parameter (mailbox-mss:contains). Other text searches names:
// Practitioner?name= (exercise name, prefix of any part) with _revinclude=PractitionerRole:practitioner,
// then the organisations the roles reference through Organization?_id=… (the API documents
// _include and _revinclude, not _include:iterate), and Organization?name:contains=…&mailbox-mss:contains=@.
// The longest word goes to the server (the next longest when it finds nothing, e.g. a city); every
// word is then checked here as a word prefix of the entry, accents and case folded.
//
// Choices: mailboxes flagged listeRouge are never returned (the ANS does not publish them; a
// client that received one does not show it). The digitization flag is read but not exposed
// (annuaire.Entry has no field for it). The description of a mailbox fills Service when the
// mailbox has no service. Paging follows link[relation=next] only on the host of BaseURL (the API
// key is never sent elsewhere). HTTP 429 is retried up to 3 times after Retry-After (at most 10 s
// each); longer waits fail with ErrRateLimited. The whole search is bounded by Options.Timeout.
//
// Usage:
//
//	c := fhir.New(fhir.Options{BaseURL: fhir.DefaultBaseURL, APIKey: key})
//	entries, err := c.Search(ctx, annuaire.Query{Text: "martin cardiologue"})
package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/annuaire"
)

// DefaultBaseURL is the production Annuaire Santé FHIR API (there is no sandbox).
const DefaultBaseURL = "https://gateway.api.esante.gouv.fr/fhir/v2"

// Defaults of Options and limits of a search.
const (
	DefaultTimeout = 30 * time.Second // the gateway's own timeout
	maxRetries     = 3                // 429 answers retried per request
	maxRetryWait   = 10 * time.Second // longest Retry-After honoured
	maxPages       = 10               // pages followed per resource type
	maxBody        = 32 << 20         // bytes read from one response
	pageSize       = 50               // _count, the API's page size
)

// Options configures a Client.
type Options struct {
	// BaseURL is the FHIR base, without a trailing slash; DefaultBaseURL when empty.
	BaseURL string
	// APIKey is sent in the ESANTE-API-KEY header. Never logged.
	APIKey string
	// HTTPClient defaults to a new http.Client with the default transport.
	HTTPClient *http.Client
	// Timeout bounds one Search, pages and retries included; DefaultTimeout when zero.
	Timeout time.Duration
}

// Client searches the FHIR API. New does no I/O; a Client is safe for concurrent use.
type Client struct {
	base    *url.URL
	baseErr error
	apiKey  string
	http    *http.Client
	timeout time.Duration
	// sleep waits between retries; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a client for o.
func New(o Options) *Client {
	c := &Client{apiKey: o.APIKey, http: o.HTTPClient, timeout: o.Timeout, sleep: sleepCtx}
	raw := strings.TrimRight(o.BaseURL, "/")
	if raw == "" {
		raw = DefaultBaseURL
	}
	c.base, c.baseErr = url.Parse(raw)
	if c.baseErr == nil && (c.base.Scheme != "https" && c.base.Scheme != "http" || c.base.Host == "") {
		c.baseErr = fmt.Errorf("fhir: base URL %q is not an absolute http(s) URL", raw)
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c
}

// Search returns the mailboxes matching q, deduplicated by address, at most q.Limit (20 when 0).
// An empty query returns no entry. On an error, the entries found before it are returned with it.
func (c *Client) Search(ctx context.Context, q annuaire.Query) ([]annuaire.Entry, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// The longest word goes to the server; when the entries it brings back do not match the other
	// words ("dupond ajaccio": ajaccio is a city, not a name), the next longest word is tried.
	words := serverWords(q.Text)
	if len(words) == 0 || strings.Contains(q.Text, "@") {
		words = []string{""}
	}
	for i, w := range words {
		out, err := c.searchWord(ctx, q, w, limit)
		if err != nil || len(out) > 0 || i == maxServerWords-1 {
			return out, err
		}
	}
	return nil, nil
}

// maxServerWords bounds the words of a query tried in turn on the server.
const maxServerWords = 2

// serverWords returns the words of text, longest first, for the server's name search.
func serverWords(text string) []string {
	words := strings.Fields(text)
	sort.SliceStable(words, func(i, j int) bool { return len([]rune(words[i])) > len([]rune(words[j])) })
	return words
}

// searchWord runs the plan of q with word as the server-side name.
func (c *Client) searchWord(ctx context.Context, q annuaire.Query, word string, limit int) ([]annuaire.Entry, error) {
	reqs := plan(q, word)
	if len(reqs) == 0 {
		return nil, nil
	}
	filter := newFilter(q)
	var out []annuaire.Entry
	seen := map[string]bool{}
	for _, r := range reqs {
		next := c.base.JoinPath(r.resource)
		next.RawQuery = r.params.Encode()
		for page := 0; next != nil && page < maxPages && len(out) < limit; page++ {
			b, err := c.get(ctx, next)
			if err == nil {
				err = c.addOrganizations(ctx, b)
			}
			if err != nil {
				return out, err
			}
			for _, e := range b.entries() {
				key := strings.ToLower(e.Address)
				if seen[key] || !filter.match(e) {
					continue
				}
				seen[key] = true
				out = append(out, e)
			}
			if next, err = c.nextPage(b, next); err != nil {
				return out, err
			}
		}
		if len(out) >= limit {
			break
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// request is one search of the plan: a resource type and its parameters.
type request struct {
	resource string
	params   url.Values
}

// plan turns q into the FHIR searches to run, in order.
func plan(q annuaire.Query, word string) []request {
	text := strings.TrimSpace(q.Text)
	per := q.Type == "" || q.Type == annuaire.TypePER || q.Type == annuaire.TypeCAB
	org := q.Type == "" || q.Type == annuaire.TypeORG || q.Type == annuaire.TypeAPP
	count := strconv.Itoa(pageSize)
	var reqs []request
	if strings.Contains(text, "@") {
		mailbox := strings.Fields(text)[0]
		if q.Type == "" || q.Type == annuaire.TypePER {
			reqs = append(reqs, request{"PractitionerRole", url.Values{"mailbox-mss:contains": {mailbox}, "_count": {count},
				"_include": {"PractitionerRole:practitioner", "PractitionerRole:organization"}}})
		}
		if per {
			reqs = append(reqs, request{"Practitioner", url.Values{"mailbox-mss:contains": {mailbox}, "_count": {count}}})
		}
		if org {
			reqs = append(reqs, request{"Organization", url.Values{"mailbox-mss:contains": {mailbox}, "_count": {count}}})
		}
		return reqs
	}
	if word == "" {
		return nil
	}
	if per {
		reqs = append(reqs, request{"Practitioner", url.Values{"name": {word}, "_count": {count},
			"_revinclude": {"PractitionerRole:practitioner"}}})
	}
	if org {
		reqs = append(reqs, request{"Organization", url.Values{"name:contains": {word}, "mailbox-mss:contains": {"@"},
			"_count": {count}}})
	}
	return reqs
}

// addOrganizations fetches the organisations that the practitioner roles of b reference and b
// does not hold, and adds them to b as included resources (context for the roles, not entries).
func (c *Client) addOrganizations(ctx context.Context, b *bundle) error {
	have := map[string]bool{}
	for _, e := range b.Entry {
		if e.Resource != nil {
			have[e.Resource.ResourceType+"/"+e.Resource.ID] = true
		}
	}
	var ids []string
	for _, e := range b.Entry {
		r := e.Resource
		if r == nil || r.ResourceType != "PractitionerRole" || r.Organization == nil {
			continue
		}
		ref := refKey(r.Organization.Reference)
		if id, ok := strings.CutPrefix(ref, "Organization/"); ok && id != "" && !have[ref] {
			have[ref] = true
			ids = append(ids, id)
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), pageSize)
		u := c.base.JoinPath("Organization")
		u.RawQuery = url.Values{"_id": {strings.Join(ids[:n], ",")}, "_count": {strconv.Itoa(pageSize)}}.Encode()
		ids = ids[n:]
		orgs, err := c.get(ctx, u)
		if err != nil {
			return err
		}
		for _, e := range orgs.Entry {
			if e.Resource != nil && e.Resource.ResourceType == "Organization" {
				e.Search.Mode = "include"
				b.Entry = append(b.Entry, e)
			}
		}
	}
	return nil
}

func (c *Client) get(ctx context.Context, u *url.URL) (*bundle, error) {
	for attempt := 0; ; attempt++ {
		b, retryAfter, err := c.getOnce(ctx, u)
		var fe *Error
		if err == nil || !errors.As(err, &fe) || fe.StatusCode != http.StatusTooManyRequests || attempt >= maxRetries {
			return b, err
		}
		wait := retryAfter
		if wait < 0 {
			wait = time.Second << attempt
		}
		if wait > maxRetryWait {
			return nil, err
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("fhir: waiting to retry %s: %w", u.Path, err)
		}
	}
}

// getOnce does one GET. retryAfter is the Retry-After of a 429 (-1 when absent).
func (c *Client) getOnce(ctx context.Context, u *url.URL) (*bundle, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("fhir: %w", err)
	}
	req.Header.Set("Accept", "application/fhir+json")
	if c.apiKey != "" {
		req.Header.Set("ESANTE-API-KEY", c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fhir: GET %s: %w", u.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("fhir: GET %s: reading the answer: %w", u.Path, err)
	}
	if len(body) > maxBody {
		return nil, 0, fmt.Errorf("fhir: GET %s: answer larger than %d bytes", u.Path, maxBody)
	}
	retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	var b bundle
	jsonErr := json.Unmarshal(body, &b)
	if resp.StatusCode != http.StatusOK {
		return nil, retryAfter, newError(resp.StatusCode, u, &b, jsonErr)
	}
	if jsonErr != nil {
		return nil, 0, fmt.Errorf("fhir: GET %s: %w: %v", u.Path, ErrMalformed, jsonErr)
	}
	switch b.ResourceType {
	case "Bundle":
		return &b, 0, nil
	case "OperationOutcome":
		return nil, 0, newError(resp.StatusCode, u, &b, nil)
	}
	return nil, 0, fmt.Errorf("fhir: GET %s: %w: resourceType %q, want Bundle", u.Path, ErrMalformed, b.ResourceType)
}

// nextPage returns the link[relation=next] of b resolved against cur, nil at the end. A link to
// another host than the base is refused: the API key must not leave for it.
func (c *Client) nextPage(b *bundle, cur *url.URL) (*url.URL, error) {
	for _, l := range b.Link {
		if l.Relation != "next" || l.URL == "" {
			continue
		}
		u, err := cur.Parse(l.URL)
		if err != nil {
			return nil, fmt.Errorf("fhir: %w: next link %q: %v", ErrMalformed, l.URL, err)
		}
		if u.Host == c.base.Host && u.Scheme == "http" && c.base.Scheme == "https" {
			// A gateway ending TLS writes its links in http: same host, keep TLS.
			u.Scheme = "https"
		}
		if u.Scheme != c.base.Scheme || u.Host != c.base.Host {
			return nil, fmt.Errorf("fhir: %w: next link to %s, outside %s", ErrMalformed, u.Host, c.base.Host)
		}
		return u, nil
	}
	return nil, nil
}

// parseRetryAfter reads delay-seconds or an HTTP date; -1 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

var _ annuaire.Source = (*Client)(nil)
