package annuaire

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ImportOptions tunes Import. Nil means the defaults.
type ImportOptions struct {
	// HTTPClient downloads URLs; nil means a client with a 10-minute timeout.
	HTTPClient *http.Client
	// MaxAttempts bounds the downloads tried when the server answers 429 or 503; 0 means 5.
	MaxAttempts int
	// MaxBackoff bounds one wait between attempts, whatever Retry-After says; 0 means 5 minutes.
	MaxBackoff time.Duration
	// Sleep waits between attempts; nil means a timer that honours ctx. Tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Force downloads even when the server says the file has not changed.
	Force bool
	// Progress receives the phase ("download", "read", "index") and a count (bytes, rows).
	Progress func(phase string, n int64)
	// Logger receives retries and warnings; nil means discard.
	Logger *slog.Logger
}

// ImportResult is the summary of an import.
type ImportResult struct {
	Source      string   `json:"source"`
	Index       string   `json:"index"`
	NotModified bool     `json:"not_modified"` // URL unchanged since the last import: index kept
	Rows        int      `json:"rows"`         // data lines read
	Entries     int      `json:"entries"`      // mailboxes indexed
	Duplicates  int      `json:"duplicates"`   // lines with an address already seen
	BadLines    int      `json:"bad_lines"`    // lines skipped
	Warnings    []string `json:"warnings,omitempty"`
	Downloads   int      `json:"downloads,omitempty"` // HTTP attempts (429 retries included)
	Bytes       int64    `json:"bytes"`               // size of the extraction text read
	IndexBytes  int64    `json:"index_bytes"`
	Seconds     float64  `json:"seconds"`
}

// httpState is what Import remembers of a URL beside the index, for conditional GETs.
type httpState struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// Import builds the index dataDir/annuaire.db from src — a path to the extraction text file, a
// ZIP holding it, or an http(s) URL of either — and replaces the previous index atomically: the
// new index is written to a temporary file in dataDir and renamed over the old one, so searches
// keep working during the import and a failed import leaves the old index in place. ECO.3.1.4.
//
// For a URL, the ETag and Last-Modified of the last import are kept beside the index and sent
// back; a 304 answer skips the download (NotModified). 429 and 503 answers are retried after
// Retry-After (or an exponential backoff), at most MaxAttempts times.
func Import(ctx context.Context, src, dataDir string, opts *ImportOptions) (*ImportResult, error) {
	if opts == nil {
		opts = &ImportOptions{}
	}
	start := time.Now()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	dst := filepath.Join(dataDir, IndexFile)
	res := &ImportResult{Source: src, Index: dst}
	path := src
	var state *httpState
	if isURL(src) {
		var err error
		path, state, err = download(ctx, src, dataDir, opts, res)
		if err != nil {
			return nil, err
		}
		if path == "" {
			res.NotModified = true
			res.IndexBytes = fileSize(dst)
			res.Seconds = time.Since(start).Seconds()
			return res, nil
		}
		defer os.Remove(path)
	}
	if err := importFile(ctx, path, dst, opts, res); err != nil {
		return nil, err
	}
	if state != nil {
		if err := saveState(dst, state); err != nil {
			logger(opts).Warn("annuaire: cannot save the download state", "err", err)
		}
	} else if err := os.Remove(stateFile(dst)); err != nil && !errors.Is(err, os.ErrNotExist) {
		// The index no longer comes from the URL: a 304 must not keep it.
		logger(opts).Warn("annuaire: cannot remove the download state", "err", err)
	}
	res.IndexBytes = fileSize(dst)
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func logger(opts *ImportOptions) *slog.Logger {
	if opts.Logger != nil {
		return opts.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func fileSize(path string) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return 0
}

// importFile builds a new index from the file at path (text or ZIP) and renames it over dst.
func importFile(ctx context.Context, path, dst string, opts *ImportOptions, res *ImportResult) error {
	r, size, closeFn, err := openExtraction(path)
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	defer closeFn()
	counter := &countingReader{r: r}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".annuaire-*.db")
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	tmpPath := tmp.Name()
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	_ = os.Remove(tmpPath) // BuildIndex creates it
	defer os.Remove(tmpPath)
	bopts := &BuildOptions{Source: redactURL(res.Source)}
	if opts.Progress != nil {
		bopts.Progress = func(phase string, rows int) { opts.Progress(phase, int64(rows)) }
		opts.Progress("size", size)
	}
	st, err := BuildIndex(ctx, tmpPath, counter, bopts)
	res.Rows, res.Entries, res.Duplicates, res.BadLines = st.Rows, st.Entries, st.Duplicates, st.BadLines
	res.Bytes = counter.n
	for _, w := range st.Warnings {
		res.Warnings = append(res.Warnings, w.Error())
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	if st.Entries == 0 {
		return fmt.Errorf("import %s: no mailbox in the file: the old index is kept", path)
	}
	return ReplaceIndex(tmpPath, dst)
}

// maxExtraction bounds the uncompressed extraction text (the real one is about 90 MB).
const maxExtraction = 4 << 30

// openExtraction opens the extraction text of path: the file itself, or inside a ZIP the entry
// named Extraction_Correspondance_MSSante*, else the only or largest .txt entry.
func openExtraction(path string) (io.Reader, int64, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	if n < 4 || !bytes.Equal(magic[:], []byte("PK\x03\x04")) {
		return f, fileSize(path), func() { f.Close() }, nil
	}
	f.Close()
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("zip: %w", err)
	}
	entry := pickZipEntry(zr.File)
	if entry == nil {
		zr.Close()
		return nil, 0, nil, errors.New("zip: no extraction file inside")
	}
	rc, err := entry.Open()
	if err != nil {
		zr.Close()
		return nil, 0, nil, fmt.Errorf("zip %s: %w", entry.Name, err)
	}
	return io.LimitReader(rc, maxExtraction), int64(entry.UncompressedSize64), func() { rc.Close(); zr.Close() }, nil
}

func pickZipEntry(files []*zip.File) *zip.File {
	var best *zip.File
	for _, f := range files {
		base := filepath.Base(f.Name)
		if f.FileInfo().IsDir() {
			continue
		}
		if strings.HasPrefix(base, "Extraction_Correspondance_MSSante") {
			return f
		}
		if strings.HasSuffix(strings.ToLower(base), ".txt") && (best == nil || f.UncompressedSize64 > best.UncompressedSize64) {
			best = f
		}
	}
	return best
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// stateFile is where the conditional-GET state of the index at dst is kept.
func stateFile(dst string) string { return dst + ".http.json" }

func loadState(dst, url string) *httpState {
	data, err := os.ReadFile(stateFile(dst))
	if err != nil {
		return nil
	}
	var st httpState
	if json.Unmarshal(data, &st) != nil || st.URL != url {
		return nil
	}
	if _, err := os.Stat(dst); err != nil {
		return nil // no index to keep: download anyway
	}
	return &st
}

func saveState(dst string, st *httpState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := stateFile(dst) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, stateFile(dst))
}

// redactURL drops a URL's query and user info, which could carry credentials.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || !isURL(s) {
		return s
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// download fetches url into a temporary file of dataDir and returns its path, "" when the server
// says it has not changed since the last import, and the state to save after a good import.
func download(ctx context.Context, src, dataDir string, opts *ImportOptions, res *ImportResult) (string, *httpState, error) {
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
	}
	attempts := opts.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	maxBackoff := opts.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 5 * time.Minute
	}
	sleep := opts.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	dst := filepath.Join(dataDir, IndexFile)
	prev := loadState(dst, redactURL(src))
	if opts.Force {
		prev = nil
	}
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		res.Downloads = attempt
		resp, err := get(ctx, client, src, prev)
		if err != nil {
			return "", nil, fmt.Errorf("download %s: %w", redactURL(src), err)
		}
		switch {
		case resp.StatusCode == http.StatusNotModified && prev != nil:
			resp.Body.Close()
			return "", nil, nil
		case resp.StatusCode == http.StatusOK:
			path, err := saveBody(resp, dataDir, opts)
			if err != nil {
				return "", nil, fmt.Errorf("download %s: %w", redactURL(src), err)
			}
			return path, &httpState{URL: redactURL(src), ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}, nil
		case (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) && attempt < attempts:
			wait := retryAfter(resp.Header.Get("Retry-After"), time.Now(), backoff)
			wait = min(wait, maxBackoff)
			backoff = min(2*backoff, maxBackoff)
			resp.Body.Close()
			logger(opts).Info("annuaire: server asks to wait", "code", resp.StatusCode, "wait", wait, "attempt", attempt)
			if err := sleep(ctx, wait); err != nil {
				return "", nil, err
			}
		default:
			resp.Body.Close()
			return "", nil, fmt.Errorf("download %s: HTTP %s", redactURL(src), resp.Status)
		}
	}
}

func get(ctx context.Context, client *http.Client, src string, prev *httpState) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		if prev.ETag != "" {
			req.Header.Set("If-None-Match", prev.ETag)
		}
		if prev.LastModified != "" {
			req.Header.Set("If-Modified-Since", prev.LastModified)
		}
	}
	return client.Do(req)
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); def when absent or invalid.
func retryAfter(h string, now time.Time, def time.Duration) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return def
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return def
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// saveBody writes the response body to a temporary file of dir and returns its path.
func saveBody(resp *http.Response, dir string, opts *ImportOptions) (string, error) {
	defer resp.Body.Close()
	f, err := os.CreateTemp(dir, ".annuaire-download-*")
	if err != nil {
		return "", err
	}
	var w io.Writer = f
	if opts.Progress != nil {
		opts.Progress("size", resp.ContentLength)
		w = &progressWriter{w: f, fn: func(n int64) { opts.Progress("download", n) }}
	}
	_, err = io.Copy(w, io.LimitReader(resp.Body, maxExtraction))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

type progressWriter struct {
	w    io.Writer
	n    int64
	last int64
	fn   func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if p.n-p.last >= 1<<20 {
		p.last = p.n
		p.fn(p.n)
	}
	return n, err
}
