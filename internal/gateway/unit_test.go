package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// unreachable is a mailbox whose operator cannot be reached (the sync loops back off).
type unreachable struct{}

func (unreachable) SMTP(context.Context) (outbox.Session, error) {
	return nil, errors.New("injoignable")
}
func (unreachable) IMAP(context.Context) (IMAPSession, error) { return nil, errors.New("injoignable") }

// Issue 13 item 2: the store keeps the SHA-256 of a key only; a key opens its own mailbox; a
// client certificate naming a mailbox does too.
func TestKeys_hashOnlyAndScope(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g, err := New(db, Options{Mailboxes: []Mailbox{{Address: appli, Conn: unreachable{}}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		key, err := g.CreateKey(ctx, "Appli@test.mssante.fr")
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != len(KeyPrefix)+43 {
			t.Errorf("key %q: not 256 bits in base64url", key)
		}
		var hash, mb string
		if err := db.QueryRowContext(ctx, `SELECT hash, mailbox FROM gateway_keys`).Scan(&hash, &mb); err != nil {
			t.Fatal(err)
		}
		if hash != keyHash(key) || strings.Contains(hash, key[len(KeyPrefix):]) || mb != appli {
			t.Errorf("stored %q %q", hash, mb)
		}
		req := func(h string) *http.Request {
			r := httptest.NewRequest("GET", "/api/v1/documents", nil)
			if h != "" {
				r.Header.Set("Authorization", h)
			}
			return r
		}
		if got, err := g.caller(req("Bearer " + key)); err != nil || got != appli {
			t.Errorf("caller = %q, %v", got, err)
		}
		for _, h := range []string{"", "Bearer ", "Basic " + key, "Bearer " + key + "x"} {
			if _, err := g.caller(req(h)); err == nil {
				t.Errorf("%q accepted", h)
			}
		}
		r := req("")
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{EmailAddresses: []string{"APPLI@test.mssante.fr"}}}}}
		if got, err := g.caller(r); err != nil || got != appli {
			t.Errorf("certificate: %q, %v", got, err)
		}
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{EmailAddresses: []string{other}}}}}
		if _, err := g.caller(r); err == nil {
			t.Error("a certificate of a mailbox the gateway does not serve was accepted")
		}
	}, Migrations()...)
}

// Issue 13 item 5: events are posted signed, in order per mailbox, the oldest retried with
// back-off until a 2xx while the later ones wait; each is accepted once.
func TestWebhook_orderAndRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var mu sync.Mutex
		var got []string
		refusals := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			defer mu.Unlock()
			if r.Header.Get(SignatureHeader) != Sign([]byte("k"), body) {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			var ev map[string]any
			_ = json.Unmarshal(body, &ev)
			if ev["event_id"] == "e2" && refusals < 3 {
				refusals++
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			got = append(got, ev["event_id"].(string))
			w.WriteHeader(http.StatusOK)
		}))
		defer srv.Close()
		g, err := New(db, Options{Mailboxes: []Mailbox{{Address: appli, Conn: unreachable{}}, {Address: other, Conn: unreachable{}}},
			Webhook: &Webhook{URL: srv.URL, Secret: []byte("k")}, Poll: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Lease: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, id := range []string{"e1", "e2", "e3", "e4"} {
			if err := db.InTx(ctx, func(tx *store.Tx) error { return g.addEvent(ctx, tx, appli, id, map[string]any{"type": "test"}) }); err != nil {
				t.Fatal(err)
			}
		}
		// The same fact stored twice is one event.
		if err := db.InTx(ctx, func(tx *store.Tx) error { return g.addEvent(ctx, tx, appli, "e1", map[string]any{"type": "test"}) }); err != nil {
			t.Fatal(err)
		}
		runGateway(t, g)
		waitFor(t, 20*time.Second, "four events", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) >= 4
		})
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if strings.Join(got, ",") != "e1,e2,e3,e4" || refusals != 3 {
			t.Errorf("received %v after %d refusals", got, refusals)
		}
	}, Migrations()...)
}

// Issue 13 item 1: /readyz says which mailbox is not synchronised yet, in French.
func TestReadyz_notReady(t *testing.T) {
	db := storetest.Open(t, store.SQLite, Migrations()...)
	g, err := New(db, Options{Mailboxes: []Mailbox{{Address: appli, Conn: unreachable{}}}, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "pas encore synchronisée") ||
		rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("readyz: %d %s", rec.Code, rec.Body)
	}
}

// FolderDelivery names: <INS>/<act date>_<type>_<document id>, _inconnu/ without a valid INS,
// nothing outside the folder whatever the document says.
func TestFolderDelivery_path(t *testing.T) {
	f := &FolderDelivery{Dir: "/srv/in"}
	d := &Document{Identified: true, Patient: Patient{INS: "162036912304592"}, TypeCode: "11502-2",
		DocumentID: "1.2.3^CR-1", ActDate: time.Date(2025, 3, 10, 7, 15, 0, 0, time.UTC)}
	if got := f.Path(d); got != "/srv/in/162036912304592/20250310_11502-2_1.2.3_CR-1" {
		t.Errorf("path %s", got)
	}
	d = &Document{Patient: Patient{INS: "../../etc"}, TypeCode: "../x", DocumentID: "../../passwd"}
	if got := f.Path(d); got != "/srv/in/_inconnu/00000000_.._x_.._.._passwd" {
		t.Errorf("path %s", got)
	}
	d.Identified = true
	if got := f.Path(d); !strings.HasPrefix(got, "/srv/in/") || strings.Count(got, "/") != 4 {
		t.Errorf("path %s escapes the folder", got)
	}
}
