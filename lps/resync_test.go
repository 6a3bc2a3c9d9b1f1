package lps_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/sandbox/operator"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

func changedUIDs(r *lps.SyncResult) []uint32 {
	var out []uint32
	for _, c := range r.Changed {
		out = append(out, c.UID)
	}
	return out
}

func flagsOf(r *lps.SyncResult, uid uint32) []string {
	for _, c := range r.Changed {
		if c.UID == uid {
			return c.Flags
		}
	}
	return nil
}

// stateOf selects mailbox on cl and returns the state a client would remember.
func stateOf(t *testing.T, cl *lps.IMAPClient, mailbox string) lps.SyncState {
	t.Helper()
	ctx := ctxT(t)
	st, err := cl.Select(ctx, mailbox)
	if err != nil {
		t.Fatalf("Select: %v", err)
	}
	uids, err := cl.Search(ctx, lps.Criteria{})
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	return lps.SyncState{UIDValidity: st.UIDValidity, HighestModSeq: st.HighestModSeq, UIDs: uids}
}

// ECO.1.0.2: a mailbox is resynchronised after a reconnection with CONDSTORE against real
// Dovecot: exactly the messages whose flags changed in another session (and the new one), and
// exactly the expunged UIDs.
func testResync(t *testing.T, e *peerEnv) {
	const carol = "carol@test.mssante.fr"
	ctx := ctxT(t)
	for _, s := range []string{"R1", "R2", "R3", "R4"} {
		e.st.Deliver(carol, "INBOX", testMessage(bob, carol, s))
	}
	auth := e.xoauth2(carol, time.Hour)
	first, err := lps.DialIMAP(ctx, ep(t, e.st.IMAP), auth, e.opts(nil, nil))
	if err != nil {
		t.Fatalf("DialIMAP: %v\n%s", err, e.st.Logs())
	}
	if !first.Capable("CONDSTORE") {
		t.Fatalf("Dovecot does not offer CONDSTORE")
	}
	t.Logf("server offers QRESYNC: %t (not enabled: go-imap beta.8 cannot parse VANISHED)", first.Capable("QRESYNC"))
	state := stateOf(t, first, "INBOX")
	if len(state.UIDs) != 4 || state.HighestModSeq == 0 {
		t.Fatalf("state %+v, want 4 messages and a HIGHESTMODSEQ", state)
	}
	_ = first.Close()

	// Another client changes the mailbox while the first one is away.
	other, err := lps.DialIMAP(ctx, ep(t, e.st.IMAP), auth, e.opts(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Select(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	seen, gone, mdn := state.UIDs[0], state.UIDs[1], state.UIDs[3]
	if err := other.SetFlags(ctx, []uint32{seen}, lps.FlagsAdd, lps.FlagSeen); err != nil {
		t.Fatalf("SetFlags: %v", err)
	}
	if err := other.SetFlags(ctx, []uint32{mdn}, lps.FlagsAdd, lps.FlagMDNSent); err != nil {
		t.Fatalf("SetFlags: %v", err)
	}
	if err := other.Delete(ctx, []uint32{gone}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	e.st.Deliver(carol, "INBOX", testMessage(bob, carol, "R5"))
	now := stateOf(t, other, "INBOX")
	added := now.UIDs[len(now.UIDs)-1]

	// The first client comes back.
	var trace bytes.Buffer
	back, err := lps.DialIMAP(ctx, ep(t, e.st.IMAP), auth, e.opts(&trace, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	res, err := back.Resync(ctx, "INBOX", state)
	if err != nil {
		t.Fatalf("Resync: %v", err)
	}
	if res.Reset || res.Full {
		t.Errorf("Reset=%t Full=%t, want an incremental answer", res.Reset, res.Full)
	}
	if want := []uint32{seen, mdn, added}; !slices.Equal(changedUIDs(res), want) {
		t.Errorf("Changed UIDs = %v, want %v", changedUIDs(res), want)
	}
	if !slices.Contains(flagsOf(res, seen), lps.FlagSeen) || !slices.Contains(flagsOf(res, mdn), lps.FlagMDNSent) {
		t.Errorf("Changed flags = %+v", res.Changed)
	}
	if !slices.Equal(res.Vanished, []uint32{gone}) {
		t.Errorf("Vanished = %v, want [%d]", res.Vanished, gone)
	}
	if res.HighestModSeq <= state.HighestModSeq || res.HighestModSeq != now.HighestModSeq {
		t.Errorf("HighestModSeq = %d, was %d, other session sees %d", res.HighestModSeq, state.HighestModSeq, now.HighestModSeq)
	}
	// The incremental path: CHANGEDSINCE and one search over the known UIDs, no full listing.
	tr := trace.String()
	if !strings.Contains(tr, "(CHANGEDSINCE ") || !strings.Contains(tr, "UID SEARCH UID ") {
		t.Errorf("trace lacks CHANGEDSINCE or UID SEARCH UID:\n%s", tr)
	}
	next := res.Apply(state)
	if !slices.Equal(next.UIDs, now.UIDs) {
		t.Errorf("Apply: UIDs %v, mailbox has %v", next.UIDs, now.UIDs)
	}

	// Nothing changed since: an empty answer.
	again, err := back.Resync(ctx, "INBOX", next)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changed) != 0 || len(again.Vanished) != 0 || again.Full {
		t.Errorf("second Resync = %+v, want nothing", again)
	}
	// The mailbox stays selected: later calls act on it.
	if uids, err := back.Search(ctx, lps.Criteria{Unseen: true}); err != nil || slices.Contains(uids, seen) {
		t.Errorf("Search after Resync = %v, %v", uids, err)
	}

	// A state ahead of the server (restored mailbox): only a full listing is exact.
	ahead := next
	ahead.HighestModSeq += 1000
	full, err := back.Resync(ctx, "INBOX", ahead)
	if err != nil {
		t.Fatal(err)
	}
	if !full.Full || full.Reset || len(full.Vanished) != 0 || !slices.Equal(changedUIDs(full), now.UIDs) {
		t.Errorf("state ahead of the server: %+v, want a full listing of %v", full, now.UIDs)
	}

	// Another UIDVALIDITY: the cache is void, full listing.
	stale := next
	stale.UIDValidity++
	reset, err := back.Resync(ctx, "INBOX", stale)
	if err != nil {
		t.Fatal(err)
	}
	if !reset.Reset || !reset.Full || len(reset.Vanished) != 0 || !slices.Equal(changedUIDs(reset), now.UIDs) {
		t.Errorf("UIDVALIDITY change: %+v, want Reset with every UID %v", reset, now.UIDs)
	}
	if got := reset.Apply(stale); !slices.Equal(got.UIDs, now.UIDs) || got.UIDValidity != next.UIDValidity {
		t.Errorf("Apply after reset = %+v", got)
	}
}

// ECO.1.0.2: a server without CONDSTORE (the sandbox operator with CONDSTORE off) gets a full
// flag listing, still exact: every message with its flags, the expunged known UIDs as vanished.
func TestResync_withoutCondstore_ECO_1_0_2(t *testing.T) {
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
		Accounts:         []operator.Account{{Address: addr, Kind: operator.KindPersonal, NationalIDs: []string{rpps}}},
		DisableCondStore: true, // the sandbox offers CONDSTORE (its Resync is TestConformanceIMAP_resyncCondstore)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Close() })
	var uids []uint32
	for _, s := range []string{"S1", "S2", "S3"} {
		u, err := op.Append(addr, "INBOX", testMessage(addr, addr, s))
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, u)
	}
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: addr,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return "jeton-de-test", nil })}
	ctx := ctxT(t)
	cl, err := lps.DialIMAP(ctx, ep(t, op.IMAPAddr()), auth,
		&lps.Options{TLS: pol.ClientConfig("", nil), ClassifyTLSError: trust.ClassifyHandshakeError})
	if err != nil {
		t.Fatalf("DialIMAP: %v", err)
	}
	defer cl.Close()
	if cl.Capable("CONDSTORE") {
		t.Fatal("DisableCondStore: the operator still offers CONDSTORE")
	}
	state := stateOf(t, cl, "INBOX")
	if !slices.Equal(state.UIDs, uids) || state.HighestModSeq != 0 {
		t.Fatalf("state %+v, appended %v", state, uids)
	}
	if err := cl.SetFlags(ctx, uids[:1], lps.FlagsAdd, lps.FlagSeen); err != nil {
		t.Fatal(err)
	}
	if err := cl.Delete(ctx, uids[1:2]); err != nil {
		t.Fatal(err)
	}
	res, err := cl.Resync(ctx, "INBOX", state)
	if err != nil {
		t.Fatalf("Resync: %v", err)
	}
	if !res.Full || res.Reset {
		t.Errorf("Full=%t Reset=%t, want a full listing", res.Full, res.Reset)
	}
	if want := []uint32{uids[0], uids[2]}; !slices.Equal(changedUIDs(res), want) {
		t.Errorf("Changed = %v, want %v", changedUIDs(res), want)
	}
	if !slices.Contains(flagsOf(res, uids[0]), lps.FlagSeen) || slices.Contains(flagsOf(res, uids[2]), lps.FlagSeen) {
		t.Errorf("flags = %+v", res.Changed)
	}
	if !slices.Equal(res.Vanished, uids[1:2]) {
		t.Errorf("Vanished = %v, want %v", res.Vanished, uids[1:2])
	}
}

// Apply keeps the known UIDs, drops the vanished ones and adds the new ones, in order.
func TestSyncResult_Apply(t *testing.T) {
	prev := lps.SyncState{UIDValidity: 7, HighestModSeq: 10, UIDs: []uint32{1, 2, 3, 5}}
	r := &lps.SyncResult{UIDValidity: 7, HighestModSeq: 14, Vanished: []uint32{2, 5},
		Changed: []lps.FlagChange{{UID: 3}, {UID: 9}, {UID: 6}}}
	got := r.Apply(prev)
	if got.UIDValidity != 7 || got.HighestModSeq != 14 || !slices.Equal(got.UIDs, []uint32{1, 3, 6, 9}) {
		t.Errorf("Apply = %+v", got)
	}
	r.Reset, r.UIDValidity = true, 8
	if got := r.Apply(prev); !slices.Equal(got.UIDs, []uint32{3, 6, 9}) || got.UIDValidity != 8 {
		t.Errorf("Apply after reset = %+v", got)
	}
}
