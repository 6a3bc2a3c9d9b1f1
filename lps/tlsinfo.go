package lps

import (
	"crypto/tls"
	"net"
)

func tlsState(c net.Conn) tls.ConnectionState {
	for {
		switch v := c.(type) {
		case *tls.Conn:
			return v.ConnectionState()
		case *traceConn:
			c = v.Conn
		default:
			return tls.ConnectionState{}
		}
	}
}

func tlsVersion(v uint16) string {
	if v == 0 {
		return ""
	}
	return tls.VersionName(v)
}

func tlsSuite(s uint16) string {
	if s == 0 {
		return ""
	}
	return tls.CipherSuiteName(s)
}

func tlsSummary(s *session) string {
	if s.tls.Version == 0 {
		return ""
	}
	return tlsVersion(s.tls.Version) + " " + tlsSuite(s.tls.CipherSuite)
}
