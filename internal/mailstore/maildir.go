package mailstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Maildir writes the synchronised folders as standard Maildirs (one directory per folder, named as
// on the server with "/" as separator, like mbsync's "SubFolders Verbatim"; cur/ new/ tmp/ in each),
// so that other tools (mutt, notmuch, mbsync-based setups) can read them. One file per message,
// written in tmp/ and renamed into cur/ (atomic), named
// "<internal date>.M<local id>P<pid>.mssante,U=<uid>:2,<flags>" with the Maildir flags in ASCII
// order (D draft, F flagged, P passed, R replied, S seen, T trashed), as mbsync names them. A flag
// change renames the file; a message expunged on the server is removed. The files follow the
// index: at the end of each folder's sync the directory is reconciled with it, so a Maildir left
// behind by a crash, or created after the index, is completed from the bodies stored.
//
// Durability: a file is written in tmp/ and renamed into cur/ without an fsync of its own, so a
// killed process never leaves a partial message in cur/ (the rename is atomic and the page cache
// outlives the process). After an operating-system crash or a power loss a file written since the
// last durability point may be empty or short: the reconciliation compares every file's size with
// the stored body and writes it again. The durability point is the end of each folder's sync (after
// reconciliation): on Linux one syncfs(2) of the Maildir's file system, elsewhere an fsync of each
// file written since the previous point. So when Sync returns, every file it wrote is on disk, as
// with mbsync's default "FSync yes", at the cost of one flush per folder instead of one per message.
type Maildir struct {
	dir string
	seq atomic.Int64
	// unsynced are the files written since the last durability point (for the fallback of
	// platforms without syncfs); dirty tells whether there are any.
	mu       sync.Mutex
	unsynced []string
	dirty    bool
	// Now gives the time that starts new file names (time.Now by default).
	Now func() time.Time
}

// OpenMaildir returns the writer of the Maildir tree dir, created (0700) when needed.
func OpenMaildir(dir string) (*Maildir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating maildir %s: %w", dir, err)
	}
	return &Maildir{dir: dir, Now: time.Now}, nil
}

// Dir returns the directory of a folder's Maildir.
func (m *Maildir) Dir(folder string) (string, error) {
	var parts []string
	for _, p := range strings.Split(folder, "/") {
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "\x00\\") {
			return "", fmt.Errorf("folder name %q cannot be a maildir", folder)
		}
		parts = append(parts, p)
	}
	return filepath.Join(append([]string{m.dir}, parts...)...), nil
}

func (m *Maildir) ensure(folder string) (string, error) {
	d, err := m.Dir(folder)
	if err != nil {
		return "", err
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o700); err != nil {
			return "", fmt.Errorf("creating maildir %s: %w", d, err)
		}
	}
	return d, nil
}

// maildirFlags maps IMAP flags to Maildir info letters.
var maildirFlags = map[string]byte{`\draft`: 'D', `\flagged`: 'F', `$forwarded`: 'P', `\answered`: 'R', `\seen`: 'S', `\deleted`: 'T'}

func infoOf(flags []string) string {
	var b []byte
	for _, f := range flags {
		if c, ok := maildirFlags[strings.ToLower(f)]; ok {
			b = append(b, c)
		}
	}
	slices.Sort(b)
	return string(slices.Compact(b))
}

func (m *Maildir) name(id int64, uid uint32, flags []string) string {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	return fmt.Sprintf("%d.M%dP%d.mssante,U=%d:2,%s", now().Unix(), id, os.Getpid(), uid, infoOf(flags))
}

// put writes one message of local id into folder.
func (m *Maildir) put(folder string, id int64, uid uint32, flags []string, raw []byte) error {
	d, err := m.ensure(folder)
	if err != nil {
		return err
	}
	name := m.name(id, uid, flags)
	tmp := filepath.Join(d, "tmp", fmt.Sprintf("%s.%d", name, m.seq.Add(1)))
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing maildir message: %w", err)
	}
	_, err = fh.Write(raw)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	to := filepath.Join(d, "cur", name)
	if err == nil {
		err = os.Rename(tmp, to)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing maildir message: %w", err)
	}
	m.mu.Lock()
	m.dirty = true
	if !haveSyncfs {
		m.unsynced = append(m.unsynced, to)
	}
	m.mu.Unlock()
	return nil
}

// durable makes the files written so far reach the disk (the durability point, see Maildir).
func (m *Maildir) durable() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirty {
		return nil
	}
	if err := syncFiles(m.dir, m.unsynced); err != nil {
		return fmt.Errorf("flushing maildir %s: %w", m.dir, err)
	}
	m.unsynced, m.dirty = m.unsynced[:0], false
	return nil
}

// maildirFile is a message file found in cur/ or new/.
type maildirFile struct {
	path string
	uid  uint32
	info string
	size int64
}

// scan returns the files of folder by local id.
func (m *Maildir) scan(folder string) (map[int64]maildirFile, error) {
	d, err := m.ensure(folder)
	if err != nil {
		return nil, err
	}
	out := map[int64]maildirFile{}
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(d, sub))
		if err != nil {
			return nil, fmt.Errorf("reading maildir %s: %w", d, err)
		}
		for _, e := range ents {
			id, f, ok := parseMaildirName(e.Name())
			if !ok {
				continue
			}
			f.path = filepath.Join(d, sub, e.Name())
			f.size = -1
			if fi, err := e.Info(); err == nil {
				f.size = fi.Size()
			}
			out[id] = f
		}
	}
	return out, nil
}

// parseMaildirName reads the local id, UID and flags of a name this writer gave.
func parseMaildirName(name string) (int64, maildirFile, bool) {
	var f maildirFile
	base, info, _ := strings.Cut(name, ":2,")
	f.info = info
	i := strings.Index(base, ".M")
	j := strings.Index(base, ".mssante,U=")
	if i < 0 || j < 0 {
		return 0, f, false
	}
	idPart, _, _ := strings.Cut(base[i+2:], "P")
	id, err := strconv.ParseInt(idPart, 10, 64)
	if err != nil {
		return 0, f, false
	}
	uid, err := strconv.ParseUint(base[j+len(".mssante,U="):], 10, 32)
	if err != nil {
		return 0, f, false
	}
	f.uid = uint32(uid)
	return id, f, true
}

// reconcile makes folder's Maildir hold exactly the index's messages of f with their flags.
func (m *Maildir) reconcile(ctx context.Context, s *Store, f folderState) error {
	files, err := m.scan(f.Name)
	if err != nil {
		return err
	}
	// LENGTH of a blob reads neither SQLite's overflow pages nor PostgreSQL's TOAST; a body in
	// a pack (SQLite) has its length in mail_body_files.
	rows, err := s.db.QueryContext(ctx, `SELECT m.id, m.uid, m.flags, COALESCE(p.len_bytes, LENGTH(b.body)) FROM mail_messages m
		LEFT JOIN mail_body_files p ON p.message_ref = m.id LEFT JOIN mail_bodies b ON b.message_ref = m.id
		WHERE m.folder_id = ? AND m.has_body = 1 AND (p.message_ref IS NOT NULL OR b.message_ref IS NOT NULL)`, f.ID)
	if err != nil {
		return fmt.Errorf("reading the index for the maildir: %w", err)
	}
	type want struct {
		uid   uint32
		flags []string
		size  int64
	}
	wanted := map[int64]want{}
	for rows.Next() {
		var id, uid, size int64
		var flags string
		if err := rows.Scan(&id, &uid, &flags, &size); err != nil {
			rows.Close()
			return fmt.Errorf("reading the index for the maildir: %w", err)
		}
		wanted[id] = want{uint32(uid), strings.Fields(flags), size}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the index for the maildir: %w", err)
	}
	for id, fl := range files {
		w, ok := wanted[id]
		switch {
		case !ok || fl.size != w.size:
			// Not in the index, or cut short by a system crash (written again below).
			if err := os.Remove(fl.path); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("removing from the maildir: %w", err)
			}
			if ok {
				delete(files, id)
			}
		case w.uid != fl.uid || infoOf(w.flags) != fl.info:
			base, _, _ := strings.Cut(filepath.Base(fl.path), ",U=")
			to := filepath.Join(filepath.Dir(filepath.Dir(fl.path)), "cur", fmt.Sprintf("%s,U=%d:2,%s", base, w.uid, infoOf(w.flags)))
			if err := os.Rename(fl.path, to); err != nil {
				return fmt.Errorf("renaming in the maildir: %w", err)
			}
		}
	}
	for id, w := range wanted {
		if _, ok := files[id]; ok {
			continue
		}
		raw, err := s.body(ctx, id)
		if err != nil {
			return err
		}
		if err := m.put(f.Name, id, w.uid, w.flags, raw); err != nil {
			return err
		}
	}
	return nil
}
