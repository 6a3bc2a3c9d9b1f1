//go:build unix

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFile is the file a running sandbox holds locked (flock) in its data directory, with its
// process id. The kernel drops the lock when the process ends, however it ends.
const lockFile = "sandbox.lock"

// lockDir takes the data directory's lock or says which process holds it (ErrRunning).
func lockDir(dir string) (unlock func(), err error) {
	name := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		var pid []byte
		pid, _ = os.ReadFile(name)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := ""
			if p := strings.TrimSpace(string(pid)); p != "" {
				who = " (process " + p + ")"
			}
			return nil, fmt.Errorf("%w on %s%s: use it, stop it first, or give another --data-dir", ErrRunning, dir, who)
		}
		return nil, fmt.Errorf("sandbox: lock %s: %w", name, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = f.Truncate(0)
		_ = f.Close() // releases the lock
	}, nil
}

// Running tells whether a process holds the lock of the sandbox in dir, and its process id when
// known. It takes nothing: a shared lock attempt, released at once.
func Running(dir string) (running bool, pid int) {
	name := filepath.Join(dir, lockFile)
	f, err := os.Open(name)
	if err != nil {
		return false, 0
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false, 0
	} else if !errors.Is(err, syscall.EWOULDBLOCK) {
		return false, 0
	}
	data, _ := os.ReadFile(name)
	pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	return true, pid
}
