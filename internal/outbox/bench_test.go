package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// BenchmarkOutbox: add 1,000 messages (one transaction each, as outbox add does) then send them
// with 4 workers through a sender that accepts at once: the queue's own cost, to compare with
// River's figures in the package doc.
//
//	go test -run XXX -bench Outbox -benchtime 1x ./internal/outbox/
func BenchmarkOutbox(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			const n = 1000
			for b.Loop() {
				ctx := context.Background()
				db, err := store.Open(ctx, storetest.URL(b, d), Migrations...)
				if err != nil {
					b.Fatal(err)
				}
				o := New(db, nil)
				start := time.Now()
				for i := range n {
					if _, err := o.Add(ctx, testMessage(i)); err != nil {
						b.Fatal(err)
					}
				}
				add := time.Since(start)
				start = time.Now()
				st, err := o.Run(ctx, &fakeSender{}, RunOptions{Once: true, Workers: 4, Poll: time.Millisecond})
				if err != nil || st.Sent != n {
					b.Fatal(st, err)
				}
				work := time.Since(start)
				db.Close()
				b.ReportMetric(n/add.Seconds(), "add/s")
				b.ReportMetric(n/work.Seconds(), "sent/s")
				b.Logf("%s: add %d in %v (%.0f/s), sent in %v (%.0f/s)", d, n, add, n/add.Seconds(), work, n/work.Seconds())
			}
		})
	}
}
