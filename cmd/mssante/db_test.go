package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// envRunArgs turns the test binary into "mssante ARGS…" (JSON array), for tests that need
// several processes.
const envRunArgs = "MSSANTE_TEST_RUN_ARGS"

// TestHelperRunMain is not a test: run as a child process, it is the mssante command.
func TestHelperRunMain(t *testing.T) {
	raw := os.Getenv(envRunArgs)
	if raw == "" {
		t.Skip("helper process")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	os.Exit(run(context.Background(), &cmdEnv{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}, args))
}

func mssanteProcess(args ...string) *exec.Cmd {
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRunMain$", "-test.count=1")
	cmd.Env = append(os.Environ(), envRunArgs+"="+string(raw))
	return cmd
}

// ECO.4.1.2, issue 12 acceptance: two mssante processes append to the trail of one database at
// the same time ("audit append --count"), then "audit verify --db" succeeds, and finds a changed
// record; on SQLite and on PostgreSQL.
func TestAuditCLI_twoProcessesThenVerify(t *testing.T) {
	if os.Getenv(envRunArgs) != "" {
		t.Skip("in a helper process")
	}
	storetestEachURL(t, func(t *testing.T, url string) {
		const each = 200
		var cmds []*exec.Cmd
		var outs []*strings.Builder
		for _, who := range []string{"ops-A", "ops-B"} {
			cmd := mssanteProcess("audit", "append", "--action", "note", "--detail", "concurrent append by "+who,
				"--author", who, "--count", fmt.Sprint(each), "--pause", "1ms", "--db", url)
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds, outs = append(cmds, cmd), append(outs, out)
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("audit append process %d: %v\n%s", i, err, outs[i])
			}
			if !strings.Contains(outs[i].String(), fmt.Sprintf(`"appended": %d`, each)) {
				t.Fatalf("audit append process %d: %s", i, outs[i])
			}
		}
		out, errOut, code := runMain(t, "audit", "verify", "--db", url)
		if code != 0 || !strings.Contains(out, fmt.Sprintf(`"events": %d`, 2*each)) {
			t.Fatalf("audit verify: code %d\n%s%s", code, out, errOut)
		}
		out, _, code = runMain(t, "audit", "export", "--db", url)
		if code != 0 || strings.Count(out, "\n") != 2*each || !strings.Contains(out, `"action":"note"`) {
			t.Fatalf("audit export: code %d, %d lines", code, strings.Count(out, "\n"))
		}
		db, err := store.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(context.Background(), `UPDATE audit_events SET request = 'rewritten' WHERE seq = ?`, each/2); err != nil {
			t.Fatal(err)
		}
		db.Close()
		out, errOut, code = runMain(t, "audit", "verify", "--db", url)
		if code != 1 || !strings.Contains(errOut, "tampered") || !strings.Contains(out, fmt.Sprintf(`"seq": %d`, each/2)) {
			t.Fatalf("audit verify after a change: code %d\n%s%s", code, out, errOut)
		}
	})
}

// storetestEachURL runs f on a fresh database URL of each dialect.
func storetestEachURL(t *testing.T, f func(t *testing.T, url string)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { f(t, storetest.URL(t, d)) })
	}
}

// A database without a trail (a mistyped --db) is an error, and opening it to look wrote nothing.
func TestAuditCLI_verifyRefusesADatabaseWithoutTrail(t *testing.T) {
	storetestEachURL(t, func(t *testing.T, url string) {
		if strings.HasPrefix(url, "sqlite:") {
			// A file that exists but holds no trail.
			db, err := store.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		}
		for _, verb := range []string{"verify", "export"} {
			_, errOut, code := runMain(t, "audit", verb, "--db", url)
			if code != 1 || !strings.Contains(errOut, "no audit trail") {
				t.Errorf("audit %s of an empty database: code %d, %s", verb, code, errOut)
			}
		}
		db, err := store.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if v, err := db.Version(context.Background(), "audit"); err != nil || v != 0 {
			t.Errorf("audit schema version after verify = %d, %v; want nothing written", v, err)
		}
	})
}

// The password of a --db URL is never printed, in errors or in --help.
func TestDBFlag_neverPrintsThePassword(t *testing.T) {
	const secret = "Sup3r-s3cret-pw"
	url := "postgres://mssante:" + secret + "@127.0.0.1:1/mssante?sslmode=disable&connect_timeout=5"
	for _, args := range [][]string{
		{"audit", "verify", "--db", url},
		{"audit", "export", "--db", url},
		{"audit", "append", "--action", "note", "--db", url},
		{"patients", "list", "--db", url},
	} {
		out, errOut, code := runMain(t, args...)
		if code != 1 || strings.Contains(out+errOut, secret) {
			t.Errorf("%v: code %d, output shows the password or did not fail:\n%s%s", args[:2], code, out, errOut)
		}
	}
	// An unknown scheme is refused by the configuration, a usage error (exit 2), redacted too.
	for _, args := range [][]string{
		{"audit", "verify", "--db", "mysql://u:" + secret + "@h/db"},
	} {
		out, errOut, code := runMain(t, args...)
		if code != 2 || strings.Contains(out+errOut, secret) {
			t.Errorf("%v: code %d, output shows the password or did not fail:\n%s%s", args[:2], code, out, errOut)
		}
	}
	t.Setenv("MSSANTE_DB", url)
	out, errOut, _ := runMain(t, "audit", "verify", "--help")
	if strings.Contains(out+errOut, secret) {
		t.Errorf("--help shows MSSANTE_DB's password:\n%s", out)
	}
}

// MSSANTE_DB names the database when --db is not given; --db wins over it.
func TestDBFlag_envAndFlag(t *testing.T) {
	dir := t.TempDir()
	envURL := "sqlite:" + filepath.Join(dir, "from-env.db")
	flagURL := "sqlite:" + filepath.Join(dir, "from-flag.db")
	t.Setenv("MSSANTE_DB", envURL)
	if _, errOut, code := runMain(t, "audit", "append", "--action", "note", "--data-dir", dir); code != 0 {
		t.Fatalf("append: %d %s", code, errOut)
	}
	if _, errOut, code := runMain(t, "audit", "append", "--action", "note", "--count", "2", "--db", flagURL); code != 0 {
		t.Fatalf("append --db: %d %s", code, errOut)
	}
	for url, want := range map[string]string{envURL: `"events": 1`, flagURL: `"events": 2`} {
		if out, errOut, code := runMain(t, "audit", "verify", "--db", url); code != 0 || !strings.Contains(out, want) {
			t.Errorf("verify %s: %d %s%s", url, code, out, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err == nil {
		t.Errorf("the data directory's database was used despite MSSANTE_DB")
	}
	if _, _, code := runMain(t, "audit", "append", "--action", "reboot", "--data-dir", dir); code != 2 {
		t.Errorf("unknown action: code %d, want 2", code)
	}
}

// The known patients live in the database of --db, on both dialects.
func TestPatientsCLI_db(t *testing.T) {
	storetestEachURL(t, func(t *testing.T, url string) {
		dir := t.TempDir()
		add := []string{"patients", "add", "--ins", testNIR(t, "2790351215189"), "--oid", "1.2.250.1.213.1.4.10",
			"--birth-name", "LEFÈVRE", "--first-name", "Héloïse", "--birth-date", "1979-03-12", "--sex", "F",
			"--status", "qualifiee", "--db", url, "--data-dir", dir}
		if _, errOut, code := runMain(t, add...); code != 0 {
			t.Fatalf("patients add: %d %s", code, errOut)
		}
		out, errOut, code := runMain(t, "patients", "search", "heloise", "--db", url, "--data-dir", dir)
		if code != 0 || !strings.Contains(out, "LEFÈVRE") {
			t.Fatalf("patients search: %d %s%s", code, out, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, store.FileName)); err == nil {
			t.Errorf("patients written to the data directory instead of --db")
		}
	})
}

// A patients.db of the earlier releases is imported once into the main database, then renamed.
func TestPatientsCLI_importsTheLegacyFileOnce(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, patients.LegacyFileName)
	raw, err := sql.Open("sqlite", "file:"+legacy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE patients (id INTEGER PRIMARY KEY, matricule TEXT NOT NULL DEFAULT '',
		oid TEXT NOT NULL DEFAULT '', birth_name TEXT NOT NULL, used_name TEXT NOT NULL DEFAULT '',
		first_name TEXT NOT NULL, given_names TEXT NOT NULL DEFAULT '', birth_date TEXT NOT NULL DEFAULT '',
		sex TEXT NOT NULL DEFAULT '', birthplace_code TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
		opposition INTEGER NOT NULL DEFAULT 0, search_key TEXT NOT NULL, created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL);
		INSERT INTO patients (birth_name, first_name, status, search_key, created_at, updated_at)
		VALUES ('N''DIAYE', 'Awa', 'provisoire', ' n diaye awa ', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
		PRAGMA user_version = 3`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	out, errOut, code := runMain(t, "patients", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "DIAYE") || !strings.Contains(errOut, "1 patients connus importés") {
		t.Fatalf("first list: %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(legacy + ".imported"); err != nil {
		t.Fatalf("legacy file not renamed: %v", err)
	}
	out, errOut, code = runMain(t, "patients", "list", "--data-dir", dir)
	if code != 0 || strings.Count(out, "DIAYE") != 1 || errOut != "" {
		t.Fatalf("second list: %d\n%s%s", code, out, errOut)
	}
}
