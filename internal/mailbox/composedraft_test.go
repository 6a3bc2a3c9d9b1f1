package mailbox_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/xdm"
)

func fixtureCDA(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "cda", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ComposeDraft without an Account (the gateway composes before a worker opens the mailbox): one
// seed gives one Message-ID and the same bytes, another seed another Message-ID; the patient
// rule still refuses a malformed patient address. ECO.2.1.1.
func TestComposeDraft_seed(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC) }
	from, err := mailbox.ParseAddress("Laboratoire Test <appli@test.mssante.fr>")
	if err != nil {
		t.Fatal(err)
	}
	to, _ := mailbox.ParseAddress("bob@test.mssante.fr")
	draft := func() *mailbox.Draft {
		d := &mailbox.Draft{}
		d.From, d.To, d.Text, d.CDAs = from, []mailbox.Address{to}, "Compte rendu.", [][]byte{fixtureCDA(t, "n3-cr-biologie.xml")}
		return d
	}
	compose := func(seed string) ([]byte, string, []string) {
		c, env, err := mailbox.ComposeDraft(ctx, draft(), &mailbox.ComposeOptions{Now: now, Seed: seed})
		if err != nil {
			t.Fatalf("ComposeDraft(seed %q): %v", seed, err)
		}
		return c.Data, c.MessageID, env.Recipients
	}
	a, idA, rcpts := compose("appli\x00key:k1")
	b, idB, _ := compose("appli\x00key:k1")
	_, idC, _ := compose("appli\x00key:k2")
	if idA == "" || idA != idB || !bytes.Equal(a, b) {
		t.Errorf("one seed: Message-IDs %q, %q (same bytes: %v), want one Message-ID and the same mail", idA, idB, bytes.Equal(a, b))
	}
	if idC == idA {
		t.Errorf("another seed gave the same Message-ID %q", idC)
	}
	if len(rcpts) != 1 || rcpts[0] != to.Addr {
		t.Errorf("recipients %v, want [%s]", rcpts, to.Addr)
	}
	_, idR1, _ := compose("")
	_, idR2, _ := compose("")
	if idR1 == idR2 {
		t.Errorf("no seed: two composings share the Message-ID %q", idR1)
	}

	d := draft()
	bad, _ := mailbox.ParseAddress("123@patient.mssante.fr")
	d.To = []mailbox.Address{bad}
	if _, _, err := mailbox.ComposeDraft(ctx, d, &mailbox.ComposeOptions{Now: now}); err == nil {
		t.Error("a malformed patient address was composed")
	}
	d = draft()
	d.From = mailbox.Address{}
	if _, _, err := mailbox.ComposeDraft(ctx, d, nil); err == nil {
		t.Error("a draft without sender was composed")
	}
}

// XDMDocuments gives the CDA documents of an uploaded IHE_XDM.zip, refuses what is no archive,
// and tells an archive without CDA (ErrNoCDA).
func TestXDMDocuments(t *testing.T) {
	docs := [][]byte{fixtureCDA(t, "n3-cr-biologie.xml")}
	p, err := xdm.Build(docs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var zip bytes.Buffer
	if _, err := p.WriteTo(&zip); err != nil {
		t.Fatal(err)
	}
	got, err := mailbox.XDMDocuments(zip.Bytes())
	if err != nil {
		t.Fatalf("XDMDocuments: %v", err)
	}
	if len(got) != 1 || !bytes.Equal(got[0], docs[0]) {
		t.Errorf("XDMDocuments gave %d documents, want the CDA byte for byte", len(got))
	}
	if _, err := mailbox.XDMDocuments([]byte("pas une archive")); err == nil || errors.Is(err, mailbox.ErrNoCDA) {
		t.Errorf("not a zip: %v, want a read error", err)
	}
}
