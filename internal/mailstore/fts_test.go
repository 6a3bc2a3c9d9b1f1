package mailstore

import (
	"testing"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// ECO.3.2.2 (search): the SQLite full text of a database indexed by the insert trigger of schema
// version 2 stays right once version 3 has the transactions write it (indexTextTx): old and new
// messages are found, a removed one is no longer, and FTS5's integrity check against the content
// table passes ('integrity-check' with rank 1: an index that got a row twice, or lost one, fails).
func TestFullText_triggerToTransaction(t *testing.T) {
	ctx := ctxT(t)
	db := storetest.Open(t, store.SQLite, Migrations()[:2]...)
	// A message as schema version 2 stored it: the trigger indexes its text.
	if _, err := db.ExecContext(ctx, `INSERT INTO mail_accounts (address) VALUES (?)`, drMartin); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO mail_folders (account_id, name) VALUES (1, 'INBOX')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO mail_messages (account_id, folder_id, uid, uidvalidity, search_text)
		VALUES (1, 1, 1, 7, 'ancien compte rendu radiologie')`); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, db, Migrations()...); err != nil {
		t.Fatal(err)
	}
	s := New(db, nil)
	put(t, s, drMartin, "INBOX", 2, plainMail(drDupont, "Dr Jean DUPONT", "Échographie", "e2@x", t0, "Le foie est normal."))
	put(t, s, drMartin, "INBOX", 3, plainMail(drDupont, "Dr Jean DUPONT", "Radiologie", "e3@x", t0, "Cliché du thorax."))
	integrity := func() {
		t.Helper()
		if _, err := db.ExecContext(ctx, `INSERT INTO mail_fts (mail_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
			t.Fatalf("full-text index inconsistent: %v", err)
		}
	}
	integrity()
	search := func(q string) []uint32 {
		t.Helper()
		found, err := s.Search(ctx, q, 10, drMartin)
		if err != nil {
			t.Fatal(err)
		}
		var uids []uint32
		for _, m := range found {
			uids = append(uids, m.UID)
		}
		return uids
	}
	if got := search("radiologie"); len(got) != 2 {
		t.Errorf("radiologie: UIDs %v, want 1 and 3", got)
	}
	if got := search("foie"); len(got) != 1 || got[0] != 2 {
		t.Errorf("foie: UIDs %v, want 2", got)
	}
	if err := s.remove(ctx, []int64{1}); err != nil {
		t.Fatal(err)
	}
	integrity()
	if got := search("radiologie"); len(got) != 1 || got[0] != 3 {
		t.Errorf("radiologie after removal: UIDs %v, want 3", got)
	}
}
