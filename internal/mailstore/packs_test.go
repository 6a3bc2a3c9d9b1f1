package mailstore

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// packFiles lists the pack files of s.
func packFiles(t *testing.T, s *Store) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.packs.dir, "*"+packSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// ECO.1.0.2: on SQLite the bodies are in pack files beside the database, read back byte for
// byte; a damaged or cut pack, or a reference that leaves the directory, is an error, never
// wrong bytes; a body stored before the packs (schema 3, mail_bodies) is still read.
func TestPacks_bodies_ECO_1_0_2(t *testing.T) {
	ctx := ctxT(t)
	db := storetest.Open(t, store.SQLite, Migrations()...)
	s := New(db, nil)
	if s.packs == nil || s.packs.dir != db.Path()+"-bodies" {
		t.Fatalf("packs %+v for %s", s.packs, db.Path())
	}
	raws := [][]byte{
		plainMail(drDupont, "Dr Jean DUPONT", "Avis 1", "p1@x", t0, "premier"),
		cdaMail(t, "n3-cr-biologie.xml", 1, t0).Data,
		plainMail(drDupont, "Dr Jean DUPONT", "Avis 3", "p3@x", t0, strings.Repeat("troisième ", 5000)),
	}
	var ids []int64
	for i, raw := range raws {
		ids = append(ids, put(t, s, drMartin, "INBOX", uint32(i+1), raw))
	}
	var inTable int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM mail_bodies`).Scan(&inTable); err != nil || inTable != 0 {
		t.Fatalf("%d bodies in mail_bodies (%v), want 0", inTable, err)
	}
	files := packFiles(t, s)
	if len(files) != 1 {
		t.Fatalf("pack files %v, want one", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("pack %v %v, want mode 0600", fi, err)
	}
	for i, id := range ids {
		got, err := s.body(ctx, id)
		if err != nil || string(got) != string(raws[i]) {
			t.Fatalf("body %d: %d bytes, %v; want %d bytes", i, len(got), err, len(raws[i]))
		}
	}

	// A body of the schema before the packs.
	acc, _ := s.accountID(ctx, drMartin, false)
	f, _ := s.folder(ctx, acc, "INBOX")
	old := plainMail(drDupont, "Dr Jean DUPONT", "Ancien", "old@x", t0, "ancien")
	var oldID int64
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		oldID, err = insertTx(ctx, tx, acc, f.ID, &fetched{UID: 9, UIDValidity: 7, Raw: old}, index(old, nil), nil, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.body(ctx, oldID); err != nil || string(got) != string(old) {
		t.Fatalf("body in mail_bodies: %q, %v", got, err)
	}

	// One byte changed in the second body: its checksum fails, the others still read.
	var pos int64
	if err := db.QueryRowContext(ctx, `SELECT pos FROM mail_body_files WHERE message_ref = ?`, ids[1]).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(files[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt([]byte{'#'}, pos+10); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if _, err := s.body(ctx, ids[1]); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged body: %v, want a checksum error", err)
	}
	if got, err := s.body(ctx, ids[0]); err != nil || string(got) != string(raws[0]) {
		t.Errorf("first body after damage to the second: %v", err)
	}
	// Cut short (a crash of the system before the data reached the disk).
	if err := os.Truncate(files[0], pos+5); err != nil {
		t.Fatal(err)
	}
	if _, err := s.body(ctx, ids[2]); err == nil {
		t.Error("body beyond the end of a cut pack: no error")
	}
	// A reference outside the directory is refused before any file is opened.
	if _, err := db.ExecContext(ctx, `UPDATE mail_body_files SET pack = '../mssante.db' WHERE message_ref = ?`, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.body(ctx, ids[0]); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("reference outside the pack directory: %v", err)
	}
}

// Packs end at their size or age, and a pack no message refers to any more is removed once it
// has been left alone for packIdle; the one in use and the recent ones stay.
func TestPacks_rotationAndCollection(t *testing.T) {
	ctx := ctxT(t)
	db := storetest.Open(t, store.SQLite, Migrations()...)
	now := t0
	s := New(db, &Options{Now: func() time.Time { return now }})
	s.packs.maxSize = 1 << 10 // every body ends its pack
	big := plainMail(drDupont, "Dr Jean DUPONT", "Gros", "g1@x", t0, strings.Repeat("x", 2<<10))
	id1 := put(t, s, drMartin, "INBOX", 1, big)
	id2 := put(t, s, drMartin, "INBOX", 2, plainMail(drDupont, "Dr Jean DUPONT", "Petit", "g2@x", t0, "y"))
	if n := len(packFiles(t, s)); n != 2 {
		t.Fatalf("%d packs after a body over the size, want 2", n)
	}
	s.packs.maxSize = packMaxSize
	now = now.Add(packMaxAge + time.Minute)
	id3 := put(t, s, drMartin, "INBOX", 3, plainMail(drDupont, "Dr Jean DUPONT", "Tard", "g3@x", t0, "z"))
	files := packFiles(t, s)
	if len(files) != 3 {
		t.Fatalf("%d packs after packMaxAge, want 3", len(files))
	}

	// The first two packs lose their messages; only the first has been idle long enough.
	if err := s.remove(ctx, []int64{id1, id2}); err != nil {
		t.Fatal(err)
	}
	ref := func(id int64) string {
		var name string
		if err := db.QueryRowContext(ctx, `SELECT pack FROM mail_body_files WHERE message_ref = ?`, id).Scan(&name); err != nil {
			t.Fatal(err)
		}
		return name
	}
	live := ref(id3)
	now = now.Add(packIdle)
	old := now.Add(-packIdle - time.Minute)
	if err := os.Chtimes(files[0], old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(s.packs.dir, live), old, old); err != nil {
		t.Fatal(err)
	}
	if err := s.collectPacks(ctx); err != nil {
		t.Fatal(err)
	}
	left := packFiles(t, s)
	if len(left) != 2 || slices.Contains(left, files[0]) || !slices.Contains(left, filepath.Join(s.packs.dir, live)) {
		t.Fatalf("packs left %v: want the idle unused one (%s) gone, the recent one and the one in use kept", left, files[0])
	}
	if got, err := s.body(ctx, id3); err != nil || !strings.Contains(string(got), "Tard") {
		t.Fatalf("body of the message kept: %v", err)
	}
}
