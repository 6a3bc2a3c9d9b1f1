package lps

import (
	"io"
	"net"
	"syscall"
	"testing"
)

// inPingpong reports whether the kernel delays the ACKs of c (getsockopt TCP_QUICKACK is 0 in
// delayed-ACK "pingpong" mode).
func inPingpong(t *testing.T, c net.Conn) bool {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v == 0
}

// TestCtxConn_quickAck: a write through the session's connection leaves the kernel's delayed-ACK
// mode, which a plain write just after a read enters (the case of the first command after a TLS
// 1.3 handshake, whose server then stalls 40 ms on Nagle's algorithm; see quickAck).
func TestCtxConn_quickAck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer s.Close()
				buf := make([]byte, 1)
				for {
					if _, err := s.Write([]byte("x")); err != nil {
						return
					}
					if _, err := s.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	// exchange reads the server's byte and answers at once through w, a few times.
	exchange := func(c net.Conn, w io.Writer) {
		buf := make([]byte, 1)
		for range 3 {
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Control: plain writes enter pingpong mode (the kernel decides it from timing; a loaded
	// machine may need a few tries).
	entered := false
	for range 20 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		exchange(c, c)
		entered = inPingpong(t, c)
		c.Close()
		if entered {
			break
		}
	}
	if !entered {
		t.Fatal("plain writes never entered delayed-ACK mode: the kernel behaves otherwise than quickAck assumes")
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cc := &ctxConn{Conn: c}
	for range 5 {
		exchange(c, cc)
		if inPingpong(t, c) {
			t.Fatal("delayed-ACK mode after a write through ctxConn")
		}
	}
}
