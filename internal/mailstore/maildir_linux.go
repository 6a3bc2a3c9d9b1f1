package mailstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// haveSyncfs: one syncfs(2) of the Maildir's file system is the durability point.
const haveSyncfs = true

// syncFiles flushes the file system that holds dir (every file written there, and the renames).
func syncFiles(dir string, _ []string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
