//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tokenLinks publishes one token per mailbox as <dir>/<mailbox>.token, a symbolic link to
// /proc/<pid>/fd/<n> where n is an anonymous in-memory file (memfd) of this process holding the
// token: readers open the link and read the current token; nothing reaches a disk (ECO.1.2.5).
type tokenLinks struct {
	dir string

	mu    sync.Mutex
	links map[string]*tokenLink // mailbox → link
	done  bool
}

type tokenLink struct {
	path string
	mem  *os.File // current memfd; nil before the first token
}

// graceClose is how long a replaced memfd stays open, for a reader that resolved the link just
// before the swap.
const graceClose = 5 * time.Second

// newTokenLinks creates dir (0700, owned by the user) and reserves one link per mailbox.
func newTokenLinks(dir string, mailboxes []string) (*tokenLinks, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("runtime dir: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("runtime dir: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() {
		return nil, fmt.Errorf("runtime dir %s: not a directory owned by this user", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("runtime dir: %w", err)
		}
	}
	l := &tokenLinks{dir: dir, links: map[string]*tokenLink{}}
	for _, m := range mailboxes {
		if m == "" || strings.ContainsAny(m, "/\x00") || strings.HasPrefix(m, ".") {
			return nil, fmt.Errorf("mailbox %q cannot name a token link", m)
		}
		l.links[m] = &tokenLink{path: filepath.Join(dir, m+".token")}
	}
	return l, nil
}

func (l *tokenLinks) mailboxes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.links))
	for m := range l.links {
		out = append(out, m)
	}
	return out
}

func (l *tokenLinks) paths() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]string{}
	for m, k := range l.links {
		out[m] = k.path
	}
	return out
}

// update writes tok to a new memfd (mode 0400) and points the mailbox's link at it atomically.
func (l *tokenLinks) update(mailbox string, tok []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.links[mailbox]
	if k == nil || l.done {
		return errors.New("token link closed")
	}
	fd, err := unix.MemfdCreate("mssante-token", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "mssante-token")
	if _, err := mem.Write(tok); err != nil {
		_ = mem.Close()
		return fmt.Errorf("memfd: %w", err)
	}
	if err := unix.Fchmod(fd, 0o400); err != nil {
		_ = mem.Close()
		return fmt.Errorf("memfd: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", k.path, fd)
	_ = os.Remove(tmp)
	if err := os.Symlink(fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd), tmp); err != nil {
		wipe(mem)
		return fmt.Errorf("token link: %w", err)
	}
	if err := os.Rename(tmp, k.path); err != nil {
		_ = os.Remove(tmp)
		wipe(mem)
		return fmt.Errorf("token link: %w", err)
	}
	if old := k.mem; old != nil {
		time.AfterFunc(graceClose, func() { wipe(old) })
	}
	k.mem = mem
	return nil
}

// close removes the links and wipes the memfds. It may be called twice.
func (l *tokenLinks) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	l.done = true
	for _, k := range l.links {
		_ = os.Remove(k.path)
		if k.mem != nil {
			wipe(k.mem)
			k.mem = nil
		}
	}
}

// wipe overwrites a memfd's content with zeros and closes it.
func wipe(f *os.File) {
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		_, _ = f.WriteAt(make([]byte, fi.Size()), 0)
	}
	_ = f.Close()
}
