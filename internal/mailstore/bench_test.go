package mailstore

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// fill stores n messages in INBOX of drMartin (one template of five per message: professional,
// patient, CDA, bounce, applicative), 1,000 per transaction.
func fill(b *testing.B, s *Store, n int) {
	ctx := ctxT(b)
	acc, err := s.accountID(ctx, drMartin, true)
	if err != nil {
		b.Fatal(err)
	}
	f, err := s.folder(ctx, acc, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	templates := [][]byte{
		plainMail(drDupont, "Dr Jean DUPONT", "Avis", "t@x", t0, "Bonjour, voici mon avis."),
		fixture(b, "read/patient-plain-order.eml"),
		cdaMail(b, "n3-cr-biologie.xml", 1, t0).Data,
		fixture(b, "read/mes-bounce.eml"),
		fixture(b, "applicative-html.eml"),
	}
	entries := make([]*entry, len(templates))
	for i, raw := range templates {
		entries[i] = index(raw, nil)
	}
	for start := 0; start < n; start += 1000 {
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			var msgs []newMessage
			for i := start; i < min(start+1000, n); i++ {
				k := i % len(templates)
				e := *entries[k]
				e.MessageID = fmt.Sprintf("bench-%d@x", i)
				e.InReplyTo, e.References = nil, nil
				if i%5 == 4 { // conversations of two to five messages
					e.References = []string{fmt.Sprintf("bench-%d@x", i-i%5)}
				}
				e.Date = t0.Add(-time.Duration(i) * time.Minute)
				e.FromName = fmt.Sprintf("%s %d", e.FromName, i%97)
				e.Display = fmt.Sprintf("%s %d", e.Display, i%89)
				fe := &fetched{UID: uint32(i + 1), UIDValidity: 1, InternalDate: e.Date, Size: int64(len(templates[k])),
					Raw: templates[k], Flags: []string{}}
				if i%3 == 0 {
					fe.Flags = []string{`\Seen`}
				}
				msgs = append(msgs, newMessage{f: fe, e: &e})
			}
			_, err := insertAllTx(ctx, tx, acc, f.ID, msgs)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList: one page of 50 of a 50,000-message mailbox (goal: under 20 ms), first page and
// a deep keyset page, per dialect and sort.
func BenchmarkList(b *testing.B) {
	const n = 50000
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			if d == store.Postgres && os.Getenv(storetest.EnvPostgres) == "" {
				b.Skip(storetest.EnvPostgres + " not set")
			}
			s := New(storetest.Open(b, d, Migrations()...), nil)
			fill(b, s, n)
			for _, sort := range []Sort{SortDate, SortSender, SortSubject, SortPatient} {
				b.Run(string(sort), func(b *testing.B) {
					ctx := ctxT(b)
					q := Query{Accounts: []string{drMartin}, Folders: []string{"INBOX"}, Sort: sort, Limit: 50}
					for b.Loop() {
						p, err := s.List(ctx, q)
						if err != nil || len(p.Messages) != 50 {
							b.Fatalf("%d messages, %v", len(p.Messages), err)
						}
					}
				})
			}
			b.Run("date-page-500", func(b *testing.B) {
				ctx := ctxT(b)
				q := Query{Accounts: []string{drMartin}, Sort: SortDate, Limit: 50}
				for range 500 {
					p, err := s.List(ctx, q)
					if err != nil {
						b.Fatal(err)
					}
					q.After = p.Next
				}
				for b.Loop() {
					if p, err := s.List(ctx, q); err != nil || len(p.Messages) != 50 {
						b.Fatalf("%d messages, %v", len(p.Messages), err)
					}
				}
			})
			b.Run("thread", func(b *testing.B) {
				ctx := ctxT(b)
				for b.Loop() {
					if p, err := s.List(ctx, Query{Accounts: []string{drMartin}, Thread: true, Limit: 50}); err != nil || len(p.Messages) < 50 {
						b.Fatalf("%d messages, %v", len(p.Messages), err)
					}
				}
			})
			b.Run("search", func(b *testing.B) {
				ctx := ctxT(b)
				for b.Loop() {
					if m, err := s.Search(ctx, "avis", 50, drMartin); err != nil || len(m) == 0 {
						b.Fatalf("%d messages, %v", len(m), err)
					}
				}
			})
		})
	}
}
