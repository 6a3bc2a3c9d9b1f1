package main

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/message"
)

// sync into the local store, then mail list/show/search offline: the fields of issue 9, the
// patient, the document type and the display subject of a CDA mail (ECO.1.0.2, ECO.3.1.2,
// ECO.3.1.3, ECO.3.2.2), a second sync that fetches nothing, and the Maildir.
func TestSyncAndMail(t *testing.T) {
	const carol = "carol@test.mssante.fr"
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, NoPostfix: true})
	root := testkit.ModuleRoot(t)
	cdaXML, err := os.ReadFile(filepath.Join(root, "cda", "testdata", "n3-cr-biologie.xml"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC)
	c, err := message.Compose(&message.Draft{From: message.Address{Name: "Dr Jean DUPONT", Addr: "jean.dupont@hopital-a.mssante.fr"},
		To: []message.Address{{Addr: carol}}, Text: "Compte rendu de biologie ci-joint.", CDAs: [][]byte{cdaXML}},
		&message.Options{Now: func() time.Time { return at }, Rand: rand.NewChaCha8([32]byte{'c', 'l', 'i'})})
	if err != nil {
		t.Fatal(err)
	}
	st.Deliver(carol, "INBOX", c.Data)
	patientMail, err := os.ReadFile(filepath.Join(root, "message", "testdata", "read", "patient-plain-order.eml"))
	if err != nil {
		t.Fatal(err)
	}
	st.Deliver(carol, "INBOX", patientMail)

	dir := t.TempDir()
	trustRoot := filepath.Join(dir, "root.pem")
	writeTestFile(t, trustRoot, pki.RootPEM())
	tokenFile := filepath.Join(dir, "token")
	writeTestFile(t, tokenFile, []byte(st.Token(carol, time.Hour)))
	data := filepath.Join(dir, "data")
	maildir := filepath.Join(dir, "Mail")
	syncArgs := []string{"sync", "--account", carol, "--token-file", tokenFile, "--imap", st.IMAP,
		"--trust-root", trustRoot, "--data-dir", data, "--maildir", maildir}

	out, errOut, code := runMain(t, syncArgs...)
	if code != 0 {
		t.Fatalf("sync: code %d: %s\n%s", code, errOut, st.Logs())
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("sync output %q: %v", out, err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range sum {
			if !yield(k) {
				return
			}
		}
	})
	if want := []string{"bytes", "folders", "messages", "new", "seconds"}; !slices.Equal(keys, want) {
		t.Errorf("summary fields %v, want %v", keys, want)
	}
	if sum["new"] != 2.0 || sum["messages"] != 2.0 || sum["bytes"].(float64) < float64(len(c.Data)) {
		t.Errorf("first sync summary %s", out)
	}
	out, errOut, code = runMain(t, syncArgs...)
	if code != 0 || !strings.Contains(out, `"new": 0`) {
		t.Errorf("second sync: code %d %s %s", code, out, errOut)
	}
	if files, _ := os.ReadDir(filepath.Join(maildir, "INBOX", "cur")); len(files) != 2 {
		t.Errorf("maildir INBOX/cur: %d files, want 2", len(files))
	}

	// Offline from here.
	out, errOut, code = runMain(t, "mail", "list", "--account", carol, "--data-dir", data, "--sort", "patient")
	if code != 0 {
		t.Fatalf("mail list: code %d: %s", code, errOut)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 2 {
		t.Fatalf("mail list: %d lines, want 2:\n%s", len(lines), out)
	}
	wantFields := []string{"date", "display_subject", "documents", "flags", "folder", "from", "message_id", "patient", "sender_kind", "size", "thread_id", "uid"}
	for _, l := range lines {
		var got []string
		for k := range l {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, wantFields) {
			t.Errorf("fields %v, want %v", got, wantFields)
		}
	}
	// --sort patient: the CDA's patient (CHATEAU Jérôme) before the patient who wrote (PETIT Clara).
	p, _ := lines[1]["patient"].(map[string]any)
	if lines[1]["sender_kind"] != "patient" || !reflect.DeepEqual(p, map[string]any{"birth_name": "PETIT", "given_names": "Clara", "ins": "291121305508744"}) {
		t.Errorf("patient line %v", lines[1])
	}
	docs, _ := lines[0]["documents"].([]any)
	if len(docs) != 1 || lines[0]["display_subject"] == c.Subject || strings.HasPrefix(lines[0]["display_subject"].(string), "XDM/") ||
		lines[0]["sender_kind"] != "professional" || lines[0]["patient"] != nil {
		t.Fatalf("CDA line %v", lines[0])
	}
	if d := docs[0].(map[string]any); d["type_code"] == "" || !strings.HasPrefix(d["patient_id"].(string), "162036912304592^^^&1.2.250.1.213.1.4.10") {
		t.Errorf("document %v", d)
	}

	out, errOut, code = runMain(t, "mail", "show", "--account", carol, "--data-dir", data, "--message-id", c.MessageID)
	if code != 0 || !strings.Contains(out, "Compte rendu de biologie") || !strings.Contains(out, "IHE_XDM.zip") {
		t.Errorf("mail show: code %d %s %s", code, out, errOut)
	}
	out, errOut, code = runMain(t, "mail", "search", "biologie", "--account", carol, "--data-dir", data)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, c.MessageID) {
		t.Errorf("mail search: code %d %s %s", code, out, errOut)
	}
	if _, errOut, code = runMain(t, "mail", "list", "--account", carol, "--data-dir", filepath.Join(dir, "empty")); code != 1 || !strings.Contains(errOut, "sync") {
		t.Errorf("mail list of a missing store: code %d %s, want 1 and a hint", code, errOut)
	}
	if _, _, code = runMain(t, "mail", "list", "--data-dir", data); code != 2 {
		t.Errorf("mail list without --account: code %d, want 2", code)
	}
	if _, _, code = runMain(t, "mail", "list", "--account", carol, "--sort", "size", "--data-dir", data); code != 2 {
		t.Errorf("mail list --sort size: code %d, want 2", code)
	}

	// The same on PostgreSQL (--db), when a server is given.
	if os.Getenv(storetest.EnvPostgres) == "" {
		return
	}
	pg := storetest.URL(t, store.Postgres)
	out, errOut, code = runMain(t, append(syncArgs[:len(syncArgs)-2], "--db", pg)...)
	if code != 0 || !strings.Contains(out, `"new": 2`) {
		t.Fatalf("sync --db postgres: code %d %s %s", code, out, errOut)
	}
	out, errOut, code = runMain(t, "mail", "list", "--account", carol, "--db", pg, "--sort", "patient")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"birth_name":"PETIT"`) {
		t.Errorf("mail list --db postgres: code %d %s %s", code, out, errOut)
	}
}
