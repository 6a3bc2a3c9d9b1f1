package lps

import (
	"net"
	"syscall"
)

// quickAck leaves Linux's delayed-ACK ("pingpong") mode on c, which the kernel enters when the
// application sends soon after receiving, so that the next segment the server sends is
// acknowledged as soon as it is read instead of up to 40 ms later.
//
// Why: after a TLS 1.3 handshake, servers built on OpenSSL (Postfix, Dovecot) write their session
// tickets and then the answer to the client's first command as separate small segments. With
// Nagle's algorithm on (their default) the answer waits for the ACK of the tickets, which the
// client's kernel delays: a 40 ms stall in about half the sessions against the peers of
// bench/transport.sh, more than the rest of a one-message submission.
func quickAck(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
