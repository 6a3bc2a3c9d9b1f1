//go:build unix

package outbox

import (
	"errors"
	"syscall"
)

// processExists reports whether a process pid exists (signal 0: EPERM means it exists but is
// another user's).
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
