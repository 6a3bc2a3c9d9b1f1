package lps_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/sandbox/operator"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// sizedMessage is a mail of about size bytes, its body lines numbered so that a shifted or cut
// body shows.
func sizedMessage(from, to, subject string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s.%d@test.mssante.fr>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", from, to, subject, subject, time.Now().UnixNano())
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%08d compte rendu de consultation, données de santé synthétiques\r\n", i)
	}
	return b.Bytes()
}

// fetched is what one call of f saw.
type fetched struct {
	m    lps.FetchedMessage
	body []byte
}

func fetchAll(ctx context.Context, cl *lps.IMAPClient, uids []uint32) ([]fetched, error) {
	var out []fetched
	err := cl.FetchBodies(ctx, uids, func(m *lps.FetchedMessage) error {
		body, err := io.ReadAll(m.Body)
		if err != nil {
			return err
		}
		out = append(out, fetched{m: *m, body: body})
		return nil
	})
	return out, err
}

// checkFetchBodies runs the cases of FetchBodies that any server must pass: uids are messages
// of the selected mailbox of cl (whose events go to rec), want their bodies as FetchBody gives
// them; big is one of them, over limit bytes, and limited a session on the same mailbox with
// Options.MaxBody = limit.
func checkFetchBodies(t *testing.T, cl, limited *lps.IMAPClient, rec *recorder, uids []uint32, big uint32) {
	ctx := ctxT(t)
	want := map[uint32][]byte{}
	for _, u := range uids {
		var b bytes.Buffer
		if _, err := cl.FetchBody(ctx, u, &b); err != nil {
			t.Fatalf("FetchBody(%d): %v", u, err)
		}
		want[u] = b.Bytes()
	}

	// Every message in one command, in UID order, with its metadata.
	rec.events = nil
	got, err := fetchAll(ctx, cl, uids)
	if err != nil {
		t.Fatalf("FetchBodies: %v", err)
	}
	var order []uint32
	for _, g := range got {
		order = append(order, g.m.UID)
		if !bytes.Equal(g.body, want[g.m.UID]) {
			t.Errorf("UID %d: body of %d bytes differs from FetchBody's %d", g.m.UID, len(g.body), len(want[g.m.UID]))
		}
		if g.m.Size != int64(len(want[g.m.UID])) || g.m.BodySize != g.m.Size || g.m.InternalDate.IsZero() || g.m.Flags == nil {
			t.Errorf("UID %d: metadata %+v (body %d bytes)", g.m.UID, g.m, len(g.body))
		}
	}
	if !slices.Equal(order, uids) {
		t.Errorf("FetchBodies handed UIDs %v, want %v", order, uids)
	}
	if len(rec.events) != 1 || rec.events[0].Action != lps.ActionFetch ||
		!strings.HasSuffix(rec.events[0].Request, " (UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[])") ||
		!strings.HasPrefix(rec.events[0].Response, fmt.Sprintf("OK %d messages, ", len(uids))) || rec.events[0].Err != nil {
		t.Errorf("events %+v, want one fetch event of one UID FETCH", rec.events)
	}

	// BODY.PEEK: nothing became \Seen.
	if unseen, err := cl.Search(ctx, lps.Criteria{Unseen: true}); err != nil || len(unseen) != len(uids) {
		t.Errorf("unseen after FetchBodies: %v %v, want %d", unseen, err, len(uids))
	}

	// A UID the server does not hold: the others are handed, then ErrNotFetched.
	got, err = fetchAll(ctx, cl, []uint32{uids[0], 99999, uids[1]})
	if !errors.Is(err, lps.ErrNotFetched) || !strings.Contains(err.Error(), "99999") || len(got) != 2 {
		t.Errorf("with a missing UID: %d handed, %v; want 2 and ErrNotFetched naming 99999", len(got), err)
	}

	// An error of f stops the calls; the session stays usable, not reopened.
	stop := errors.New("stop")
	calls := 0
	rec.events = nil
	err = cl.FetchBodies(ctx, uids, func(m *lps.FetchedMessage) error {
		calls++
		if calls == 2 {
			return stop
		}
		_, err := io.Copy(io.Discard, m.Body)
		return err
	})
	if !errors.Is(err, stop) || calls != 2 || errors.Is(err, lps.ErrConnBroken) {
		t.Errorf("f failing at the 2nd message: %d calls, %v", calls, err)
	}
	if got, err := fetchAll(ctx, cl, uids[:1]); err != nil || len(got) != 1 {
		t.Errorf("FetchBodies after f failed: %d, %v", len(got), err)
	}
	for _, ev := range rec.events {
		if ev.Action == lps.ActionConnect {
			t.Errorf("session reopened after f failed: %+v", ev)
		}
	}

	// Over Options.MaxBody: skipped unread, the others handed.
	got, err = fetchAll(ctx, limited, uids)
	if !errors.Is(err, lps.ErrNotFetched) || len(got) != len(uids)-1 || slices.ContainsFunc(got, func(g fetched) bool { return g.m.UID == big }) {
		t.Errorf("with MaxBody: %d handed, %v; want %d and ErrNotFetched", len(got), err, len(uids)-1)
	}
	if got, err := fetchAll(ctx, limited, uids[:1]); err != nil || len(got) != 1 || uids[0] == big {
		t.Errorf("FetchBodies after a refused body: %d, %v", len(got), err)
	}
}

// ECO.1.0.2: several bodies in one UID FETCH against Dovecot, streamed; a session the server closes
// mid-way is reopened and only the messages not yet handed are asked again.
func testFetchBodies(t *testing.T, e *peerEnv) {
	const dave = "dave@test.mssante.fr"
	ctx := ctxT(t)
	sizes := []int{2000, 40000, 300000, 1000, 70000}
	for i, n := range sizes {
		e.st.Deliver(dave, "INBOX", sizedMessage(alice, dave, fmt.Sprintf("FB%d", i), n))
	}
	rec := &recorder{}
	dial := func(maxBody int64) *lps.IMAPClient {
		o := e.opts(nil, rec)
		o.MaxBody = maxBody
		cl, err := lps.DialIMAP(ctx, ep(t, e.st.IMAP), e.xoauth2(dave, time.Hour), o)
		if err != nil {
			t.Fatalf("DialIMAP: %v\n%s", err, e.st.Logs())
		}
		t.Cleanup(func() { cl.Close() })
		if _, err := cl.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	cl, limited := dial(0), dial(200000)
	uids, err := cl.Search(ctx, lps.Criteria{})
	if err != nil || len(uids) != len(sizes) {
		t.Fatalf("Search = %v, %v", uids, err)
	}
	checkFetchBodies(t, cl, limited, rec, uids, uids[2])

	// The server closes the session while the second message is handed: the rest comes on a
	// reopened session, each message handed once. 30 MB in all, more than the socket buffers of
	// both ends can hold (Linux autotunes them to a few MB), so the kick always cuts the answer.
	for i := range 30 {
		e.st.Deliver(dave, "INBOX", sizedMessage(alice, dave, fmt.Sprintf("Kicked%d", i), 1<<20))
	}
	if _, err := cl.Select(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	all, err := cl.Search(ctx, lps.Criteria{Subject: "Kicked"})
	if err != nil || len(all) != 30 {
		t.Fatalf("Search = %v, %v", all, err)
	}
	rec.events = nil
	handed := map[uint32]int{}
	calls := 0
	err = cl.FetchBodies(ctx, all, func(m *lps.FetchedMessage) error {
		calls++
		if calls == 2 {
			e.st.KickIMAP(dave)
		}
		body, err := io.ReadAll(m.Body)
		if err != nil {
			return err
		}
		if int64(len(body)) != m.Size || !bytes.Contains(body, []byte("Subject: Kicked")) {
			return fmt.Errorf("UID %d: %d bytes of %d", m.UID, len(body), m.Size)
		}
		handed[m.UID]++
		return nil
	})
	if err != nil {
		t.Fatalf("FetchBodies across a kick: %v\n%s", err, e.st.Logs())
	}
	for _, u := range all {
		if handed[u] != 1 {
			t.Errorf("UID %d handed %d times", u, handed[u])
		}
	}
	reopened := false
	for _, ev := range rec.events {
		reopened = reopened || ev.Action == lps.ActionConnect
	}
	if !reopened {
		t.Errorf("no reconnection recorded after the kick: %+v", rec.events)
	}
}

// ECO.1.0.2: the same cases against the sandbox operator (go-imap's server, items in another
// order of its own).
func TestFetchBodies_operator(t *testing.T) {
	pki := testpki.New(t, testpki.Options{})
	pki.ServeRevocation()
	const addr, rpps = "marie.martin@sandbox.mssante.test", "810000000001"
	op, err := operator.New(operator.Options{
		DataDir: t.TempDir(), Certificate: pki.Server("localhost", "127.0.0.1").TLS,
		ValidateToken: func(_ context.Context, tok string) (operator.Claims, error) {
			if tok != "jeton-de-test" {
				return operator.Claims{}, errors.New("unknown token")
			}
			return operator.Claims{SubjectNameID: rpps}, nil
		},
		Accounts: []operator.Account{{Address: addr, Kind: operator.KindPersonal, NationalIDs: []string{rpps}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Close() })
	var uids []uint32
	for i, n := range []int{2000, 40000, 300000, 1000} {
		u, err := op.Append(addr, "INBOX", sizedMessage(addr, addr, fmt.Sprintf("S%d", i), n))
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, u)
	}
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	dial := func(maxBody int64) *lps.IMAPClient {
		auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: addr,
			Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return "jeton-de-test", nil })}
		cl, err := lps.DialIMAP(ctxT(t), ep(t, op.IMAPAddr()), auth, &lps.Options{TLS: pol.ClientConfig("", nil),
			ClassifyTLSError: trust.ClassifyHandshakeError, Recorder: rec, MaxBody: maxBody})
		if err != nil {
			t.Fatalf("DialIMAP: %v", err)
		}
		t.Cleanup(func() { cl.Close() })
		if _, err := cl.Select(ctxT(t), "INBOX"); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	checkFetchBodies(t, dial(0), dial(200000), rec, uids, uids[2])
}
