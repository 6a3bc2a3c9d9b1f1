package annuaire

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func readSmall(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "extraction_small.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func zipOf(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if w, err := zw.Create("LISEZMOI.txt"); err != nil {
		t.Fatal(err)
	} else if _, err := w.Write([]byte("autre fichier")); err != nil {
		t.Fatal(err)
	}
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ECO.3.1.4: the ZIP published by the Annuaire Santé is read without unpacking it first.
func TestImport_zip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Extraction_Correspondance_MSSante.zip")
	if err := os.WriteFile(path, zipOf(t, "Extraction_Correspondance_MSSante_202611280600.txt", readSmall(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := Import(context.Background(), path, dir, nil)
	if err != nil {
		t.Fatalf("Import(zip): %v", err)
	}
	if res.Entries != 8 {
		t.Errorf("Import(zip) entries = %d, want 8", res.Entries)
	}
	x := OpenIndex(filepath.Join(dir, IndexFile))
	defer x.Close()
	if got := find(t, x, Query{Text: "castagnol"}); len(got) != 1 {
		t.Errorf("Search after zip import = %q", got)
	}
}

// ECO.3.1.4: the URL form backs off on 429 (honouring Retry-After), then downloads; a second
// import sends the validators and a 304 keeps the index without downloading.
func TestImport_urlRetriesAndSkipsUnchanged(t *testing.T) {
	body := zipOf(t, "Extraction_Correspondance_MSSante_202611280600.txt", readSmall(t))
	const etag = `"v1"`
	var hits, full atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n == 1 {
			w.Header().Set("Retry-After", "7")
			http.Error(w, "trop de requêtes", http.StatusTooManyRequests)
			return
		}
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/zip")
		w.Write(body)
	}))
	defer srv.Close()
	var waits []time.Duration
	opts := &ImportOptions{Sleep: func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}}
	dir := t.TempDir()
	src := srv.URL + "/annuaire-sante-webservices/V300/services/extraction/Extraction_Correspondance_MSSante"
	res, err := Import(context.Background(), src, dir, opts)
	if err != nil {
		t.Fatalf("Import(url): %v", err)
	}
	if res.Entries != 8 || res.Downloads != 2 || res.NotModified {
		t.Errorf("Import(url) = entries %d downloads %d not_modified %v, want 8 2 false", res.Entries, res.Downloads, res.NotModified)
	}
	if len(waits) != 1 || waits[0] != 7*time.Second {
		t.Errorf("waits = %v, want [7s] from Retry-After", waits)
	}
	res, err = Import(context.Background(), src, dir, opts)
	if err != nil {
		t.Fatalf("second Import(url): %v", err)
	}
	if !res.NotModified || full.Load() != 1 {
		t.Errorf("second import: not_modified %v, full downloads %d; want true, 1", res.NotModified, full.Load())
	}
	x := OpenIndex(filepath.Join(dir, IndexFile))
	defer x.Close()
	if got := find(t, x, Query{Text: "ferrandiere"}); len(got) != 1 {
		t.Errorf("Search after the 304: %q, want the index kept", got)
	}
	// --force downloads again.
	opts.Force = true
	if res, err = Import(context.Background(), src, dir, opts); err != nil || res.NotModified || full.Load() != 2 {
		t.Errorf("forced import: %v, not_modified %v, full downloads %d", err, res != nil && res.NotModified, full.Load())
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".annuaire-*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %q", tmp)
	}
	// A file import in between: the next URL import downloads again (no 304 on a foreign index).
	opts.Force = false
	if _, err := Import(context.Background(), filepath.Join("testdata", "extraction_small.txt"), dir, nil); err != nil {
		t.Fatal(err)
	}
	if res, err = Import(context.Background(), src, dir, opts); err != nil || res.NotModified || full.Load() != 3 {
		t.Errorf("URL import after a file import: %v, not_modified %v, full downloads %d", err, res != nil && res.NotModified, full.Load())
	}
}

// ECO.3.1.4: a server that keeps answering 429 fails the import after MaxAttempts; the old
// index stays.
func TestImport_urlGivesUpAfterMaxAttempts(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", "Sat, 28 Nov 2099 10:00:00 GMT")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	var waits []time.Duration
	opts := &ImportOptions{MaxAttempts: 3, MaxBackoff: time.Minute, Sleep: func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}}
	dir := t.TempDir()
	if _, err := Import(context.Background(), filepath.Join("testdata", "extraction_small.txt"), dir, nil); err != nil {
		t.Fatal(err)
	}
	_, err := Import(context.Background(), srv.URL, dir, opts)
	if err == nil || !strings.Contains(err.Error(), "429") {
		t.Errorf("Import = %v, want an HTTP 429 error", err)
	}
	if hits.Load() != 3 || len(waits) != 2 || waits[0] != time.Minute {
		t.Errorf("hits %d waits %v, want 3 hits and 2 waits capped at 1m", hits.Load(), waits)
	}
	x := OpenIndex(filepath.Join(dir, IndexFile))
	defer x.Close()
	if got := find(t, x, Query{Text: "castagnol"}); len(got) != 1 {
		t.Errorf("old index lost: %q", got)
	}
}

func TestImport_urlCancelledDuringBackoff(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Import(ctx, srv.URL, t.TempDir(), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Import = %v, want the context's deadline", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
	}{
		{"", 3 * time.Second},
		{"120", 2 * time.Minute},
		{"Sat, 28 Nov 2026 10:00:30 GMT", 30 * time.Second},
		{"Sat, 28 Nov 2026 09:00:00 GMT", 0},
		{"bientôt", 3 * time.Second},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.h, now, 3*time.Second); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	got := redactURL("https://user:secret@example.test/extraction?token=abc#x")
	if got != "https://example.test/extraction" {
		t.Errorf("redactURL = %q", got)
	}
}
