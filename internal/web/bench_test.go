package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/server"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// BenchmarkInbox: one page of the inbox (the whole handler: authorisation, mailbox counts,
// query, rendering) of a 50,000-message mailbox, first page and a deep keyset page, per sort, the
// conversation view and a search. Goal: under 100 ms per page server-side.
//
//	go test -run '^$' -bench BenchmarkInbox -benchtime 20x ./internal/web/
func BenchmarkInbox(b *testing.B) {
	const n = 50000
	migs := append(append(append(mailstore.Migrations(), patients.Migrations...), audit.Migrations...), Migrations...)
	db := storetest.Open(b, store.SQLite, migs...)
	ms := mailstore.New(db, nil)
	src := &memSource{}
	cda := cdaMail(b, "n3-cr-biologie.xml", 1)
	cdaID := regexp.MustCompile(`(?m)^Message-I[Dd]: <[^>]+>`)
	for i := range n {
		at := t0.Add(-time.Duration(i) * time.Minute)
		var raw []byte
		switch i % 25 {
		case 0:
			raw = cdaID.ReplaceAll(cda, []byte(fmt.Sprintf("Message-ID: <cda%d@x>", i))) // one conversation each
		case 1, 2, 3, 4, 5:
			raw = []byte(fmt.Sprintf("From: Clara Petit <%s@patient.mssante.fr>\r\nTo: %s\r\nSubject: Question %d\r\nMessage-ID: <p%d@x>\r\nDate: %s\r\n\r\nBonjour.\r\n",
				patientINS, drMartin, i%97, i, at.Format(time.RFC1123Z)))
		default:
			var parent []string
			if i%5 == 4 {
				parent = []string{fmt.Sprintf("m%d@x", i-1)}
			}
			raw = plainMail(drDupont, fmt.Sprintf("Dr Jean DUPONT %d", i%89), fmt.Sprintf("Avis %d", i%113), fmt.Sprintf("m%d@x", i), at, "Voici mon avis.", parent...)
		}
		src.add("INBOX", raw)
	}
	ctx := context.Background()
	start := time.Now()
	if _, err := ms.Sync(ctx, src, drMartin, nil); err != nil {
		b.Fatal(err)
	}
	b.Logf("indexed %d messages in %s", n, time.Since(start).Round(time.Second))
	sess := &server.BrowserSession{Key: "k", Pro: server.Professional{NationalID: drMartinID, GivenName: "Marie", FamilyName: "MARTIN",
		Mailboxes: []string{drMartin}}, Token: func(context.Context) (string, error) { return "", nil }, Done: make(chan struct{})}
	app, err := New(Options{Sessions: func(*http.Request) (*server.BrowserSession, bool) { return sess, true }, Mail: ms, Audit: audit.New(db, nil)})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	h := app.Handler()
	get := func(b *testing.B, target string) string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		if w.Code != 200 {
			b.Fatalf("%s: %d", target, w.Code)
		}
		return w.Body.String()
	}
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`)
	for _, sort := range []string{"date", "sender", "subject", "patient"} {
		first := "/app/inbox?sort=" + sort
		// A deep page: follow the keyset cursor 20 pages down.
		deep := first
		for range 20 {
			m := next.FindStringSubmatch(get(b, deep))
			if m == nil {
				b.Fatalf("no next page from %s", deep)
			}
			deep = htmlUnescape(m[1])
		}
		for name, target := range map[string]string{"first": first, "page21": deep} {
			b.Run(sort+"/"+name, func(b *testing.B) {
				for b.Loop() {
					get(b, target)
				}
			})
		}
	}
	b.Run("threads", func(b *testing.B) {
		for b.Loop() {
			get(b, "/app/inbox?thread=1")
		}
	})
	b.Run("search", func(b *testing.B) {
		for b.Loop() {
			get(b, "/app/inbox?q=avis")
		}
	})
}

func htmlUnescape(s string) string {
	return regexp.MustCompile(`&amp;`).ReplaceAllString(s, "&")
}
