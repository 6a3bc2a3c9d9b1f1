package gateway

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// Issue 13 item 3 against Dovecot + Postfix, on both dialects: drops of one or several CDA of
// one patient are sent once and moved to sent/ with NAME.status.json; malformed drops end in
// error/ with a French reason; a drop left in processing/ by a dead process is sent once.
func TestGateway_dropFolder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := newPeer(t)
		out := filepath.Join(p.dir, "out")
		for _, d := range []string{out, filepath.Join(out, dropProcessing), filepath.Join(out, dropSent)} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		write := func(name string, data []byte) {
			t.Helper()
			if err := os.WriteFile(filepath.Join(out, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		side := func(v any) []byte { b, _ := json.Marshal(v); return b }
		write("cr1.xml", cdaFixture(t, "n3-cr-biologie.xml", "DROP-1"))
		write("cr1.json", side(map[string]any{"to": []string{bob}, "body": "Résultats.", "dsn": true}))
		write("multi.1.xml", cdaFixture(t, "n3-cr-biologie.xml", "DROP-2a"))
		write("multi.2.xml", cdaFixture(t, "n3-cr-biologie.xml", "DROP-2b"))
		write("multi.json", side(map[string]any{"to": []string{bob}, "cc": []string{}, "body": "Deux comptes rendus."}))
		write("bad.xml", cdaFixture(t, "n3-cr-biologie.xml", "DROP-3"))
		write("bad.json", []byte(`{"to": [`))
		write("orphan.json", side(map[string]any{"to": []string{bob}}))
		write("typo.xml", cdaFixture(t, "n3-cr-biologie.xml", "DROP-4"))
		write("typo.json", []byte(`{"too": ["`+bob+`"]}`))
		write("norcpt.xml", cdaFixture(t, "n3-cr-biologie.xml", "DROP-5"))
		write("norcpt.json", side(map[string]any{"body": "Sans destinataire."}))
		write("notcda.xml", []byte("<pas-un-cda/>"))
		write("notcda.json", side(map[string]any{"to": []string{bob}}))
		// Claimed by a process that died before moving its CDA: resumed.
		write(filepath.Join(dropProcessing, "resumed.json"), side(map[string]any{"to": []string{bob}, "body": "Repris."}))
		write("resumed.xml", cdaFixture(t, "n3-cr-biologie.xml", "DROP-6"))
		// Sent by a process that died while moving it: the sidecar and status in sent/, the CDA
		// files still in processing/ (a sweep completes the move; resumed, it failed for want of
		// documents).
		write(filepath.Join(dropSent, "moved.json"), side(map[string]any{"to": []string{bob}}))
		write(filepath.Join(dropSent, "moved.status.json"), side(DropStatus{Drop: "moved", ID: 99, MessageID: "<x@y>", State: "sent"}))
		write(filepath.Join(dropProcessing, "moved.xml"), cdaFixture(t, "n3-cr-biologie.xml", "DROP-7a"))
		write(filepath.Join(dropProcessing, "moved.1.xml"), cdaFixture(t, "n3-cr-biologie.xml", "DROP-7b"))

		g, err := New(db, Options{Mailboxes: []Mailbox{{Address: appli, Label: "Laboratoire Test", Conn: p.conn[appli]}},
			OutboxDir: out, Poll: 100 * time.Millisecond, Lease: 6 * time.Second, Reidle: 2 * time.Second, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		runGateway(t, g)

		sent := map[string]DropStatus{}
		waitFor(t, 60*time.Second, "the drops in sent/ and error/", func() bool {
			for _, n := range []string{"cr1", "multi", "resumed"} {
				b, err := os.ReadFile(filepath.Join(out, dropSent, n+".status.json"))
				if err != nil {
					return false
				}
				var st DropStatus
				if err := json.Unmarshal(b, &st); err != nil {
					t.Fatal(err)
				}
				sent[n] = st
			}
			for _, n := range []string{"bad", "orphan", "typo", "norcpt", "notcda"} {
				if _, err := os.Stat(filepath.Join(out, dropError, n+".json")); err != nil {
					return false
				}
			}
			return true
		})
		reasons := map[string]string{"bad": "illisible", "orphan": "aucun document CDA", "typo": "illisible",
			"norcpt": "aucun destinataire", "notcda": "requête invalide"}
		for n, want := range reasons {
			b, err := os.ReadFile(filepath.Join(out, dropError, n+".error.txt"))
			if err != nil || !strings.Contains(string(b), want) {
				t.Errorf("error/%s.error.txt = %q (%v), want %q", n, b, err, want)
			}
		}
		for _, f := range []string{"cr1.xml", "multi.1.xml", "multi.2.xml", "resumed.xml", "resumed.json", "moved.xml", "moved.1.xml"} {
			if _, err := os.Stat(filepath.Join(out, dropSent, f)); err != nil {
				t.Errorf("sent/%s: %v", f, err)
			}
		}
		for _, f := range []string{"bad.xml", "typo.xml"} {
			if _, err := os.Stat(filepath.Join(out, dropError, f)); err != nil {
				t.Errorf("error/%s: %v", f, err)
			}
		}
		left, _ := os.ReadDir(filepath.Join(out, dropProcessing))
		if len(left) != 0 {
			t.Errorf("processing/ still holds %d files", len(left))
		}

		// bob receives each sent drop once, under the Message-ID of its status file.
		bic := p.bobIMAP(t)
		var ids []string
		waitFor(t, 60*time.Second, "three mails for bob", func() bool {
			ids = folderMessages(t, bic, "INBOX")
			return len(ids) >= 3
		})
		time.Sleep(time.Second)
		ids = folderMessages(t, bic, "INBOX")
		if len(ids) != 3 {
			t.Errorf("bob received %v", ids)
		}
		for n, st := range sent {
			if !slices.Contains(ids, st.MessageID) {
				t.Errorf("drop %s: Message-ID %s not received (%v)", n, st.MessageID, ids)
			}
		}
		// Dropping the same files again is a new drop: the content is the same, so the drop id
		// and the Message-ID are too, and the outbox stores nothing new.
		write("cr1.xml", cdaFixture(t, "n3-cr-biologie.xml", "DROP-1"))
		write("cr1.json", side(map[string]any{"to": []string{bob}, "body": "Résultats.", "dsn": true}))
		waitFor(t, 30*time.Second, "the second cr1 drop", func() bool {
			_, err := os.Stat(filepath.Join(out, "cr1.json"))
			_, err2 := os.Stat(filepath.Join(out, dropProcessing, "cr1.json"))
			return os.IsNotExist(err) && os.IsNotExist(err2)
		})
		es, err := g.Outbox().List(ctxT(t), outboxFilterAll())
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 3 {
			t.Errorf("outbox holds %d messages, want 3", len(es))
		}
	}, Migrations()...)
}

// Two gateways scanning one drop folder (and resuming each other's processing/) send each drop
// once and refuse none: a drop being processed is left to its process (lease "drop:NAME").
func TestGateway_twoGatewaysOneDropFolder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := newPeer(t)
		out := filepath.Join(p.dir, "out")
		if err := os.MkdirAll(out, 0o700); err != nil {
			t.Fatal(err)
		}
		const n = 24
		for i := range n {
			name := fmt.Sprintf("d%02d", i)
			if err := os.WriteFile(filepath.Join(out, name+".xml"), cdaFixture(t, "n3-cr-biologie.xml", "TWO-"+name), 0o600); err != nil {
				t.Fatal(err)
			}
			side, _ := json.Marshal(map[string]any{"to": []string{bob}})
			if err := os.WriteFile(filepath.Join(out, name+".json"), side, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			g, err := New(db, Options{Mailboxes: []Mailbox{{Address: appli, Conn: p.conn[appli]}},
				OutboxDir: out, Poll: 20 * time.Millisecond, Lease: 6 * time.Second, Reidle: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			runGateway(t, g)
		}
		waitFor(t, 90*time.Second, "every drop in sent/", func() bool {
			st, _ := filepath.Glob(filepath.Join(out, dropSent, "*.status.json"))
			return len(st) == n
		})
		if errs, _ := os.ReadDir(filepath.Join(out, dropError)); len(errs) != 0 {
			t.Errorf("%d files in error/", len(errs))
		}
		bic := p.bobIMAP(t)
		waitFor(t, 60*time.Second, "the mails at bob", func() bool { return len(folderMessages(t, bic, "INBOX")) >= n })
		time.Sleep(time.Second)
		ids := folderMessages(t, bic, "INBOX")
		seen := map[string]bool{}
		for _, id := range ids {
			seen[id] = true
		}
		if len(ids) != n || len(seen) != n {
			t.Errorf("bob received %d mails, %d Message-IDs, want %d", len(ids), len(seen), n)
		}
	}, Migrations()...)
}
