package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/store"
	_ "modernc.org/sqlite"
)

// ECO.4.1.1, ECO.4.1.2: "audit verify" catches a tampered trail; "audit export" writes JSON lines.
func TestAuditVerifyExport(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	trail, closeDB, err := openAuditURL(ctx, store.DefaultURL(dir), audit.DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []audit.Action{audit.ActionConnect, audit.ActionAuth, audit.ActionSend} {
		if _, err := trail.Append(ctx, audit.Event{Author: "899700000001", Account: "a@b.test", Action: a, Request: string(a), Response: "OK", OK: true}); err != nil {
			t.Fatal(err)
		}
	}
	closeDB()
	out, _, code := runMain(t, "audit", "verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, `"events": 3`) {
		t.Fatalf("verify: code %d, %s", code, out)
	}
	out, _, code = runMain(t, "audit", "export", "--data-dir", dir)
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"action":"auth"`) {
		t.Fatalf("export: code %d, %s", code, out)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_events SET response = 'NO' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, errOut, code := runMain(t, "audit", "verify", "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "tampered") || !strings.Contains(out, `"seq": 2`) {
		t.Errorf("verify after tampering: code %d, stdout %s, stderr %s", code, out, errOut)
	}
	// A data directory without a trail is an error, not an intact empty trail.
	empty := filepath.Join(dir, "nothing-here")
	for _, cmd := range []string{"verify", "export"} {
		if _, errOut, code := runMain(t, "audit", cmd, "--data-dir", empty); code != 1 || !strings.Contains(errOut, "no audit trail") {
			t.Errorf("audit %s of a directory without a trail: code %d, stderr %q", cmd, code, errOut)
		}
	}
}
