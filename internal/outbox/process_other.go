//go:build !unix

package outbox

// processExists cannot tell here: every process is taken as existing (leases run out).
func processExists(pid int) bool { return true }
