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

// A Maildir created after the index is completed from the stored bodies; flag changes rename,
// removals delete, and the files hold the messages byte for byte.
func TestMaildir_reconcile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := ctxT(t)
		s := New(db, nil)
		raws := [][]byte{
			plainMail(drDupont, "Dr Jean DUPONT", "Un", "1@x", t0, "un"),
			plainMail(drDupont, "Dr Jean DUPONT", "Deux", "2@x", t0, "deux"),
			plainMail(drDupont, "Dr Jean DUPONT", "Trois", "3@x", t0, "trois"),
		}
		var ids []int64
		for i, raw := range raws {
			ids = append(ids, put(t, s, drMartin, "Dossiers/Cardio", uint32(i+1), raw, `\Flagged`))
		}
		acc, _ := s.accountID(ctx, drMartin, false)
		f, err := s.folder(ctx, acc, "Dossiers/Cardio")
		if err != nil {
			t.Fatal(err)
		}
		md, err := OpenMaildir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		md.Now = func() time.Time { return t0 }
		names := func() []string {
			d, _ := md.Dir("Dossiers/Cardio")
			ents, err := os.ReadDir(filepath.Join(d, "cur"))
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range ents {
				out = append(out, e.Name())
			}
			slices.Sort(out)
			return out
		}
		if err := md.reconcile(ctx, s, f); err != nil {
			t.Fatal(err)
		}
		got := names()
		if len(got) != 3 || !strings.HasSuffix(got[0], ",U=1:2,F") || !strings.HasPrefix(got[0], "1773484200.M") {
			t.Fatalf("maildir after the first reconcile: %q", got)
		}
		d, _ := md.Dir("Dossiers/Cardio")
		if b, err := os.ReadFile(filepath.Join(d, "cur", got[1])); err != nil || string(b) != string(raws[1]) {
			t.Errorf("file %s holds %q (%v)", got[1], b, err)
		}
		if err := s.setFlags(ctx, f.ID, 2, []string{`\Seen`, `\Answered`, `\Flagged`}, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.remove(ctx, ids[2:]); err != nil {
			t.Fatal(err)
		}
		if err := md.reconcile(ctx, s, f); err != nil {
			t.Fatal(err)
		}
		got = names()
		if len(got) != 2 || !strings.HasSuffix(got[1], ",U=2:2,FRS") {
			t.Errorf("maildir after flags and removal: %q", got)
		}
		// A file cut short (a system crash before the durability point) is written again whole;
		// the other file is left as it is.
		got = names()
		if err := os.WriteFile(filepath.Join(d, "cur", got[0]), raws[0][:10], 0o600); err != nil {
			t.Fatal(err)
		}
		other, _ := os.Stat(filepath.Join(d, "cur", got[1]))
		if err := md.reconcile(ctx, s, f); err != nil {
			t.Fatal(err)
		}
		if err := md.durable(); err != nil {
			t.Fatal(err)
		}
		again := names()
		if len(again) != 2 || !strings.HasSuffix(again[0], ",U=1:2,F") {
			t.Fatalf("maildir after the repair: %q", again)
		}
		if b, err := os.ReadFile(filepath.Join(d, "cur", again[0])); err != nil || string(b) != string(raws[0]) {
			t.Errorf("repaired file %s holds %q (%v)", again[0], b, err)
		}
		if now, err := os.Stat(filepath.Join(d, "cur", got[1])); err != nil || !os.SameFile(other, now) {
			t.Errorf("the intact file was rewritten (%v)", err)
		}
		if _, err := md.Dir("../etc"); err == nil {
			t.Error("a folder name with .. became a maildir")
		}
	}, Migrations()...)
}
