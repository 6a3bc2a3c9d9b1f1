package message

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// fixedOptions gives byte-reproducible output: a fixed clock and a seeded random stream.
func fixedOptions() *Options {
	return &Options{
		NIL:  "TEST-NIL-0001",
		Now:  func() time.Time { return time.Date(2026, 3, 14, 10, 30, 0, 0, time.FixedZone("CET", 3600)) },
		Rand: rand.NewChaCha8([32]byte{'m', 's', 's'}),
	}
}

// sample reads a synthetic CDA of cda/testdata.
func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustCompose(t testing.TB, d *Draft, opts *Options) *Composed {
	t.Helper()
	c, err := Compose(d, opts)
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	return c
}

func mustParse(t testing.TB, data []byte) *Message {
	t.Helper()
	m, err := Parse(data, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

// headerBlock returns the top header of a mail, unfolded, one field per line.
func headerBlock(data []byte) string {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	return strings.ReplaceAll(string(head), "\r\n ", " ")
}

// headerValue returns the first value of field key in data's top header, exact name match.
func headerValue(data []byte, key string) (string, bool) {
	for _, l := range strings.Split(headerBlock(data), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update, then review the diff)", path)
	}
}

var (
	drMartin = Address{Name: "Dr Marie MARTIN", Addr: "marie.martin@medecin.mssante.fr"}
	drDupont = Address{Name: "Dr Jean DUPONT", Addr: "jean.dupont@hopital-a.mssante.fr"}
)

func mustDate(t testing.TB, s string) time.Time {
	t.Helper()
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
