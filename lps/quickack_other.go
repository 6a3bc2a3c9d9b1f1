//go:build !linux

package lps

import "net"

// quickAck is Linux's TCP_QUICKACK (see quickack_linux.go); elsewhere the kernel's own delayed-ACK
// policy applies.
func quickAck(net.Conn) {}
