package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

func newTrail(db *store.DB, now func() time.Time) *Trail {
	return New(db, &Options{Now: now})
}

func clock(start time.Time) func() time.Time {
	t := start
	return func() time.Time { t = t.Add(time.Minute); return t }
}

var paris = time.FixedZone("CET", 3600)

func fill(t *testing.T, tr *Trail, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		_, err := tr.Append(context.Background(), Event{
			Author: "899700000001", Account: "marie.martin@medecin.sandbox.test", Action: ActionSend,
			Server: "smtp.sandbox.test:587", Request: "MAIL FROM:<marie.martin@medecin.sandbox.test>",
			Response: "250 2.1.0 Ok", OK: true,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// ECO.4.1.1, ECO.4.1.2: every event keeps author, local time, action, request and answer, and the
// chain verifies.
func TestAppend_keepsTheFieldsOfECO412(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tr := newTrail(db, clock(time.Date(2026, 11, 28, 10, 0, 0, 0, paris)))
		ctx := context.Background()
		e, err := tr.Append(ctx, Event{Author: "899700000001", Account: "a@b.test", Action: ActionConnect,
			Server: "imap.b.test:143", Request: "STARTTLS", Response: "BAD TLS handshake", OK: false, Error: "x509: certificate signed by unknown authority"})
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != 1 || e.Hash == "" || e.Time.IsZero() {
			t.Fatalf("Append = %+v", e)
		}
		var buf bytes.Buffer
		if n, err := tr.Export(ctx, &buf, time.Time{}); err != nil || n != 1 {
			t.Fatalf("Export = %d, %v", n, err)
		}
		var got Event
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Author != "899700000001" || got.Action != ActionConnect || got.Request != "STARTTLS" || got.Response != "BAD TLS handshake" || got.OK || got.Error == "" {
			t.Errorf("exported %+v", got)
		}
		if _, off := got.Time.Zone(); off != 3600 {
			t.Errorf("time %v lost its local offset", got.Time)
		}
		if r, err := tr.Verify(ctx); err != nil || r.Events != 1 || r.HeadHash != e.Hash {
			t.Errorf("Verify = %+v, %v", r, err)
		}
	}, Migrations...)
}

// ECO.4.1.2 "traces get the same protection as the data": Verify finds a changed, an inserted and
// a removed record.
func TestVerify_findsTampering(t *testing.T) {
	cases := map[string]string{
		"changed":                   `UPDATE audit_events SET response = '550 refused' WHERE seq = 3`,
		"inserted":                  `INSERT INTO audit_events SELECT 100, time, author, account, action, server, request, response, ok, error, hash FROM audit_events WHERE seq = 2`,
		"removed":                   `DELETE FROM audit_events WHERE seq = 3`,
		"copied from another event": `UPDATE audit_events SET time = (SELECT time FROM audit_events WHERE seq = 4), hash = (SELECT hash FROM audit_events WHERE seq = 4) WHERE seq = 2`,
		"rehashed but unlinked":     `UPDATE audit_events SET author = 'intrus' WHERE seq = 5`,
		// Found by acceptance QA with the sqlite3 CLI: the end of the trail, the bookkeeping
		// records and a time that no longer parses.
		"last removed":            `DELETE FROM audit_events WHERE seq = 5`,
		"tail removed":            `DELETE FROM audit_events WHERE seq >= 3`,
		"all removed":             `DELETE FROM audit_events`,
		"all and anchor removed":  `DELETE FROM audit_events; DELETE FROM audit_anchor`,
		"head removed":            `DELETE FROM audit_head`,
		"time unparseable":        `UPDATE audit_events SET time = '2026-01-01T00:00:00Z' WHERE seq = 1`,
		"last replaced by a copy": `UPDATE audit_events SET hash = (SELECT hash FROM audit_events WHERE seq = 4) WHERE seq = 5`,
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				tr := newTrail(db, clock(time.Date(2026, 11, 28, 10, 0, 0, 0, paris)))
				fill(t, tr, 5)
				if _, err := tr.Verify(context.Background()); err != nil {
					t.Fatalf("untouched trail: %v", err)
				}
				if _, err := tr.db.ExecContext(context.Background(), tamper); err != nil {
					t.Fatal(err)
				}
				r, err := tr.Verify(context.Background())
				if !errors.Is(err, ErrTampered) || len(r.Problems) == 0 {
					t.Errorf("Verify after %s = %+v, %v; want ErrTampered", name, r, err)
				}
			}, Migrations...)
		})
	}
}

// A trail created before the head record (migration 1 only) gets its head from the last event
// and still verifies.
func TestMigration_headFromExistingTrail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tr := newTrail(db, clock(time.Date(2026, 11, 28, 10, 0, 0, 0, paris)))
		fill(t, tr, 3)
		ctx := context.Background()
		if _, err := tr.db.ExecContext(context.Background(), `DROP TABLE audit_head; DELETE FROM schema_migrations WHERE package = 'audit' AND version = 2`); err != nil {
			t.Fatal(err)
		}
		if err := store.Migrate(ctx, tr.db, Migrations...); err != nil {
			t.Fatal(err)
		}
		if r, err := tr.Verify(ctx); err != nil || r.Events != 3 {
			t.Fatalf("Verify after migration = %+v, %v", r, err)
		}
		fill(t, tr, 1)
		if _, err := tr.db.ExecContext(context.Background(), `DELETE FROM audit_events WHERE seq = 4`); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Verify(ctx); !errors.Is(err, ErrTampered) {
			t.Errorf("removed last event after migration: Verify = %v", err)
		}
	}, Migrations...)
}

// ECO.4.1.1: six months of retention by default; pruning keeps the rest verifiable.
func TestPrune_keepsChainVerifiable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, paris)
		tr := newTrail(db, func() time.Time { return now })
		for i := 0; i < 10; i++ {
			now = now.Add(30 * 24 * time.Hour)
			fill(t, tr, 1)
		}
		n, err := tr.Prune(context.Background(), DefaultRetention)
		// Events at days 30, 60 … 300; at day 300 the events of days 30, 60 and 90 are older than 183 days.
		if err != nil || n != 3 {
			t.Fatalf("Prune = %d, %v; want 3 events older than six months", n, err)
		}
		r, err := tr.Verify(context.Background())
		if err != nil || r.Events != 7 || r.FirstSeq != 4 {
			t.Fatalf("Verify after prune = %+v, %v", r, err)
		}
		fill(t, tr, 1)
		if _, err := tr.Verify(context.Background()); err != nil {
			t.Errorf("Verify after prune and append: %v", err)
		}
		// Every event past the retention: the empty trail verifies against its head, and grows again.
		now = now.Add(365 * 24 * time.Hour)
		if n, err := tr.Prune(context.Background(), DefaultRetention); err != nil || n != 8 {
			t.Fatalf("Prune all = %d, %v", n, err)
		}
		if r, err := tr.Verify(context.Background()); err != nil || r.Events != 0 {
			t.Errorf("Verify of the emptied trail = %+v, %v", r, err)
		}
		fill(t, tr, 1)
		if r, err := tr.Verify(context.Background()); err != nil || r.Events != 1 {
			t.Errorf("Verify after prune all and append = %+v, %v", r, err)
		}
	}, Migrations...)
}

// ECO.1.2.5: no token reaches the trail, whatever the caller passes.
func TestAppend_redactsSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tr := newTrail(db, nil)
		jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI4OTk3MDAwMDAwMDEifQ.c2lnbmF0dXJlLXNlY3JldA"
		xoauth := base64.StdEncoding.EncodeToString([]byte("user=a@b.test\x01auth=Bearer " + jwt + "\x01\x01"))
		plain := base64.StdEncoding.EncodeToString([]byte("\x00a@b.test\x00s3cr3t-password"))
		inputs := []string{
			"AUTHENTICATE XOAUTH2 " + xoauth,
			"a1 AUTHENTICATE PLAIN " + plain,
			xoauth, // continuation line alone
			plain,
			"AUTH XOAUTH2 " + xoauth,
			"Authorization: Bearer " + jwt,
			`{"access_token":"` + jwt + `","refresh_token":"opaque-refresh-value"}`,
			"a2 LOGIN a@b.test s3cr3t-password",
			"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
		}
		for _, in := range inputs {
			if _, err := tr.Append(context.Background(), Event{Author: "x", Account: "a@b.test", Action: ActionAuth, Request: in, Response: in, Error: in}); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if _, err := tr.Export(context.Background(), &buf, time.Time{}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, secret := range []string{jwt, xoauth, plain, "s3cr3t-password", "opaque-refresh-value", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "c2lnbmF0dXJlLXNlY3JldA"} {
			if strings.Contains(out, secret) {
				t.Errorf("secret %q reached the trail:\n%s", secret, out)
			}
		}
		if !strings.Contains(out, "AUTHENTICATE XOAUTH2 ***") {
			t.Errorf("the redacted command should still say what was done:\n%s", out)
		}
	}, Migrations...)
}

func TestExport_since(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tr := newTrail(db, clock(time.Date(2026, 11, 28, 10, 0, 0, 0, paris)))
		fill(t, tr, 5)
		var buf bytes.Buffer
		n, err := tr.Export(context.Background(), &buf, time.Date(2026, 11, 28, 10, 3, 0, 0, paris))
		if err != nil || n != 3 || strings.Count(buf.String(), "\n") != 3 {
			t.Errorf("Export(since 10:03) = %d, %v:\n%s", n, err, buf.String())
		}
	}, Migrations...)
}

func TestAppend_concurrentStaysLinear(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tr := newTrail(db, nil)
		done := make(chan error)
		for g := 0; g < 4; g++ {
			go func() {
				var err error
				for i := 0; i < 10 && err == nil; i++ {
					_, err = tr.Append(context.Background(), Event{Author: "x", Account: "a", Action: ActionList, Request: "UID SEARCH ALL", Response: "OK", OK: true})
				}
				done <- err
			}()
		}
		for g := 0; g < 4; g++ {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if r, err := tr.Verify(context.Background()); err != nil || r.Events != 40 {
			t.Errorf("Verify = %+v, %v", r, err)
		}
	}, Migrations...)
}
