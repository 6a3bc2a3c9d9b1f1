package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/server"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
)

// Synthetic identities (test OID 1.2.250.1.213.1.4.10, invented names).
const (
	drMartin   = "marie.martin@medecin.mssante.fr"
	drMartinID = "899700100011"
	drDupont   = "jean.dupont@hopital-a.mssante.fr"
	drDupontID = "899700100029"
	bioINS     = "162036912304592" // patient of cda/testdata/n3-cr-biologie.xml
	patientINS = "291121305508744" // Clara PETIT of message/testdata/read/patient-plain-order.eml
)

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// memMsg is one message of memSource.
type memMsg struct {
	raw   []byte
	flags []string
}

// memSource is an IMAP account in memory, the mailstore.Source of the handler tests (the
// browser tests sync from the sandbox operator over IMAP).
type memSource struct {
	mu      sync.Mutex
	folders map[string][]*memMsg // UID = index + 1
	sel     string
}

func (s *memSource) add(folder string, raw []byte, flags ...string) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.folders == nil {
		s.folders = map[string][]*memMsg{}
	}
	s.folders[folder] = append(s.folders[folder], &memMsg{raw: raw, flags: append([]string{}, flags...)})
	return uint32(len(s.folders[folder]))
}

func (s *memSource) Mailboxes(context.Context) ([]lps.Mailbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []lps.Mailbox
	for name := range s.folders {
		out = append(out, lps.Mailbox{Name: name})
	}
	slices.SortFunc(out, func(a, b lps.Mailbox) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *memSource) Resync(_ context.Context, mailbox string, _ lps.SyncState) (*lps.SyncResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sel = mailbox
	res := &lps.SyncResult{Mailbox: mailbox, UIDValidity: 1, Full: true}
	for i, m := range s.folders[mailbox] {
		res.Changed = append(res.Changed, lps.FlagChange{UID: uint32(i + 1), Flags: m.flags})
	}
	return res, nil
}

func (s *memSource) Summaries(_ context.Context, uids []uint32) ([]lps.Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []lps.Summary
	for _, uid := range uids {
		m := s.folders[s.sel][uid-1]
		out = append(out, lps.Summary{UID: uid, Size: int64(len(m.raw)), Flags: m.flags, InternalDate: t0})
	}
	return out, nil
}

func (s *memSource) FetchBody(_ context.Context, uid uint32, w io.Writer) (int64, error) {
	s.mu.Lock()
	raw := s.folders[s.sel][uid-1].raw
	s.mu.Unlock()
	n, err := w.Write(raw)
	return int64(n), err
}

// FetchBodies hands the messages out in order, as lps.IMAPClient.FetchBodies streams a batch.
func (s *memSource) FetchBodies(_ context.Context, uids []uint32, f func(m *lps.FetchedMessage) error) error {
	for _, uid := range uids {
		s.mu.Lock()
		m := s.folders[s.sel][uid-1]
		s.mu.Unlock()
		fm := &lps.FetchedMessage{UID: uid, Size: int64(len(m.raw)), Flags: m.flags, InternalDate: t0,
			Body: bytes.NewReader(m.raw), BodySize: int64(len(m.raw))}
		if err := f(fm); err != nil {
			return err
		}
	}
	return nil
}

// fakeOperator syncs from memSources and records what would be sent.
type fakeOperator struct {
	ms       *mailstore.Store
	accounts map[string]*memSource
	// opens: national id → addresses it may log in to (added mailboxes).
	opens map[string][]string

	mu    sync.Mutex
	sent  []*Draft
	mdns  []string
	syncs int
}

func (o *fakeOperator) Sync(ctx context.Context, address, author string, _ TokenFunc) error {
	if !slices.Contains(o.opens[author], address) {
		return fmt.Errorf("authentication refused for %s", address)
	}
	src := o.accounts[address]
	if src == nil {
		return fmt.Errorf("no such mailbox %s", address)
	}
	_, err := o.ms.Sync(ctx, src, address, nil)
	o.mu.Lock()
	o.syncs++
	o.mu.Unlock()
	return err
}

func (o *fakeOperator) Watch(ctx context.Context, _, _ string, _ TokenFunc, _ func()) error {
	<-ctx.Done()
	return ctx.Err()
}

func (o *fakeOperator) Send(_ context.Context, address, _ string, _ TokenFunc, d *Draft) (*Sent, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, d)
	return &Sent{MessageID: "sent-1@test", Recipients: append(d.To, d.Cc...)}, nil
}

// Displayed follows the account's policy of the index as mailbox.Account.Displayed does (the
// real one is tested in internal/mailbox and by the browser test).
func (o *fakeOperator) Displayed(ctx context.Context, address, _ string, _ TokenFunc, folder string, uid uint32, answer string) (string, error) {
	st, err := o.ms.Settings(ctx, address)
	if err != nil {
		return "", err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case st.MDN == mailstore.MDNNever || answer == "deny":
		return "declined", nil
	case st.MDN == mailstore.MDNAsk && answer == "":
		return "ask", nil
	}
	o.mdns = append(o.mdns, fmt.Sprintf("%s/%s/%d", address, folder, uid))
	return "queued", nil
}

// harness is the app over a fresh SQLite store, with two professionals.
type harness struct {
	t     *testing.T
	app   *App
	h     http.Handler
	op    *fakeOperator
	ms    *mailstore.Store
	pats  *patients.Store
	trail *audit.Trail
	sess  map[string]*server.BrowserSession // cookie value → session

	mu  sync.Mutex
	now time.Time // the application's clock
}

func (hs *harness) clock() time.Time {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.now
}

// advance moves the application's clock forward.
func (hs *harness) advance(d time.Duration) {
	hs.mu.Lock()
	hs.now = hs.now.Add(d)
	hs.mu.Unlock()
}

func readRepo(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{testkit.ModuleRoot(t)}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cdaMail composes a mail from Dr Dupont to Dr Martin carrying a CDA of cda/testdata.
func cdaMail(t testing.TB, name string, seed byte) []byte {
	t.Helper()
	c, err := message.Compose(&message.Draft{
		From: message.Address{Name: "Dr Jean DUPONT", Addr: drDupont},
		To:   []message.Address{{Name: "Dr Marie MARTIN", Addr: drMartin}},
		Text: "Bonjour, veuillez trouver le compte rendu ci-joint.",
		CDAs: [][]byte{readRepo(t, "cda", "testdata", name)},
		MDN:  true,
	}, &message.Options{NIL: "TEST-NIL", Now: func() time.Time { return t0 }, Rand: rand.NewChaCha8([32]byte{'w', 'b', seed})})
	if err != nil {
		t.Fatal(err)
	}
	return c.Data
}

// htmlMail is a hostile HTML mail: scripts, an event handler, a remote image and a form.
func htmlMail(id string) []byte {
	return []byte("From: Lab <labo@labo.mssante.fr>\r\nTo: " + drMartin + "\r\nSubject: Resultats en HTML\r\nMessage-ID: <" + id + ">\r\n" +
		"Date: " + t0.Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		`<p id="p">Bonjour <b>Docteur</b></p><script>document.title='PWNED';parent.document.title='PWNED'</script>` +
		`<img src="https://tracker.example/pixel.png" onerror="parent.document.title='PWNED'" alt="pixel">` +
		`<a href="javascript:parent.document.title='PWNED'">lien</a><form action="https://evil.example"><input name="x"></form>` + "\r\n")
}

func plainMail(from, name, subject, id string, at time.Time, body string, parent ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n", name, from, drMartin, subject, id, at.Format(time.RFC1123Z))
	if len(parent) > 0 {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", parent[0], parent[0])
	}
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", body)
	return []byte(b.String())
}

// eachHarness runs f on a harness of each dialect (subtests "sqlite" and "postgres").
func eachHarness(t *testing.T, f func(t *testing.T, hs *harness)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { f(t, newHarness(t, d)) })
	}
}

func newHarness(t *testing.T, d store.Dialect) *harness {
	t.Helper()
	migs := append(append(append(mailstore.Migrations(), patients.Migrations...), audit.Migrations...), Migrations...)
	db := storetest.Open(t, d, migs...)
	pats := patients.New(db)
	ms := mailstore.New(db, &mailstore.Options{Patients: pats})
	trail := audit.New(db, nil)
	martin, dupont := &memSource{}, &memSource{}
	martin.add("INBOX", readRepo(t, "message", "testdata", "read", "patient-plain-order.eml"))
	martin.add("INBOX", cdaMail(t, "n3-cr-biologie.xml", 1))
	martin.add("INBOX", htmlMail("html-1@labo.mssante.fr"))
	martin.add("INBOX", plainMail(drDupont, "Dr Jean DUPONT", "Avis cardiologique", "avis-1@x", t0.Add(time.Hour), "Voici mon avis."), `\Seen`)
	martin.add("INBOX", plainMail("paul.fictif@medecin.mssante.fr", "Dr Paul FICTIF", "Re: Avis cardiologique", "avis-2@x", t0.Add(2*time.Hour), "Merci.", "avis-1@x"))
	dupont.add("INBOX", plainMail(drMartin, "Dr Marie MARTIN", "Secret de Dupont", "dupont-1@x", t0, "Réservé à Dupont."))
	orgBox := &memSource{}
	orgBox.add("INBOX", plainMail(drDupont, "Dr Jean DUPONT", "Pour le service", "org-1@x", t0, "Au service."))
	op := &fakeOperator{ms: ms, accounts: map[string]*memSource{drMartin: martin, drDupont: dupont, "service@hopital-a.mssante.fr": orgBox},
		opens: map[string][]string{drMartinID: {drMartin, "service@hopital-a.mssante.fr"}, drDupontID: {drDupont}}}
	hs := &harness{t: t, now: t0.Add(3 * time.Hour), op: op, ms: ms, pats: pats, trail: trail, sess: map[string]*server.BrowserSession{}}
	for _, acc := range []string{drMartin, drDupont} {
		if _, err := ms.Sync(context.Background(), op.accounts[acc], acc, nil); err != nil {
			t.Fatal(err)
		}
	}
	hs.sess["martin"] = &server.BrowserSession{Key: "k-martin", Pro: server.Professional{NationalID: drMartinID, GivenName: "Marie",
		FamilyName: "MARTIN", Mailboxes: []string{drMartin}}, Token: func(context.Context) (string, error) { return "tok", nil }, Done: make(chan struct{})}
	hs.sess["dupont"] = &server.BrowserSession{Key: "k-dupont", Pro: server.Professional{NationalID: drDupontID, GivenName: "Jean",
		FamilyName: "DUPONT", Mailboxes: []string{drDupont}}, Token: func(context.Context) (string, error) { return "tok", nil }, Done: make(chan struct{})}
	app, err := New(Options{
		Sessions: func(r *http.Request) (*server.BrowserSession, bool) {
			c, err := r.Cookie("s")
			if err != nil {
				return nil, false
			}
			s, ok := hs.sess[c.Value]
			return s, ok
		},
		Mail: ms, Patients: pats, Operator: op, Audit: trail, SyncInterval: time.Hour,
		Now: hs.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close() })
	hs.app, hs.h = app, app.Handler()
	return hs
}

// do runs a request as user ("" for none) and returns the answer.
func (hs *harness) do(user, method, target string, form url.Values) *httptest.ResponseRecorder {
	hs.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		r.AddCookie(&http.Cookie{Name: "s", Value: user})
	}
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, r)
	return w
}

// csrf returns the form token of user's session (read from a page, as a browser would).
func (hs *harness) csrf(user string) string {
	hs.t.Helper()
	w := hs.do(user, "GET", "/app/mailboxes", nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(w.Body.String())
	if m == nil {
		hs.t.Fatalf("no CSRF token in the page:\n%s", w.Body.String())
	}
	return m[1]
}

// uidOf returns the UID of the message of account whose Message-ID is id.
func (hs *harness) uidOf(account, id string) uint32 {
	hs.t.Helper()
	m, err := hs.ms.ByMessageID(context.Background(), account, id)
	if err != nil {
		hs.t.Fatal(err)
	}
	return m.UID
}

// bg runs a background GET of the page's script (live refresh) as user.
func (hs *harness) bg(user, target string) *httptest.ResponseRecorder {
	hs.t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	r.Header.Set(Background, "1")
	r.AddCookie(&http.Cookie{Name: "s", Value: user})
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, r)
	return w
}
