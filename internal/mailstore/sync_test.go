package mailstore

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// countingSource counts the bodies fetched through it, and cancels the sync before the fetch
// number cancelAt (0: never).
type countingSource struct {
	*lps.IMAPClient
	mu       sync.Mutex
	fetches  map[string]int // "folder/uid" → bodies fetched
	total    int
	folder   string
	cancelAt int
	cancel   context.CancelFunc
}

func (c *countingSource) Resync(ctx context.Context, mailbox string, since lps.SyncState) (*lps.SyncResult, error) {
	c.folder = mailbox
	return c.IMAPClient.Resync(ctx, mailbox, since)
}

func (c *countingSource) FetchBody(ctx context.Context, uid uint32, w io.Writer) (int64, error) {
	c.mu.Lock()
	if c.cancelAt > 0 && c.total+1 == c.cancelAt {
		c.cancelAt = 0
		c.cancel()
		c.mu.Unlock()
		return 0, ctx.Err()
	}
	c.total++
	c.fetches[fmt.Sprintf("%s/%d", c.folder, uid)]++
	c.mu.Unlock()
	return c.IMAPClient.FetchBody(ctx, uid, w)
}

// FetchBodies counts each body handed to the sync, and cancels before the body number cancelAt,
// mid-batch.
func (c *countingSource) FetchBodies(ctx context.Context, uids []uint32, f func(m *lps.FetchedMessage) error) error {
	return c.IMAPClient.FetchBodies(ctx, uids, func(m *lps.FetchedMessage) error {
		c.mu.Lock()
		if c.cancelAt > 0 && c.total+1 == c.cancelAt {
			c.cancelAt = 0
			c.cancel()
			c.mu.Unlock()
			return ctx.Err()
		}
		c.total++
		c.fetches[fmt.Sprintf("%s/%d", c.folder, m.UID)]++
		c.mu.Unlock()
		return f(m)
	})
}

func (c *countingSource) reset() {
	c.mu.Lock()
	c.total = 0
	c.fetches = map[string]int{}
	c.mu.Unlock()
}

// ECO.1.0.2: sync of a real Dovecot mailbox with MSSanté mails (XDM/CDA from the synthetic
// fixtures, a patient's mail, a Mon espace santé bounce), killed mid-way and resumed: nothing
// fetched twice, no duplicate; flags follow; an expunge on the server removes locally; a
// UIDVALIDITY change re-maps without downloading; the Maildir follows the index.
func TestSync_dovecot_ECO_1_0_2(t *testing.T) {
	st, pol, ep := dovecotPeer(t)
	dial := func(t *testing.T, carol string) *lps.IMAPClient {
		auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: carol,
			Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return st.Token(carol, time.Hour), nil })}
		cl, err := lps.DialIMAP(ctxT(t), ep, auth, &lps.Options{TLS: pol.ClientConfig("", nil),
			ClassifyTLSError: trust.ClassifyHandshakeError, ReconnectDelay: 100 * time.Millisecond})
		if err != nil {
			t.Fatalf("DialIMAP: %v\n%s", err, st.Logs())
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	doveadm := func(t *testing.T, args ...string) {
		out, err := exec.Command("doveadm", append([]string{"-c", filepath.Join(st.Dir, "dovecot.conf")}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("doveadm %v: %v\n%s", args, err, out)
		}
	}

	storetest.Each(t, func(t *testing.T, db *store.DB) {
		carol := "carol." + filepath.Base(t.Name()) + "@test.mssante.fr" // one mailbox per dialect
		var want []string                                                // Message-IDs delivered to INBOX
		for i, name := range []string{"n3-cr-biologie.xml", "n3-cr-imagerie.xml", "n3-lettre-liaison.xml", "n1-note-consultation-pdf.xml"} {
			c := cdaMail(t, name, byte(i), t0.Add(time.Duration(i)*time.Minute))
			st.Deliver(carol, "INBOX", c.Data)
			want = append(want, c.MessageID)
		}
		for _, f := range []string{"read/patient-plain-order.eml", "read/mes-bounce.eml", "read/dsn-failed.eml"} {
			st.Deliver(carol, "INBOX", fixture(t, f))
		}
		for i := range 5 {
			st.Deliver(carol, "INBOX", plainMail(drDupont, "Dr Jean DUPONT", fmt.Sprintf("Avis %d", i), fmt.Sprintf("avis-%d@x", i), t0, "texte"))
		}
		st.Deliver(carol, "Sent", plainMail(carol, "Carol", "Envoyé", "sent-1@x", t0, "texte"))
		const inbox, total = 12, 13

		s := New(db, nil)
		src := &countingSource{IMAPClient: dial(t, carol), fetches: map[string]int{}}
		md, err := OpenMaildir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		opts := &SyncOptions{Maildir: md, Batch: 4}

		// Killed after 5 messages.
		ctx, cancel := context.WithCancel(ctxT(t))
		src.cancel, src.cancelAt = cancel, 6
		var progress []Progress
		opts.Progress = func(p Progress) { progress = append(progress, p) }
		sum, err := s.Sync(ctx, src, carol, opts)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted sync: %+v, %v; want context.Canceled", sum, err)
		}
		if sum.New != 5 || src.total != 5 {
			t.Fatalf("interrupted sync stored %d, fetched %d; want 5 and 5", sum.New, src.total)
		}
		if last := progress[len(progress)-1]; last.Folder != "INBOX" || last.Total != inbox || last.Bytes == 0 {
			t.Errorf("progress %+v", progress)
		}
		opts.Progress = nil
		// Resumed: only the 7 + 1 others are fetched.
		sum, err = s.Sync(ctxT(t), src, carol, opts)
		if err != nil {
			t.Fatal(err)
		}
		if sum.New != total-5 || src.total != total || sum.Messages != total || sum.Folders != 3 || sum.Bytes == 0 {
			t.Errorf("resumed sync %+v, %d fetches; want %d new, %d fetches in all", sum, src.total, total-5, total)
		}
		for k, n := range src.fetches {
			if n != 1 {
				t.Errorf("%s fetched %d times", k, n)
			}
		}
		checkIndex(t, s, carol, want, total)
		checkMaildir(t, md, "INBOX", inbox, 0)

		// Up to date: nothing fetched.
		src.reset()
		sum, err = s.Sync(ctxT(t), src, carol, opts)
		if err != nil || sum.New != 0 || src.total != 0 || sum.Messages != total {
			t.Errorf("third sync %+v %v, %d fetches", sum, err, src.total)
		}

		// Flags set and messages expunged by another client.
		other := dial(t, carol)
		if _, err := other.Select(ctxT(t), "INBOX"); err != nil {
			t.Fatal(err)
		}
		if err := other.SetFlags(ctxT(t), []uint32{1, 2}, lps.FlagsAdd, lps.FlagSeen); err != nil {
			t.Fatal(err)
		}
		if err := other.Delete(ctxT(t), []uint32{11, 12}); err != nil {
			t.Fatal(err)
		}
		sum, err = s.Sync(ctxT(t), src, carol, opts)
		if err != nil {
			t.Fatal(err)
		}
		if sum.FlagsChanged != 2 || sum.Removed != 2 || sum.Messages != total-2 || src.total != 0 {
			t.Errorf("after flags and expunge: %+v, %d fetches", sum, src.total)
		}
		if m, err := s.Get(ctxT(t), carol, "INBOX", 1); err != nil || !m.Seen {
			t.Errorf("UID 1 after \\Seen: %+v %v", m, err)
		}
		if _, err := s.Get(ctxT(t), carol, "INBOX", 12); !errors.Is(err, ErrNotFound) {
			t.Errorf("expunged UID 12: %v, want ErrNotFound", err)
		}
		checkMaildir(t, md, "INBOX", inbox-2, 2)

		// UIDVALIDITY changed on the server: re-mapped, not downloaded, not duplicated.
		doveadm(t, "mailbox", "update", "-u", carol, "--uid-validity", fmt.Sprint(time.Now().Unix()%1000000+int64(len(t.Name()))), "INBOX")
		st.KickIMAP(carol)
		sum, err = s.Sync(ctxT(t), src, carol, opts)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Remapped != inbox-2 || sum.New != 0 || sum.Messages != total-2 || src.total != 0 {
			t.Errorf("after UIDVALIDITY change: %+v, %d fetches", sum, src.total)
		}
		checkIndex(t, s, carol, want, total-2)
		checkMaildir(t, md, "INBOX", inbox-2, 2)

		// A message over the size cap: indexed from its envelope, body left on the server.
		big := plainMail(drDupont, "Dr Jean DUPONT", "Gros fichier", "big@x", t0, strings.Repeat("données ", 20000))
		st.Deliver(carol, "INBOX", big)
		opts.MaxBody = int64(len(big)) - 1
		sum, err = s.Sync(ctxT(t), src, carol, opts)
		if err != nil {
			t.Fatal(err)
		}
		if sum.New != 1 || sum.TooLarge != 1 || src.total != 0 {
			t.Errorf("too large: %+v, %d fetches", sum, src.total)
		}
		m, err := s.ByMessageID(ctxT(t), carol, "big@x")
		if err != nil || m.HasBody || m.DisplaySubject != "Gros fichier" || m.FromName != "Dr Jean DUPONT" || m.Size < int64(len(big)) {
			t.Errorf("too large message %+v %v", m, err)
		}
		if _, err := s.Body(ctxT(t), m); !errors.Is(err, ErrNotFound) {
			t.Errorf("body of the too large message: %v, want ErrNotFound", err)
		}
		checkMaildir(t, md, "INBOX", inbox-2, 2)

		// A folder the server refuses does not stop the others; its error is kept.
		sum, err = s.Sync(ctxT(t), src, carol, &SyncOptions{Folders: []string{"Nope", "Sent"}})
		if err == nil || !strings.Contains(err.Error(), "Nope") || sum.Folders != 1 {
			t.Errorf("sync of a missing folder: %+v %v", sum, err)
		}
		folders, err := s.Folders(ctxT(t), carol)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range folders {
			if (f.Name == "Nope") != (f.LastError != "") || (f.Name == "INBOX" && (f.Messages != inbox-1 || f.Unseen != inbox-3 || f.HighestModSeq == 0 || f.UIDNext != inbox+2 || f.SyncedAt.IsZero())) {
				t.Errorf("folder %+v", f)
			}
		}

		// A folder deleted on the server leaves the index (its messages with it) at the next sync
		// of every folder; so does "Nope", which never existed there.
		doveadm(t, "mailbox", "create", "-u", carol, "Archives")
		st.Deliver(carol, "Archives", plainMail(drDupont, "Dr Jean DUPONT", "Archivé", "arch@x", t0, "texte"))
		if sum, err = s.Sync(ctxT(t), src, carol, nil); err != nil || sum.New != 1 || sum.Folders != 4 {
			t.Fatalf("sync with Archives: %+v %v", sum, err)
		}
		doveadm(t, "mailbox", "delete", "-u", carol, "Archives")
		sum, err = s.Sync(ctxT(t), src, carol, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Removed != 1 || sum.Folders != 3 || src.total != 1 {
			t.Errorf("after deleting Archives: %+v, %d fetches", sum, src.total)
		}
		folders, err = s.Folders(ctxT(t), carol)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range folders {
			names = append(names, f.Name)
		}
		if want := []string{"INBOX", "Sent", "Trash"}; !slices.Equal(names, want) {
			t.Errorf("folders after deleting Archives: %q, want %q", names, want)
		}
	}, Migrations()...)
}

// checkIndex checks that every Message-ID of want is listed once and the counts.
func checkIndex(t *testing.T, s *Store, account string, want []string, n int) {
	t.Helper()
	page, err := s.List(ctxT(t), Query{Accounts: []string{account}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != n {
		t.Errorf("index holds %d messages, want %d", len(page.Messages), n)
	}
	seen := map[string]int{}
	docs := 0
	for _, m := range page.Messages {
		seen[m.MessageID]++
		docs += len(m.Documents)
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Errorf("Message-ID %s listed %d times", id, seen[id])
		}
	}
	if docs != len(want) {
		t.Errorf("%d documents indexed, want %d", docs, len(want))
	}
}

// checkMaildir checks the number of files in folder's cur/ and of seen ones.
func checkMaildir(t *testing.T, md *Maildir, folder string, n, seen int) {
	t.Helper()
	d, err := md.Dir(folder)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(d, "cur"))
	if err != nil {
		t.Fatal(err)
	}
	s := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ":2,S") {
			s++
		}
	}
	if len(ents) != n || s != seen {
		t.Errorf("maildir %s: %d files, %d seen; want %d, %d", folder, len(ents), s, n, seen)
	}
	if tmp, _ := os.ReadDir(filepath.Join(d, "tmp")); len(tmp) != 0 {
		t.Errorf("maildir tmp/ not empty: %d files", len(tmp))
	}
}

// ECO.1.0.2: when the Maildir cannot be written, the sync stops with that error, what it
// committed stays committed, and the next sync fetches only the rest and completes the Maildir
// from the index (the pipeline's writer failing stops the reader and the committer).
func TestSync_maildirFailure_ECO_1_0_2(t *testing.T) {
	st, pol, ep := dovecotPeer(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		carol := "carol.md." + filepath.Base(t.Name()) + "@test.mssante.fr"
		const n = 9
		for i := range n {
			st.Deliver(carol, "INBOX", plainMail(drDupont, "Dr Jean DUPONT", fmt.Sprintf("Avis %d", i), fmt.Sprintf("md-%d@x", i), t0, "texte"))
		}
		auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: carol,
			Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return st.Token(carol, time.Hour), nil })}
		cl, err := lps.DialIMAP(ctxT(t), ep, auth, &lps.Options{TLS: pol.ClientConfig("", nil), ClassifyTLSError: trust.ClassifyHandshakeError})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		src := &countingSource{IMAPClient: cl, fetches: map[string]int{}}
		dir := t.TempDir()
		md, err := OpenMaildir(dir)
		if err != nil {
			t.Fatal(err)
		}
		// A file where the folder's directory should be: every write fails.
		if err := os.WriteFile(filepath.Join(dir, "INBOX"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		s := New(db, nil)
		opts := &SyncOptions{Folders: []string{"INBOX"}, Maildir: md, Batch: 3, CommitEvery: 2}
		first, err := s.Sync(ctxT(t), src, carol, opts)
		if err == nil || !strings.Contains(err.Error(), "maildir") {
			t.Fatalf("sync into an unwritable maildir: %+v, %v", first, err)
		}
		if first.New == 0 || first.New >= n {
			t.Fatalf("%d messages committed before the maildir failed, want some", first.New)
		}
		if err := os.Remove(filepath.Join(dir, "INBOX")); err != nil {
			t.Fatal(err)
		}
		src.reset()
		sum, err := s.Sync(ctxT(t), src, carol, opts)
		if err != nil {
			t.Fatal(err)
		}
		if sum.New != n-first.New || src.total != n-first.New || sum.Messages != n {
			t.Errorf("second sync %+v, %d fetches; want the %d not committed", sum, src.total, n-first.New)
		}
		checkMaildir(t, md, "INBOX", n, 0)
	}, Migrations()...)
}

// dovecotPeer starts the private Dovecot (no Postfix) of a test PKI and returns it with a trust
// policy of that PKI and its IMAP endpoint.
func dovecotPeer(tb testing.TB) (*peertest.Stack, *trust.Policy, lps.Endpoint) {
	tb.Helper()
	pki := testpki.New(tb, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(tb, peertest.Options{PKI: pki, NoPostfix: true})
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert},
		OrgIntermediates: []*x509.Certificate{pki.Org.Cert}})
	if err != nil {
		tb.Fatal(err)
	}
	ep, err := lps.ParseEndpoint(st.IMAP)
	if err != nil {
		tb.Fatal(err)
	}
	return st, pol, ep
}
