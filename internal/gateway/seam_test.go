package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// recorder is a Delivery as internal/hl7 will be one: it fails its first attempt of each
// document (an MLLP peer down), then acknowledges: integrated for an identified patient,
// rejected with the record system's reason otherwise.
type recorder struct {
	mu    sync.Mutex
	calls map[string]int
}

func (r *recorder) Name() string { return "hl7-test" }

func (r *recorder) Deliver(_ context.Context, d *Document) (Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[d.DocumentID]++
	if len(d.CDA) == 0 || len(d.Mail) == 0 {
		return Outcome{}, &PermanentError{errors.New("document without content")}
	}
	if r.calls[d.DocumentID] == 1 {
		return Outcome{}, errors.New("MLLP: connection refused")
	}
	if !d.Identified {
		return Outcome{Ack: AckRejected, Reason: "ERR 900 : patient inconnu"}, nil
	}
	return Outcome{Ack: AckIntegrated}, nil
}

// refuser is a Delivery whose every attempt fails for good: called once per document.
type refuser struct {
	mu    sync.Mutex
	calls int
}

func (r *refuser) Name() string { return "refuser" }
func (r *refuser) Deliver(context.Context, *Document) (Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return Outcome{}, &PermanentError{errors.New("AR: message refusé")}
}

// Issue 13 items 4 and 6 (the seam of internal/hl7): every received document is handed to each
// Delivery, retried after an error, never again after a PermanentError; the Outcome's
// acknowledgement (ACK AA → integrated, AE/AR → rejected with the reason) is the document's ack.
func TestGateway_deliverySeam(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := newPeer(t)
		rec := &recorder{calls: map[string]int{}}
		ref := &refuser{}
		g, err := New(db, Options{Mailboxes: []Mailbox{{Address: appli, Conn: p.conn[appli]}},
			Deliveries: []Delivery{rec, ref}, Poll: 100 * time.Millisecond, Lease: 6 * time.Second,
			Reidle: 2 * time.Second, MaxBackoff: 300 * time.Millisecond, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		runGateway(t, g)
		p.st.Deliver(appli, "INBOX", mailWithCDA(t, appli, cdaFixture(t, "n3-cr-imagerie.xml", "SEAM-1"), "Imagerie."))
		p.st.Deliver(appli, "INBOX", noINSMail(t))
		key, err := g.CreateKey(ctxT(t), appli)
		if err != nil {
			t.Fatal(err)
		}
		a := newAPI(t, g.Handler())
		var docs []Document
		waitFor(t, 60*time.Second, "two acknowledged documents", func() bool {
			_, _, b := a.do("GET", "/api/v1/documents", key, nil)
			var l struct{ Documents []Document }
			_ = json.Unmarshal(b, &l)
			docs = l.Documents
			return len(docs) == 2 && docs[0].Ack != nil && docs[1].Ack != nil
		})
		for _, d := range docs {
			switch {
			case d.Identified && d.Ack.State != AckIntegrated:
				t.Errorf("identified document acked %+v", d.Ack)
			case !d.Identified && (d.Ack.State != AckRejected || d.Ack.Reason != "ERR 900 : patient inconnu"):
				t.Errorf("unidentified document acked %+v", d.Ack)
			}
		}
		time.Sleep(time.Second) // no further attempt may come
		rec.mu.Lock()
		for id, n := range rec.calls {
			if n != 2 {
				t.Errorf("document %s delivered %d times, want 2 (one failure, one success)", id, n)
			}
		}
		rec.mu.Unlock()
		ref.mu.Lock()
		if ref.calls != 2 {
			t.Errorf("permanent refusals: %d attempts for 2 documents", ref.calls)
		}
		ref.mu.Unlock()
	}, Migrations()...)
}
