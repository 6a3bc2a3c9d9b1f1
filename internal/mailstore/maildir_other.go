//go:build !linux

package mailstore

import (
	"os"
	"path/filepath"
)

// haveSyncfs is false: each file written is flushed, then its directory.
const haveSyncfs = false

// syncFiles flushes the files, then, where the system allows it, the directories that received
// them (the renames).
func syncFiles(_ string, files []string) error {
	dirs := map[string]bool{}
	for _, p := range files {
		if err := syncPath(p); err != nil && !os.IsNotExist(err) { // removed since: nothing to keep
			return err
		}
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		_ = syncPath(d) // best effort: not every system flushes a directory (Windows refuses)
	}
	return nil
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
