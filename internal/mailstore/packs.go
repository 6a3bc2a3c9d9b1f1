package mailstore

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// packs keeps the bodies of a SQLite index in append-only pack files of a directory beside the
// database ("<database>-bodies/"), each body at an offset, its place in mail_body_files with its
// length and CRC-32C. In the database a body was written twice (WAL, then checkpoint) through
// 4 KiB pages, and copied twice more in SQLite's allocator: 30% of a first sync's wall time and
// 13 MiB of its peak memory on the bench's mailbox (bench/transport.sh). PostgreSQL keeps its
// bodies in mail_bodies: several hosts share it, and a file tree would have to be shared too.
//
// Writing: each Store appends to a pack of its own (a new name per process and rotation), so
// processes never write one file; a pack is closed at packMaxSize or packMaxAge. A group's
// bodies are appended and fdatasync'd before the transaction that refers to them commits: a
// committed row never points at bytes that a crash could lose; bytes appended by a transaction
// that did not commit are garbage, never read. Reading checks the length and the CRC.
//
// Removal: a message removed from the index leaves its bytes in the pack; a pack no row refers
// to any more, untouched for packIdle (longer than any writer keeps one open), is deleted at the
// end of a sync. Packs only partly used are not compacted (yet).
type packs struct {
	dir string
	mu  sync.Mutex
	// the pack being appended to; "" before the first append and after a rotation
	name   string
	opened time.Time
	now    func() time.Time
	// maxSize and maxAge end a pack (packMaxSize, packMaxAge; smaller in tests).
	maxSize int64
	maxAge  time.Duration
}

const (
	packMaxSize = 256 << 20
	packMaxAge  = time.Hour
	packIdle    = 2 * time.Hour
	packSuffix  = ".pack"
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	packSeq    atomic.Int64
)

// bodyRef is where a body is.
type bodyRef struct {
	Pack   string
	Offset int64
	Length int64
	CRC    uint32
}

func newPacks(dir string, now func() time.Time) *packs {
	return &packs{dir: dir, now: now, maxSize: packMaxSize, maxAge: packMaxAge}
}

// append writes bodies at the end of the current pack, makes them durable, and returns where
// each is.
func (p *packs) append(bodies [][]byte) ([]bodyRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	created := false
	if p.name == "" || p.now().Sub(p.opened) > p.maxAge {
		if err := os.MkdirAll(p.dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the body directory: %w", err)
		}
		// Unique among processes (pid) and among the Stores of one process (packSeq), even
		// with a coarse clock.
		p.name = fmt.Sprintf("%d-%d-%d%s", p.now().UnixNano(), os.Getpid(), packSeq.Add(1), packSuffix)
		p.opened = p.now()
		created = true
	}
	flags := os.O_WRONLY | os.O_APPEND
	if created {
		flags |= os.O_CREATE | os.O_EXCL
	}
	refs, err := writePack(filepath.Join(p.dir, p.name), flags, bodies)
	if err != nil {
		p.name = "" // after a failure the end of the pack is not known: the next append starts another
		return nil, err
	}
	if created {
		if err := syncDir(p.dir); err != nil {
			return nil, err
		}
	}
	if n := len(refs); n > 0 && refs[n-1].Offset+refs[n-1].Length >= p.maxSize {
		p.name = ""
	}
	return refs, nil
}

// writePack appends bodies to the pack at path, flushed, and returns where each is.
func writePack(path string, flags int, bodies [][]byte) ([]bodyRef, error) {
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the body pack: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("opening the body pack: %w", err)
	}
	off := fi.Size()
	refs := make([]bodyRef, len(bodies))
	for i, b := range bodies {
		if _, err := f.Write(b); err != nil {
			return nil, fmt.Errorf("writing the body pack: %w", err)
		}
		refs[i] = bodyRef{Pack: filepath.Base(path), Offset: off, Length: int64(len(b)), CRC: crc32.Checksum(b, castagnoli)}
		off += int64(len(b))
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("flushing the body pack: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("closing the body pack: %w", err)
	}
	return refs, nil
}

// read returns the body at ref, checked.
func (p *packs) read(ref bodyRef) ([]byte, error) {
	if !validPackName(ref.Pack) || ref.Offset < 0 || ref.Length < 0 {
		return nil, fmt.Errorf("body reference %q at %d (%d bytes) is not valid", ref.Pack, ref.Offset, ref.Length)
	}
	f, err := os.Open(filepath.Join(p.dir, ref.Pack))
	if err != nil {
		return nil, fmt.Errorf("reading the body pack: %w", err)
	}
	defer f.Close()
	b := make([]byte, ref.Length)
	if _, err := f.ReadAt(b, ref.Offset); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading the body pack %s at %d: %w", ref.Pack, ref.Offset, err)
	}
	if crc32.Checksum(b, castagnoli) != ref.CRC {
		return nil, fmt.Errorf("body in pack %s at %d is damaged (checksum)", ref.Pack, ref.Offset)
	}
	return b, nil
}

func validPackName(name string) bool {
	return strings.HasSuffix(name, packSuffix) && filepath.Base(name) == name && !strings.HasPrefix(name, ".")
}

// collect deletes the packs of the directory that are not in used, not this Store's current
// one, and untouched for packIdle.
func (p *packs) collect(used map[string]bool) (int, error) {
	entries, err := os.ReadDir(p.dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("listing the body packs: %w", err)
	}
	p.mu.Lock()
	current := p.name
	p.mu.Unlock()
	n := 0
	for _, e := range entries {
		name := e.Name()
		if !validPackName(name) || used[name] || name == current {
			continue
		}
		fi, err := e.Info()
		if err != nil || p.now().Sub(fi.ModTime()) < packIdle {
			continue
		}
		if err := os.Remove(filepath.Join(p.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("removing an unused body pack: %w", err)
		}
		n++
	}
	return n, nil
}

// collectPacks removes the body packs no message refers to any more (see packs).
func (s *Store) collectPacks(ctx context.Context) error {
	if s.packs == nil {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT pack FROM mail_body_files`)
	if err != nil {
		return fmt.Errorf("listing the body packs in use: %w", err)
	}
	used := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("listing the body packs in use: %w", err)
		}
		used[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing the body packs in use: %w", err)
	}
	n, err := s.packs.collect(used)
	if n > 0 {
		s.opts.Logger.Info("unused body packs removed", "count", n)
	}
	return err
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("flushing the body directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("flushing the body directory: %w", err)
	}
	return nil
}
